"""Exactly once on the local backend: an owner SIGKILLed mid-run, then adopted by a rerun from
another process. The old attempt must be gone before the new one starts, and what the node
shows is the new attempt's alone. (tests/docker/test_owner_faults_docker.py: the same on
Docker.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from owner_kit import STUBBORN_JOB, killed_owner, rerun_while_the_old_attempt_may_live, tokens

import conducto_nb as co
from conducto_nb.model.states import State
from conducto_nb.store import lease


def test_a_rerun_after_the_owners_death_never_overlaps_the_old_attempt(tmp_path: Path) -> None:
    log = tmp_path / "log"
    job = STUBBORN_JOB.format(log=log)
    pipeline_id = killed_owner(f"co.Exec({job!r}, name='wait')", ready=lambda: tokens(log))

    # the old job ignores SIGTERM: it dies by SIGKILL, after the guard's grace
    rerun_while_the_old_attempt_may_live(pipeline_id, log)


def test_a_hung_owner_keeps_its_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    """An owner that stopped renewing its lease but still exists (SIGSTOP, a debugger) may
    still run its jobs: adopting it would run them twice, so the action says what to do."""
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent("""
                import time
                import conducto_nb as co
                run = co.Exec("sleep 60").start()
                while run["/"].state is not co.State.RUNNING:
                    time.sleep(0.02)
                time.sleep(0.3)
                print(run.id, flush=True)
                time.sleep(120)
            """),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert owner.stdout is not None
        pipeline_id = owner.stdout.readline().strip()
        owner.send_signal(signal.SIGSTOP)
        monkeypatch.setattr(lease, "LEASE_TIMEOUT", 0.0)  # its heartbeat counts as stale now
        time.sleep(0.01)
        with pytest.raises(co.ActionError, match=f"process {owner.pid}.*still exists"):
            co.load(pipeline_id).rerun()
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.send_signal(signal.SIGCONT)
        owner.wait(timeout=10)
        if owner.stdout is not None:
            owner.stdout.close()


def test_a_pid_given_to_a_later_process_is_not_the_owner() -> None:
    """A dead owner's pid reused by a process started after its last heartbeat is someone
    else: the lease is not taken for alive."""
    me = os.getpid()
    assert lease.pid_alive(me, time.time())
    assert not lease.pid_alive(me, time.time() - 3600)


def test_a_rerun_adopting_a_dead_owner_reads_earlier_nodes_output(tmp_path: Path) -> None:
    gate = tmp_path / "go"
    pipeline_id = killed_owner(f"""
        co.Exec("echo first-output", name="first")
        co.Exec("test -f {gate} || sleep 60", name="wait")
    """)
    gate.touch()
    run = co.load(pipeline_id).rerun()
    run.wait(timeout=60)
    assert run.state is State.DONE
    assert run["/first"].stdout == "first-output\n"
    assert co.load(pipeline_id)["/first"].stdout == "first-output\n"
