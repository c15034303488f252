"""Running what an accepted delivery asks for, in the background of the receiver's loop.

Each delivery runs as `conducto-nb .conducto.cfg EVENT` would (simulate.py): the cfg read from
the default branch, each matching section's command in a clean worktree of the event's commit
(fetched from `origin` when the repository lacks it), values only in the environment, the
`duplicate` policy of the section for the same event and branch / PR / tag (guard.py, whose
locks the simulation shares). Its output goes to `$CONDUCTO_NB_HOME/webhook/ID.log`; the
pipelines it starts link to the delivery (run/event_trust.py).

At most `slots` deliveries run at once; the others wait, recorded as `accepted`, and a
receiver stopped meanwhile starts them when it next serves. Stopping ends the running
commands' process groups (SIGTERM) and marks their deliveries `interrupted`.

Trust: a pull request from a fork runs its own code, so unless its author is allowed
(`--trusted-authors`, or the section's `trusted_authors`) its command gets a bare environment
(no variable of the receiver's but PATH, HOME, locale and conducto_nb's home and backend) and
$CONDUCTO_NB_UNTRUSTED, so the pipelines it starts read no stored secret and refuse
`requires_docker`. On the local backend the fork's code still runs as this user: use the
Docker backend for pull requests from strangers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import TextIO

from ...errors import PipelineError
from ...run.event_trust import DELIVERY_ENV, UNTRUSTED_ENV
from ...store.deliveries import Delivery
from ...store.pipelines import Store, home
from ..cfg import IMAGE_ENV, VARIABLES, Config, Step
from ..environment import WORKDIR_ENV, command_env
from ..guard import Guard
from ..simulate import _checkout, _git, _lock_folder, _resolve, _values
from ..variables import env_name, shown
from .cfg_cache import ConfigCache

__all__ = ["Dispatcher", "bare_env"]

_KEEP = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SHELL", "TERM")
_KEEP_ALSO = ("CONDUCTO_NB_HOME", "CONDUCTO_NB_BACKEND", "DOCKER_HOST", "VIRTUAL_ENV")


def bare_env(env: Mapping[str, str], ours: Iterable[str], why: str) -> dict[str, str]:
    """An untrusted command's environment: `ours` (the event's values...) and nothing else of
    `env` but the basics (PYTHONPATH too, so a development checkout finds itself)."""
    keep = {*_KEEP, *_KEEP_ALSO, "PYTHONPATH", *ours}
    bare = {k: v for k, v in env.items() if k in keep or k.startswith("LC_")}
    return {**bare, UNTRUSTED_ENV: why}


class Dispatcher:
    """Runs deliveries for one repository, `slots` at a time."""

    def __init__(
        self, root: Path, store: Store, trusted_authors: Iterable[str] = (), slots: int = 16
    ) -> None:
        self.root, self.store = root, store
        self.config = ConfigCache(root)
        self.locks = _lock_folder(root)  # shared with the simulation's `duplicate` locks
        self.trusted_authors = frozenset(trusted_authors)
        self.logs = home() / "webhook"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._slots = asyncio.Semaphore(slots)
        self._tasks: set[asyncio.Task[None]] = set()
        self._started: set[str] = set()  # deliveries a command of which has started

    def plan(self, event: str, values: Mapping[str, str]) -> tuple[Config, list[Step]]:
        """The default branch's cfg and the sections of `event` that match (blocking: git)."""
        config, _ = self.config.get()
        return config, [s for s in config.plan(event, values) if s.matches]

    def submit(self, delivery: Delivery) -> None:
        """Run it in the background; it waits for a slot, recorded as accepted."""
        task = asyncio.get_running_loop().create_task(self._run(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until every submitted delivery has ended (tests, the bench)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        """Cancel everything: waiting deliveries stay accepted, running ones end."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _run(self, delivery: Delivery) -> None:
        async with self._slots:
            with open(self.logs / f"{delivery.id}.log", "a", encoding="utf-8") as log:
                try:
                    await asyncio.to_thread(self.store.set_delivery_state, delivery.id, "running")
                    state, detail = await self._steps(delivery, log)
                except PipelineError as e:
                    print(f"error: {e}", file=log, flush=True)
                    state, detail = "failed", str(e)
                except asyncio.CancelledError:
                    # stopped before any command of it started (waiting for a slot or for
                    # DEFER's lock): it starts on the next serve, as if never touched
                    state, detail = "accepted", ""
                    if delivery.id in self._started:
                        state, detail = "interrupted", "the receiver stopped while it ran"
                    print(f"--- stopped: {state}", file=log, flush=True)
                    await asyncio.to_thread(
                        self.store.set_delivery_state, delivery.id, state, detail
                    )
                    raise
                finally:
                    self._started.discard(delivery.id)
            await asyncio.to_thread(self.store.set_delivery_state, delivery.id, state, detail)

    async def _steps(self, delivery: Delivery, log: TextIO) -> tuple[str, str]:
        """Plan with the payload's values, then per section: its duplicate policy first, and
        only for a run that goes the commit looked up (a suppressed run costs no git)."""
        given = dict.fromkeys(VARIABLES, "") | dict(delivery.values)
        _, steps = await asyncio.to_thread(self.plan, delivery.event, given)
        if not steps:
            return "no action", "no section of .conducto.cfg matches"
        found: dict[str, str] = {}

        async def values() -> dict[str, str]:
            if not found:
                found.update(await asyncio.to_thread(self._commit_values, delivery))
            return found

        notes, failure = [], ""
        for step in steps:
            allowed = self.trusted_authors | set(step.section.trusted_authors)
            trusted = delivery.trusted or given["author"] in allowed
            why = "" if trusted else _untrusted(given)
            code = await self._step(delivery, step, given, values, why, log)
            if code is None:
                notes.append(f"{step.section.name} suppressed (duplicate = SUPPRESS_NEW)")
            elif code:
                failure = failure or f"{step.section.name} exit {code}"
        detail = "; ".join([failure, *notes] if failure else notes)
        return ("failed" if failure else "done"), detail

    def _commit_values(self, delivery: Delivery) -> dict[str, str]:
        """The delivery's values with its commit here: fetched from origin when missing. One
        git process when the payload named the commit and its author (most deliveries)."""
        given = {k: v for k, v in delivery.values.items() if v}
        sha, refs = given.get("sha", ""), _refs(delivery.event, given)
        found = _resolve(self.root, sha) if sha else None
        missing = (sha and not found) or (not sha and refs)
        if missing and _git(self.root, "remote", "get-url", "origin", check=False):
            for ref in ([sha] if sha else []) + refs:
                _git(self.root, "fetch", "--quiet", "origin", "--end-of-options", ref, check=False)
                if sha and (found := _resolve(self.root, sha)):
                    break
        if sha and not found:
            raise PipelineError(f"commit {sha[:12]} is not in {self.root}, nor on its origin")
        if found and given.get("author"):
            values = dict.fromkeys(VARIABLES, "") | given | {"sha": found}
            values["repo"] = values["repo"] or self.root.name
            return values
        return _values(self.root, delivery.event, given, self.config.get()[1])

    async def _step(
        self,
        delivery: Delivery,
        step: Step,
        given: dict[str, str],
        resolve: Callable[[], Awaitable[dict[str, str]]],
        why: str,
        log: TextIO,
    ) -> int | None:
        """One section's command: None when its duplicate policy suppressed it."""
        name = step.section.name
        guard = Guard(self.locks, step.section, given)
        try:
            while (go := guard.attempt(step.section.duplicate, log)) is None:
                await asyncio.sleep(0.05)
            if not go:
                print(f"--- {name} suppressed: a run of {guard.key} is still going", file=log)
                return None
            values = await resolve()
            untrusted = f" untrusted ({why})" if why else ""
            display = shown(step.section.command, values)
            print(f"--- {name}{untrusted}: {display}", file=log, flush=True)
            checkout = _checkout(self.root, values["sha"])
            cwd = await asyncio.to_thread(checkout.__enter__)
            try:
                env = command_env(step, delivery.event, values)
                env[WORKDIR_ENV], env[DELIVERY_ENV] = str(cwd), delivery.id
                if why:
                    ours = [env_name(n) for n in values] + ["CONDUCTO_EVENT", IMAGE_ENV]
                    env = bare_env(env, [*ours, WORKDIR_ENV, DELIVERY_ENV], why)
                self._started.add(delivery.id)
                code = await _shell(step.script, cwd, env, guard, log)
            finally:
                await asyncio.to_thread(checkout.__exit__, None, None, None)
        finally:
            guard.close()
        print(f"--- {name} exit {code}", file=log, flush=True)
        return code


def _untrusted(values: Mapping[str, str]) -> str:
    return f"a pull request from a fork by {values.get('author') or 'someone'}"


def _refs(event: str, values: Mapping[str, str]) -> list[str]:
    """Where the commit of an event can be fetched from, by name."""
    if event in ("pr", "pr_close"):
        return [f"refs/pull/{values['pr']}/head"]
    if event in ("push", "create-branch") and values.get("branch"):
        return [f"refs/heads/{values['branch']}"]
    if event == "create-tag":
        return [f"refs/tags/{values['tag']}"]
    return []


async def _shell(script: str, cwd: Path, env: dict[str, str], guard: Guard, log: TextIO) -> int:
    """Run one command in a process group of its own, its output into the log; SIGTERM to
    the group when cancelled."""
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", script, cwd=cwd, env=env, stdout=log, stderr=log, process_group=0
    )
    guard.record(proc.pid)
    try:
        code = await proc.wait()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        raise
    finally:
        guard.record(None)
    return 128 - code if code < 0 else code
