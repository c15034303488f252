"""Running pipelines in this process on the local backend: states, output, attempts, retries,
max_time, kill, secrets, Lazy generation, async use, and what the store keeps."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
from pathlib import Path

import pytest

import conducto_nb as co
from conducto_nb.model.states import State
from conducto_nb.run.ownership import shared_writer


def test_serial_parallel_run_to_done_with_output_by_path() -> None:
    def count(text: str) -> int:
        print(len(text.split()), "words")
        return len(text.split())

    with co.Serial(env={"WHO": "world"}) as root:
        co.Exec('echo "hello $WHO"', name="greet")
        with co.Parallel(name="count"):
            co.Exec(count, "a b c", name="three")
            co.Exec("echo oops >&2", name="stderr")
    run = root.run()
    assert run.state is State.DONE
    assert run["/greet"].stdout == "hello world\n"
    assert run["/count/three"].stdout == "3 words\n"
    assert run["/count/stderr"].stderr == "oops\n"
    assert run["/count/stderr"].exit_code == 0
    att = run["/greet"].attempts[-1]
    assert att.state == "done" and att.started is not None and att.ended >= att.started


def test_stop_on_error_blocks_the_rest_and_rerun_finishes(tmp_path: Path) -> None:
    flag = tmp_path / "ready"
    with co.Serial() as root:
        co.Exec(f"test -f {flag} || {{ touch {flag}; exit 4; }}", name="flaky")
        co.Exec("echo after", name="after")
    run = root.run()
    assert (run.state, run["/flaky"].state, run["/after"].state) == (
        State.ERROR,
        State.ERROR,
        State.BLOCKED,
    )
    assert run["/after"].status.blocked_by == "/flaky"
    assert run["/flaky"].exit_code == 4
    run.rerun().wait()
    assert run.state is State.DONE
    assert [a.exit_code for a in run["/flaky"].attempts] == [4, 0]
    assert run["/after"].stdout == "after\n"


def test_retries_record_every_attempt(tmp_path: Path) -> None:
    counter = tmp_path / "n"
    cmd = f'n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}; [ "$n" -ge 2 ]'
    with co.Serial() as root:
        co.Exec(cmd, name="third-time-lucky", retries=3)
    run = root.run()
    assert run.state is State.DONE
    assert [a.state for a in run["/third-time-lucky"].attempts] == ["error", "error", "done"]


def test_max_time_kills_the_node_and_says_why() -> None:
    with co.Serial() as root:
        co.Exec("sleep 30", name="slow", max_time=0.3)
    run = root.run()
    assert run["/slow"].state is State.ERROR  # not done, as `sleep 30` would end
    assert "timed out after 0.3s (max_time)" in run["/slow"].stderr


def test_kill_stops_running_nodes_and_nothing_new_starts() -> None:
    with co.Serial() as root:
        co.Exec("sleep 30", name="long")
        co.Exec("echo never", name="next")
    run = root.start()
    deadline = time.monotonic() + 10
    while run["/long"].state is not State.RUNNING and time.monotonic() < deadline:
        time.sleep(0.02)
    run.kill("/")
    run.wait(timeout=10)
    assert run["/long"].state is State.KILLED
    assert run["/next"].state is State.BLOCKED  # held back by the kill, till a rerun
    assert run.state is State.ERROR


def test_start_returns_while_the_pipeline_still_runs() -> None:
    with co.Parallel() as root:
        for i in range(3):
            co.Exec("sleep 1", name=f"s{i}", cpu=0.1)
    run = root.start()
    assert not run.done
    assert {run[f"/s{i}"].state for i in range(3)} <= {State.QUEUED, State.RUNNING}
    run.wait(timeout=10)
    assert run.done and run.state is State.DONE


def test_run_async_from_an_event_loop() -> None:
    with co.Serial() as root:
        co.Exec("echo async", name="a")

    async def main() -> co.Run:
        return await root.run_async()

    run = asyncio.run(main())
    assert run["/a"].stdout == "async\n"


def test_secrets_reach_the_command_but_never_its_log_or_the_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", "s3cr3t-value")
    with co.Serial() as root:
        co.Exec(
            'echo "token=$TOKEN"; echo "$TOKEN" >&2',
            name="use",
            env={"TOKEN": co.secret("DEPLOY_TOKEN")},
        )
    assert "s3cr3t" not in str(root.to_json())
    run = root.run()
    assert run.state is State.DONE
    assert run["/use"].stdout == "token=***\n"
    assert run["/use"].stderr == "***\n"
    shared_writer().flush()
    from conducto_nb.run.runs import shared_store

    stored = shared_store().output(run.id, "/use", "stdout")
    assert stored == "token=***\n"


def test_missing_secret_fails_the_node_naming_it() -> None:
    with co.Serial() as root:
        co.Exec("true", name="use", env={"T": co.secret("NO_SUCH_SECRET_XYZ")})
    run = root.run()
    assert run["/use"].state is not State.DONE
    assert "NO_SUCH_SECRET_XYZ" in run["/use"].stderr


def test_missing_binary_is_an_error_with_the_reason_not_a_crash() -> None:
    with co.Serial(stop_on_error=False) as root:
        co.Exec("no-such-binary-xyz --flag", name="missing")
        co.Exec("echo still runs", name="next")
    run = root.run()
    assert run["/missing"].state is State.ERROR
    assert "not found" in run["/missing"].stderr
    assert run["/next"].stdout == "still runs\n"


def test_lazy_callable_generates_and_grafts_a_subtree() -> None:
    def shards(n: int) -> co.Parallel:
        with co.Parallel() as p:
            for i in range(n):
                co.Exec(f"echo shard {i}", name=f"s{i}")
        return p

    with co.Serial() as root:
        co.Lazy(shards, 2, name="gen")
    run = root.run()
    assert run.state is State.DONE
    assert run["/gen/Execute/s1"].stdout == "shard 1\n"
    assert set(run.tree["/gen/Execute"].children) == {"s0", "s1"}


def test_lazy_command_prints_a_tree_from_a_co_main_script(tmp_path: Path) -> None:
    script = tmp_path / "make.py"
    script.write_text(
        textwrap.dedent("""
        import conducto_nb as co

        def tree(n: int = 1) -> co.Parallel:
            with co.Parallel() as p:
                for i in range(n):
                    co.Exec(f"echo from-script {i}", name=f"n{i}")
            return p

        if __name__ == "__main__":
            co.main(default=tree)
    """)
    )
    with co.Serial() as root:
        co.Lazy(f"{sys.executable} {script} tree --n=3", name="gen")
    run = root.run()
    assert run.state is State.DONE, run["/gen/Generate"].stderr
    assert run["/gen/Execute/n2"].stdout == "from-script 2\n"


def test_lazy_command_printing_garbage_is_an_error() -> None:
    with co.Serial() as root:
        co.Lazy("echo not a tree", name="gen")
    run = root.run()
    assert run["/gen/Generate"].state is State.ERROR
    assert "not a tree" in run["/gen/Generate"].stderr


def test_local_backend_says_once_that_it_ignores_images() -> None:
    with co.Serial(image="python:3.11-slim") as root:
        co.Exec("true", name="a")
        co.Exec("true", name="b")
    run = root.run()
    assert run.state is State.DONE
    notes = [run[p].stderr.count("is not used") for p in ("/a", "/b")]
    assert notes == [1, 0]


def test_edits_after_start_do_not_change_the_running_copy() -> None:
    with co.Serial() as root:
        co.Exec("echo one", name="a")
    run = root.start()
    root["b"] = co.Exec("echo two")
    run.wait(timeout=10)
    assert "/b" not in run.tree
    assert run.state is State.DONE


def test_load_gives_back_a_finished_run_in_this_process() -> None:
    with co.Serial() as root:
        co.Exec("echo kept", name="a")
    run = root.run()
    assert co.load(run.id) is run
    assert co.load(run.id)["/a"].stdout == "kept\n"


def test_unknown_pipeline_id_is_a_clear_error() -> None:
    with pytest.raises(co.PipelineNotFound, match="nope-nop"):
        co.load("nope-nop")


def test_images_on_the_local_backend_are_listed_as_unused() -> None:
    image = co.Image("busybox:latest", install_packages=["jq"])
    with co.Serial(image=image) as root:
        co.Exec("echo hi", name="a")
        co.Exec("echo ho", name="b", image="busybox:latest")
    run = root.run(backend="local")
    assert run.state is State.DONE
    [img] = run.images
    assert img.label == "busybox:latest + packages: jq"
    assert img.state is co.ImageState.UNUSED and img.nodes == ("/a",)
    assert img.message == (
        "the local backend uses only an image's code and pip packages, and this one has neither"
    )


def test_images_of_a_generated_subtree_join_the_list_when_it_is_grafted() -> None:
    def shards() -> co.Parallel:
        with co.Parallel(image=co.Image("busybox:latest", install_packages=["jq"])) as p:
            co.Exec("echo one", name="one")
            co.Exec("echo two", name="two")
        return p

    with co.Serial() as root:
        co.Lazy(shards, name="gen")
    run = root.run(backend="local")
    assert run.state is State.DONE
    [img] = run.images
    assert img.label == "busybox:latest + packages: jq"
    assert img.nodes == ("/gen/Execute/one", "/gen/Execute/two")


def _ci_pipeline(lint: str) -> co.Serial:
    with co.Serial() as root:
        co.Exec("echo installed", name="install")
        with co.Parallel(name="test"):
            co.Exec("echo unit", name="unit")
            co.Exec(lint, name="lint")
            co.Exec("echo integration", name="integration")
        co.Exec("echo report", name="report")
    return root


def test_fix_a_failed_node_and_the_pipeline_goes_on() -> None:
    """The CI loop: lint fails, the Serial stops (report blocked by /test); modify lint and it
    runs again, and what it held back runs after it."""
    run = _ci_pipeline("echo style; exit 1").start().wait(timeout=60)
    assert (run.state, run["/test/lint"].state) == (State.ERROR, State.ERROR)
    assert run["/report"].state is State.BLOCKED
    assert run["/report"].status.blocked_by == "/test"
    assert run["/report"].held_back_by == "/test/lint"  # the Exec to fix
    run.modify("/test/lint", command="echo clean").wait(timeout=60)
    assert run["/test/lint"].stdout == "clean\n"
    assert run["/report"].state is State.DONE and run["/report"].stdout == "report\n"
    assert run.state is State.DONE and run.done and run["/report"].held_back_by is None


def test_rerun_of_one_failed_node_resumes_the_rest(tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    run = _ci_pipeline(f"test -f {flag} || exit 1").start().wait(timeout=60)
    assert run["/report"].state is State.BLOCKED
    flag.touch()
    run.rerun("/test/lint").wait(timeout=60)
    assert [a.exit_code for a in run["/test/lint"].attempts] == [1, 0]
    assert [a.exit_code for a in run["/test/unit"].attempts] == [0]  # what passed stays
    assert run["/report"].state is State.DONE and run.state is State.DONE


def test_blocked_is_kept_in_the_store() -> None:
    run = _ci_pipeline("exit 1").run()
    from conducto_nb.run.ownership import shared_writer
    from conducto_nb.run.runs import record_from_store

    shared_writer().flush()
    stored = record_from_store(run.id)  # as another process reads it
    assert stored.status("/report") == run["/report"].status
    assert stored.status("/report").blocked_by == "/test"
    assert "report  Exec: echo report  [blocked]" in run.pretty()


def summarise(rows: int) -> dict[str, int]:
    return {"rows": rows, "columns": 3}


def test_a_callables_return_value_is_its_result_here_and_its_repr_in_the_store() -> None:
    with co.Serial() as root:
        co.Exec(summarise, 12, name="summary")
        co.Exec("echo shell", name="shell")
    run = root.run()
    assert run["/summary"].result == {"rows": 12, "columns": 3}  # the object itself
    assert run["/summary"].attempts[-1].result == "{'rows': 12, 'columns': 3}"
    assert run["/shell"].result is None
    from conducto_nb.run.ownership import shared_writer
    from conducto_nb.run.runs import Run, record_from_store

    shared_writer().flush()
    stored = Run(record_from_store(run.id))  # as another process reads it
    assert stored["/summary"].result == "{'rows': 12, 'columns': 3}"
    from conducto_nb.widget.result_view import text_of

    assert "returned: {'rows': 12, 'columns': 3}" in text_of(stored["/summary"])
    assert "<b>returned</b>" in stored["/summary"]._repr_html_()


def test_modify_refuses_a_nul_byte_and_changes_nothing() -> None:
    with co.Serial() as root:
        co.Exec("echo before", name="step")
    run = root.run()
    with pytest.raises(co.ActionError, match="NUL byte"):
        run.modify("/step", command="echo a\0b")
    assert run.tree["/step"].command == "echo before"


def test_a_job_knows_its_pipeline_node_attempt_and_resources() -> None:
    show = "echo $CONDUCTO_PIPELINE_ID $CONDUCTO_NB_NODE $CONDUCTO_NB_ATTEMPT"
    with co.Serial(mem=1.5, cpu=0.5) as root:
        co.Exec(f"{show} $CONDUCTO_NB_CPU $CONDUCTO_NB_MEM", name="a")
    run = root.run()
    assert run["/a"].stdout.split() == [run.id, "/a", "1", "0.5", "1.5"]
