"""An owner process killed mid-run, for the tests of what follows its death (tests/test_control.py,
tests/test_owner_faults.py, tests/docker/test_owner_faults_docker.py): the pipeline runs in a
real Python process sharing this session's store, which gets SIGKILL once `/wait` runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from wait_kit import wait_for


def alive(pid: int) -> bool:
    """The process exists and is no zombie (a zombie has ended; it waits to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def killed_owner(
    execs: str,
    *,
    root_params: str = "",
    backend: str | None = None,
    ready: Callable[[], object] | None = None,
) -> str:
    """Start a Serial(`root_params`) of `execs` (co.Exec lines) in another process, SIGKILL
    that process once `/wait` runs (and `ready()` holds), and return the pipeline's id."""
    start = f"root.start(backend={backend!r})"
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import time\nimport conducto_nb as co\nwith co.Serial({root_params}) as root:\n"
            + textwrap.indent(textwrap.dedent(execs), "    ")
            + textwrap.dedent(f"""
            run = {start}
            while run["/wait"].state is not co.State.RUNNING:
                time.sleep(0.02)
            time.sleep(0.3)  # let the store writer commit
            print(run.id, flush=True)
            time.sleep(120)
            """),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert owner.stdout is not None
    pipeline_id = owner.stdout.readline().strip()
    assert pipeline_id, "the owner process failed before its pipeline ran"
    if ready is not None:
        wait_for(ready, timeout=60)
    owner.send_signal(signal.SIGKILL)
    owner.wait(timeout=10)
    owner.stdout.close()
    return pipeline_id


#: A job that ignores SIGTERM and SIGPIPE (its `sleep`s too: ignored stays ignored across exec)
#: and appends its own token to LOG, and to stdout, every 50 ms until SIGKILL.
STUBBORN_JOB = (
    "trap '' TERM PIPE; t=$(cat /proc/sys/kernel/random/uuid); "
    "while :; do echo $t >> {log}; echo $t; sleep 0.05; done"
)


def tokens(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def assert_attempts_never_overlap(log: Path) -> str:
    """The log holds the old attempt's token, then the new one's, never interleaved:
    returns the new one."""
    seen = tokens(log)
    order = list(dict.fromkeys(seen))
    assert len(order) == 2, f"expected two attempts' tokens, got {order}"
    old, new = order
    first_new = seen.index(new)
    late = [t for t in seen[first_new:] if t == old]
    assert not late, f"the old attempt wrote {len(late)} times after the new one started"
    return new


def rerun_while_the_old_attempt_may_live(
    pipeline_id: str, log: Path, while_running: Callable[[], None] = lambda: None
) -> None:
    """Rerun the dead owner's `/wait` here (adopting it), let the new attempt write a while,
    call `while_running()`, kill it; then the attempts never overlapped in `log` and the node
    shows the new attempt's output alone."""
    import conducto_nb as co

    run = co.load(pipeline_id)
    run.rerun()
    try:
        wait_for(lambda: len(set(tokens(log))) == 2, timeout=120)
        written = len(tokens(log))
        wait_for(lambda: len(tokens(log)) > written + 10, timeout=60)
        while_running()
    finally:
        run.kill()
        run.wait(timeout=60)
    new = assert_attempts_never_overlap(log)
    assert set(run["/wait"].stdout.split()) == {new}
    assert [a.attempt for a in run["/wait"].attempts] == [1, 2]
