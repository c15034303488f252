"""Simulated git events: run what `.conducto.cfg` says, as a webhook would, on this machine.

    conducto-nb .conducto.cfg push --branch=main
    conducto-nb .conducto.cfg pr --pr=12 --branch=feat --base-branch=main --dry-run

The cfg is read from the repository's default branch (`origin/HEAD`, else `main`, else
`master`, else the current branch), never from the event's branch: a pull request cannot change
which commands run. Each matching command runs in a fresh `git worktree` of the event's
committed head (never uncommitted files), removed afterwards, so events on different branches
run side by side without meeting. The command runs as `/bin/sh -c SCRIPT`; values reach it
only as environment variables (`CONDUCTO_EVENT`, `CONDUCTO_BRANCH`, `CONDUCTO_PR`,
`CONDUCTO_SHA`, ... one per variable, `--key=value` ones too), which the script's `{variable}`
references expand as data (variables.py). A branch, base branch or tag git would refuse as a
ref name (one starting with `-`, say) is refused before anything runs. The environment is
otherwise the user's own (environment.py). `duplicate` decides what a second run for the same
section and branch / PR / tag does while the first is still going (guard.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from ..errors import ConfigError, PipelineError
from .cfg import EVENTS, VARIABLES, Config, parse
from .environment import WORKDIR_ENV, base_env, check_values, command_env
from .guard import Guard

__all__ = ["CFG_NAME", "event_options", "load_config", "simulate"]

CFG_NAME = ".conducto.cfg"
_NEEDS: dict[str, tuple[str, ...]] = {
    "push": ("branch",),
    "pr": ("pr", "branch"),
    "pr_close": ("pr", "branch"),
    "create-branch": ("branch",),
    "delete-branch": ("branch",),
    "create-tag": ("tag",),
    "delete-tag": ("tag",),
}
_OPTION = re.compile(r"--([A-Za-z_][A-Za-z0-9_-]*)(?:=(.*))?", re.DOTALL)


def _git(root: Path, *args: str, check: bool = True) -> str | None:
    """Run git in `root`; its stdout stripped, or None when it fails and `check` is off."""
    proc = subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=base_env(),
    )
    if proc.returncode:
        if check:
            raise PipelineError(f"git {shlex.join(args)}: {proc.stderr.strip()}")
        return None
    return proc.stdout.strip()


def event_options(args: Sequence[str]) -> dict[str, str]:
    """`--name=value` / `--name value` into variables (`--base-branch` is `base_branch`)."""
    values: dict[str, str] = {}
    items = list(args)
    while items:
        item = items.pop(0)
        m = _OPTION.fullmatch(item)
        if not m:
            raise PipelineError(f"unexpected argument {item!r}; values look like --branch=main")
        name, value = m.group(1).replace("-", "_"), m.group(2)
        if value is None:
            if not items or items[0].startswith("--"):
                raise PipelineError(f"--{m.group(1)} needs a value")
            value = items.pop(0)
        if name in values:
            raise PipelineError(f"--{m.group(1)} is given twice")
        if "\0" in value:
            raise PipelineError(f"--{m.group(1)} holds a NUL byte, which no argument can carry")
        values[name] = value
    return values


def default_branch(root: Path) -> str:
    """The ref Conducto scanned: origin/HEAD's target, else main, else master, else HEAD's."""
    remote = _git(root, "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD", check=False)
    if remote:
        return remote.removeprefix("refs/remotes/")
    for name in ("main", "master"):
        if _resolve(root, f"refs/heads/{name}"):
            return name
    current = _git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    if not current:
        raise PipelineError(f"{root}: no default branch (no origin/HEAD, main, master or branch)")
    return current


def load_config(
    root: Path, extra: Sequence[str] = (), default: str | None = None, out: TextIO | None = None
) -> tuple[Config, str]:
    """Parse `.conducto.cfg` as committed on the default branch (`default`, else found as
    `default_branch` says); returns it and that branch. Where origin's branch lacks it but the
    local branch of that name has it (committed, not yet pushed), the local one is read, and
    `out` is told."""
    ref = default or default_branch(root)
    looked = [ref]
    text = _show(root, ref)
    if text is None and ref.startswith("origin/"):
        local = ref.removeprefix("origin/")
        text = _show(root, local)
        looked.append(local)
        if text is not None:
            print(f"{CFG_NAME} is not on {ref} yet: read from the local branch {local}", file=out)
            ref = local
    where = f"{ref}:{CFG_NAME}"
    if text is None:
        raise ConfigError(_not_found(root, looked), f"{looked[0]}:{CFG_NAME}")
    try:
        return parse(text.decode("utf-8"), where, extra), ref
    except UnicodeDecodeError as e:
        raise ConfigError(f"not UTF-8 text ({e.reason} at byte {e.start})", where) from None


def _show(root: Path, ref: str) -> bytes | None:
    proc = subprocess.run(
        ["git", "-C", str(root), "show", "--end-of-options", f"{ref}:{CFG_NAME}"],
        capture_output=True,
        env=base_env(),
        check=False,
    )
    return None if proc.returncode else proc.stdout


def _not_found(root: Path, looked: Sequence[str]) -> str:
    """What was looked at, and where the file is instead, if anywhere."""
    shown = " or ".join(f"{r} ({(_resolve(root, r) or 'no such branch')[:12]})" for r in looked)
    message = f"no {CFG_NAME} committed on the default branch: looked at {shown}"
    current = _git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    if current and current not in looked and _show(root, current) is not None:
        return (
            f"{message}; it is committed on {current}: merge it into the default branch, or "
            f"pass --default-branch={current}"
        )
    if (root / CFG_NAME).exists():
        return f"{message}; the one in the working tree is not committed"
    return message


def _resolve(root: Path, rev: str) -> str | None:
    """The full sha of the commit `rev` names, or None; a rev can never be read as an option."""
    args = ("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    return _git(root, *args, check=False)


def _commit(root: Path, rev: str, what: str) -> str:
    sha = _resolve(root, rev)
    if not sha:
        raise PipelineError(f"{what} {rev!r} is not a commit in {root}; pass --sha=COMMIT")
    return sha


def _values(root: Path, event: str, given: Mapping[str, str], default: str) -> dict[str, str]:
    """The event's variables: those given, plus sha, repo, author and base_branch found by git."""
    missing = [n for n in _NEEDS[event] if not given.get(n)]
    if missing:
        raise PipelineError(f"a {event} event needs --{missing[0].replace('_', '-')}=...")
    values = dict.fromkeys(VARIABLES, "") | dict(given)
    if given.get("sha"):
        values["sha"] = _commit(root, given["sha"], "--sha")
    elif event == "create-tag":
        values["sha"] = _commit(root, f"refs/tags/{values['tag']}", "tag")
    elif event.startswith("delete-"):
        values["sha"] = _commit(root, default, "default branch")  # what was deleted is gone
    else:
        branch = values["branch"]
        sha = _resolve(root, f"refs/heads/{branch}") or _resolve(
            root, f"refs/remotes/origin/{branch}"
        )
        if not sha:
            raise PipelineError(f"no branch {branch!r} here or on origin; pass --sha=COMMIT")
        values["sha"] = sha
    values["repo"] = values["repo"] or root.name
    if not values["author"]:
        values["author"] = _git(root, "log", "-1", "--format=%an", values["sha"]) or ""
    if event in ("pr", "pr_close") and not values["base_branch"]:
        values["base_branch"] = default.removeprefix("origin/")
    return values


@contextlib.contextmanager
def _checkout(root: Path, sha: str) -> Iterator[Path]:
    """A detached worktree of `sha` named like the repository; gone again afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="conducto_nb-event-"))
    path = tmp / root.name
    try:
        _git(root, "worktree", "add", "--detach", "--quiet", str(path), sha)
        yield path
    finally:
        if _git(root, "worktree", "remove", "--force", str(path), check=False) is None:
            shutil.rmtree(tmp, ignore_errors=True)
            _git(root, "worktree", "prune", check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def _lock_folder(root: Path) -> Path:
    """Where the `duplicate` locks of this repository live: shared by all its worktrees."""
    common = Path(_git(root, "rev-parse", "--git-common-dir") or ".git")
    return (root / common) / "conducto_nb" / "events"


def _run(script: str, cwd: Path, env: dict[str, str], guard: Guard) -> int:
    """Run one shell command in its own process group, output streaming through; its exit
    code (the shell's: 127 for a command not found)."""
    proc = subprocess.Popen(["/bin/sh", "-c", script], cwd=cwd, env=env, process_group=0)
    guard.record(proc.pid)
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait()
    finally:
        guard.record(None)
    return 128 - code if code < 0 else code


def simulate(
    event: str,
    given: Mapping[str, str],
    *,
    repo: str | os.PathLike[str] = ".",
    dry_run: bool = False,
    out: TextIO | None = None,
    default_branch: str | None = None,
) -> int:
    """Run what `.conducto.cfg` says for this event; the exit code (the first failure's, or 0).
    `default_branch` is where the cfg is read (default: origin/HEAD, main, master, current)."""
    out = out or sys.stdout
    if event not in EVENTS:
        raise ConfigError(f"unknown event {event!r}; use one of: {', '.join(EVENTS)}")
    check_values(given)
    top = _git(Path(repo), "rev-parse", "--show-toplevel", check=False)
    if not top:
        raise PipelineError(f"{os.fspath(repo)!r} is not in a git repository")
    root = Path(top)
    if default_branch is not None and not _resolve(root, default_branch):
        raise PipelineError(f"--default-branch {default_branch!r} is not a branch in {root}")
    extra = [n for n in given if n not in VARIABLES]
    config, default = load_config(root, extra, default_branch, out)
    values = _values(root, event, given, default)
    shown = "  ".join(f"{k}={shlex.quote(v)}" for k, v in values.items() if v)
    print(f"event {event}  {shown}  ({config.filename})", file=out)
    steps = config.plan(event, values)
    for step in steps:
        if step.matches:
            print(f"{step.section.name} runs: {step.display}", file=out)
        elif step.section.filter:
            flt = step.section.filter.text
            print(f"{step.section.name} skipped: filter {flt!r} is false", file=out)
    todo = [s for s in steps if s.matches]
    if not todo:
        print(
            f"no action: no section of {CFG_NAME} matches this {event} event", file=out, flush=True
        )
        return 0
    if dry_run:
        out.flush()
        return 0
    first_failure = 0
    for step in todo:
        name = step.section.name
        guard = Guard(_lock_folder(root), step.section, values)
        try:
            if not guard.acquire(step.section.duplicate, out):
                print(
                    f"--- {name} suppressed: a run of {guard.key} is still going"
                    " (duplicate = SUPPRESS_NEW)",
                    file=out,
                    flush=True,
                )
                continue
            print(f"--- {name} in a clean checkout of {values['sha'][:12]}", file=out, flush=True)
            with _checkout(root, values["sha"]) as cwd:
                env = command_env(step, event, values)
                env[WORKDIR_ENV] = str(cwd)  # the pipelines' Execs start from its files too
                code = _run(step.script, cwd, env, guard)
        finally:
            guard.close()
        print(f"--- {name} exit {code}", file=out, flush=True)
        first_failure = first_failure or code
    return first_failure
