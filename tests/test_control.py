"""Pipelines across processes: acting on a run from a process that did not start it, an owner
killed mid-run, detached runs, and the `conducto-nb` CLI. Everything here uses real processes
sharing one store ($CONDUCTO_NB_HOME, set per session in conftest.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from owner_kit import alive, killed_owner
from wait_kit import wait_for

import conducto_nb as co
from conducto_nb.model.states import State

CLI = [sys.executable, "-m", "conducto_nb.cli"]


def _python(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


def test_another_process_kills_a_run_owned_here() -> None:
    with co.Serial() as root:
        co.Exec("sleep 30", name="long")
        co.Exec("echo never", name="next")
    run = root.start()
    wait_for(lambda: run["/long"].state is State.RUNNING)
    done = _python(f"""
        import conducto_nb as co
        co.load({run.id!r}).kill("/long")
        print("sent")
    """)
    assert done.returncode == 0, done.stderr
    run.wait(timeout=15)
    assert run["/long"].state is State.KILLED
    assert run["/next"].state is State.BLOCKED


def test_an_action_the_owner_refuses_comes_back_as_an_error() -> None:
    with co.Serial() as root:
        co.Exec("sleep 30", name="long")
    run = root.start()
    wait_for(lambda: run["/long"].state is State.RUNNING)
    done = _python(f"""
        import conducto_nb as co
        try:
            co.load({run.id!r}).reset("/long")
        except co.ActionError as e:
            print("refused:", e)
    """)
    run.kill()
    run.wait(timeout=15)
    assert "refused:" in done.stdout and "running" in done.stdout, done.stdout + done.stderr


def test_owner_killed_mid_run_shows_interrupted_and_rerun_finishes_here(tmp_path: Path) -> None:
    gate = tmp_path / "go"
    pipeline_id = killed_owner(f"""
        co.Exec("echo first-output", name="first")
        co.Exec("test -f {gate} || sleep 60", name="wait")
        co.Exec("echo after", name="after")
    """)

    run = co.load(pipeline_id)
    assert run["/first"].state is State.DONE
    assert run["/first"].stdout == "first-output\n"
    assert run["/wait"].state is State.ERROR
    assert "interrupted" in (run["/wait"].attempts[-1].message or "")

    gate.touch()
    run.rerun()  # adopts the pipeline: this process is its owner now
    run.wait(timeout=30)
    assert run.state is State.DONE
    assert run["/after"].stdout == "after\n"
    assert [a.attempt for a in run["/wait"].attempts] == [1, 2]
    assert run["/first"].attempts[-1].attempt == 1  # done work was not redone


def test_a_dead_owners_jobs_die_with_it(tmp_path: Path) -> None:
    """SIGKILL the owner mid-job: the job's whole process group ends too. It used to live on
    under init, so a rerun from another process ran the step a second time beside it."""
    pids = tmp_path / "pids"
    killed_owner(f'co.Exec("sleep 300 & echo $! > {pids}; wait", name="wait")')
    sleeper = int(pids.read_text())
    wait_for(lambda: not alive(sleeper), timeout=60)


def test_ls_says_interrupted_for_a_run_whose_owner_died() -> None:
    """Read from the lease: it said `running` until something loaded the pipeline."""
    pipeline_id = killed_owner('co.Exec("sleep 60", name="wait")')
    listing = subprocess.run([*CLI, "ls"], capture_output=True, text=True, timeout=60)
    (line,) = [row for row in listing.stdout.splitlines() if pipeline_id in row]
    assert "interrupted" in line and "running" not in line, line


def test_a_node_queued_when_its_owner_died_says_why() -> None:
    """It never started, so it had no attempt: it showed error with no reason at all."""
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent("""
                import time
                import conducto_nb as co
                with co.Parallel() as root:
                    co.Exec("sleep 60", name="wait", cpu=1)
                    co.Exec("echo never", name="queued", cpu=1)
                run = root.start(backend="local")
                while run["/wait"].state is not co.State.RUNNING:
                    time.sleep(0.02)
                time.sleep(0.3)  # let the store writer commit
                print(run.id, run["/queued"].state.value, flush=True)
                time.sleep(120)
            """),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "CONDUCTO_NB_CPU_BUDGET": "1"},  # room for one of the two
    )
    assert owner.stdout is not None
    pipeline_id, state = owner.stdout.readline().split()
    owner.send_signal(signal.SIGKILL)
    owner.wait(timeout=10)
    owner.stdout.close()
    assert state == "queued"
    run = co.load(pipeline_id)
    assert run["/queued"].state is State.ERROR
    (attempt,) = run["/queued"].attempts
    assert attempt.started is None
    assert "interrupted before it started" in (attempt.message or ""), attempt


def test_processes_adopting_a_dead_pipeline_at_once_agree_on_one_owner(tmp_path: Path) -> None:
    pipeline_id = killed_owner('co.Exec("sleep 60", name="wait")')
    go = tmp_path / "go"
    code = textwrap.dedent(f"""
        import os, time
        import conducto_nb as co
        run = co.load({pipeline_id!r})
        while not os.path.exists({str(go)!r}):
            time.sleep(0.001)
        try:
            run.rerun()
        except co.ActionError as e:  # it already runs again, in the process that adopted it
            print("refused:", e)
        adopted = co.load({pipeline_id!r})._execution is not None
        if adopted:
            time.sleep(1)
            run.kill()
        run.wait(timeout=30)
        print("adopted" if adopted else "asked the owner")
    """)
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for _ in range(3)
    ]
    time.sleep(1.5)  # all three have loaded the pipeline and wait for the gate
    go.touch()
    outputs = [p.communicate(timeout=60) for p in racers]
    assert all(p.returncode == 0 for p in racers), outputs
    said = [out.strip().splitlines()[-1] for out, _ in outputs]
    assert sorted(said) == ["adopted", "asked the owner", "asked the owner"], outputs
    run = co.load(pipeline_id)
    assert [a.attempt for a in run["/wait"].attempts] == [1, 2]  # rerun once, not per racer
    assert run["/wait"].state is State.KILLED


def test_detached_run_lives_in_its_own_process() -> None:
    with co.Serial() as root:
        co.Exec("echo $$ > pid; echo detached-output", name="a")
    run = root.start(detach=True)
    run.wait(timeout=60)
    assert run.state is State.DONE, run["/a"].stderr
    assert run["/a"].stdout == "detached-output\n"
    from conducto_nb.run.runs import shared_store

    owner = shared_store().load(run.id).owner
    assert not run.owned_here and (owner is None or owner.pid != os.getpid())


def test_cli_runs_a_script_function_with_options(tmp_path: Path) -> None:
    script = tmp_path / "pipe.py"
    script.write_text(
        textwrap.dedent("""
        import conducto_nb as co

        def build(n: int = 1, fail: bool = False) -> co.Serial:
            with co.Serial() as root:
                for i in range(n):
                    co.Exec(f"echo step {i}", name=f"step-{i}")
                if fail:
                    co.Exec("exit 7", name="boom")
            return root
    """)
    )
    ok = subprocess.run(
        [*CLI, "run", f"{script}:build", "--n=2"], capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "step-1" in ok.stdout and "done" in ok.stdout
    pipeline_id = ok.stdout.split()[1]  # "pipeline ID on the local backend"
    listed = subprocess.run([*CLI, "ls"], capture_output=True, text=True, timeout=60)
    assert any(pipeline_id in line and " build " in line for line in listed.stdout.splitlines())
    shown = subprocess.run(
        [*CLI, "show", pipeline_id, "/step-0"], capture_output=True, text=True, timeout=60
    )
    assert re.search(r"attempt 1: done exit 0 in \d+\.\ds", shown.stdout), shown.stdout
    bad = subprocess.run(
        [*CLI, "run", str(script), "--fail"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 1
    assert "/boom" in bad.stdout and "exit 7" in bad.stdout
    wrong = subprocess.run(
        [*CLI, "run", f"{script}:build", "--nope=1"], capture_output=True, text=True, timeout=60
    )
    assert wrong.returncode == 2 and "no option --nope" in wrong.stdout
    for extra in ([], ["--detach"]):  # checked before detaching, too
        unknown = subprocess.run(
            [*CLI, "run", f"{script}:build", "--backend=nosuch", *extra],
            capture_output=True,
            text=True,
            timeout=60,
        )
        said = unknown.stdout + unknown.stderr
        assert unknown.returncode == 2, said
        assert "unknown backend `nosuch`" in said and "Traceback" not in said, said


def test_cli_ls_and_gc_on_a_broken_store_say_so_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "store.db").write_bytes(b"this is not sqlite" * 100)
    env = {**os.environ, "CONDUCTO_NB_HOME": str(tmp_path)}
    for args in (["ls"], ["gc", "--older-than", "7d"]):
        out = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, env=env)
        said = out.stdout + out.stderr
        assert out.returncode == 2, said
        assert said.startswith("error: ") and "store" in said and "Traceback" not in said, said
        assert len(said.strip().splitlines()) == 1, said


def test_cli_ls_show_and_kill_a_run_owned_here() -> None:
    with co.Serial(title="cli-demo") as root:
        co.Exec("echo visible-output", name="a")
        co.Exec("sleep 30", name="b")
    run = root.start()
    wait_for(lambda: run["/b"].state is State.RUNNING)
    time.sleep(0.2)  # the store writer commits in batches
    listing = subprocess.run([*CLI, "ls"], capture_output=True, text=True, timeout=60)
    assert run.id in listing.stdout and "cli-demo" in listing.stdout
    shown = subprocess.run([*CLI, "show", run.id, "/a"], capture_output=True, text=True, timeout=60)
    assert "visible-output" in shown.stdout
    killed = subprocess.run(
        [*CLI, "kill", run.id, "/b"], capture_output=True, text=True, timeout=60
    )
    assert killed.returncode == 0, killed.stdout + killed.stderr
    run.wait(timeout=15)
    assert run["/b"].state is State.KILLED
    missing = subprocess.run([*CLI, "show", "zzz-zzz"], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "zzz-zzz" in missing.stdout


def test_cli_rerun_of_a_failed_node_resumes_what_it_held_back(tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    with co.Serial() as root:
        co.Exec(f"test -f {flag} || exit 3", name="lint")
        co.Exec("echo report", name="report")
    run = root.start().wait(timeout=30)
    assert run["/report"].state is State.BLOCKED
    shown = subprocess.run([*CLI, "show", run.id], capture_output=True, text=True, timeout=60)
    assert "blocked" in shown.stdout, shown.stdout
    one = subprocess.run(
        [*CLI, "show", run.id, "/report"], capture_output=True, text=True, timeout=60
    )
    assert f"held back by the failure at /lint: `conducto-nb rerun {run.id} /lint`" in one.stdout
    flag.touch()
    out = subprocess.run(
        [*CLI, "rerun", run.id, "/lint"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    wait_for(lambda: run["/report"].state is State.DONE, timeout=30)
    assert run["/report"].stdout == "report\n" and run.wait(timeout=30).state is State.DONE


def test_gc_deletes_old_finished_pipelines_only() -> None:
    with co.Serial() as root:
        co.Exec("true", name="a")
    run = root.run()
    from conducto_nb.run.ownership import shared_writer

    shared_writer().flush()
    kept = subprocess.run(
        [*CLI, "gc", "--older-than", "7d"], capture_output=True, text=True, timeout=60
    )
    assert kept.returncode == 0 and "deleted 0" in kept.stdout
    bad = subprocess.run(
        [*CLI, "gc", "--older-than", "soon"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2
    assert co.load(run.id).state is State.DONE


def test_cli_says_an_action_on_a_reuse_child_acts_on_its_whole_subtree() -> None:
    with co.Serial() as root:
        with co.Serial(name="app", container_reuse_context=co.ContainerReuseContext.NEW):
            co.Exec("echo install", name="install")
            co.Exec("echo test", name="test")
    run = root.run()
    out = subprocess.run(
        [*CLI, "rerun", run.id, "/app/test"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "rerun acts on all of /app" in out.stdout
    run.wait(timeout=30)
    assert [a.attempt for a in run["/app/install"].attempts] == [1, 2]


def test_another_process_modifies_a_node_of_a_run_owned_here() -> None:
    with co.Serial() as root:
        co.Exec("echo old", name="a")
    run = root.run()
    done = _python(f"""
        import conducto_nb as co
        co.load({run.id!r}).modify("/a", command="echo $WORD", env={{"WORD": "new"}})
    """)
    assert done.returncode == 0, done.stderr
    wait_for(lambda: len(run["/a"].attempts) == 2 and run.done)
    assert run["/a"].stdout == "new\n"
    assert run.tree["/a"].command == "echo $WORD"


def test_wait_after_an_action_sent_to_the_owner_waits_for_its_effect(tmp_path: Path) -> None:
    """`co.load(ID).rerun().wait()` from another process returns once the rerun has ended, not
    at once with the old failure."""
    gate = tmp_path / "go"
    with co.Serial() as root:
        co.Exec(f"test -f {gate}", name="check")
    run = root.run()
    assert run.state is State.ERROR
    gate.touch()
    done = _python(f"""
        import conducto_nb as co
        handle = co.load({run.id!r}).rerun().wait(timeout=60)
        print(handle.state.value, len(handle["/check"].attempts))
    """)
    assert done.stdout.split() == ["done", "2"], done.stdout + done.stderr


def test_cli_rerun_of_a_pipeline_whose_owner_died_runs_it_to_the_end(tmp_path: Path) -> None:
    """The CLI adopts it and stays until it ends, showing it (it used to print "ok", exit 0,
    and die with the run it had just adopted)."""
    gate = tmp_path / "go"
    pipeline_id = killed_owner(f"""
        co.Exec("test -f {gate} || sleep 60", name="wait")
        co.Exec("echo after", name="after")
    """)
    gate.touch()
    out = subprocess.run([*CLI, "rerun", pipeline_id], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "its owner had died; it runs here until it ends" in out.stdout
    assert f"pipeline {pipeline_id}: done" in out.stdout
    run = co.load(pipeline_id)
    assert run.state is State.DONE and run["/after"].stdout == "after\n"


def test_cli_rerun_detach_hands_an_orphaned_pipeline_to_a_background_owner(
    tmp_path: Path,
) -> None:
    gate = tmp_path / "go"
    pipeline_id = killed_owner(f"""
        co.Exec("until test -f {gate}; do sleep 0.05; done", name="wait")
        co.Exec("echo after", name="after")
    """)
    out = subprocess.run(
        [*CLI, "rerun", "--detach", pipeline_id], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "runs it in the background" in out.stdout
    run = co.load(pipeline_id)
    wait_for(lambda: run.refresh()["/wait"].state is State.RUNNING, timeout=60)
    gate.touch()
    wait_for(lambda: run.refresh().state is State.DONE, timeout=60)
    assert run["/after"].stdout == "after\n"
    assert [a.attempt for a in run["/wait"].attempts] == [1, 2]
