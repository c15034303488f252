"""The pure scheduler core, rule by rule: feed it events, read its instructions and statuses."""

from __future__ import annotations

import ast
import itertools
import pathlib
from collections.abc import Sequence

import pytest

import conducto_nb as co
from conducto_nb.errors import ActionError
from conducto_nb.model.execs import Exec
from conducto_nb.model.states import NodeStatus, State, StateChanged, TreeChanged, child_category
from conducto_nb.run.scheduler import (
    Action,
    ExecFinished,
    ExecStarted,
    Instruction,
    KillExec,
    Rejected,
    Scheduler,
    StartExec,
    tree_statuses,
)
from conducto_nb.run.status_tree import NodeInfo

NEW = co.ContainerReuseContext.NEW
GLOBAL = co.ContainerReuseContext.GLOBAL


# -- helpers ----------------------------------------------------------------------------------
def starts(out: Sequence[Instruction]) -> list[str]:
    return [i.path for i in out if isinstance(i, StartExec)]


def kills(out: Sequence[Instruction]) -> list[str]:
    return [i.path for i in out if isinstance(i, KillExec)]


def changes(out: Sequence[Instruction]) -> dict[str, tuple[str, str]]:
    found = [i for i in out if isinstance(i, StateChanged)]
    assert len({c.path for c in found}) == len(found), "a path reported twice in one step"
    return {c.path: (c.old.label, c.new.label) for c in found}


def rejected(out: Sequence[Instruction]) -> bool:
    return any(isinstance(i, Rejected) for i in out)


def act(s: Scheduler, name: str, path: str = "/") -> list[Instruction]:
    return s.handle(Action(name, path))


def started(s: Scheduler, path: str) -> list[Instruction]:
    return s.handle(ExecStarted(path, s.attempts(path)))


def finish(
    s: Scheduler, path: str, state: State = State.DONE, result: co.Node | None = None
) -> list[Instruction]:
    return s.handle(ExecFinished(path, s.attempts(path), state, result))


def label(s: Scheduler, path: str) -> str:
    return s.status(path).label


def labels(s: Scheduler, *paths: str) -> list[str]:
    return [label(s, p) for p in paths]


def serial(n: int = 3, **params: object) -> co.Serial:
    with co.Serial(**params) as root:
        for i in range(n):
            co.Exec(f"echo {i}", name=f"e{i}")
    return root


def parallel(n: int = 3, **params: object) -> co.Parallel:
    with co.Parallel(**params) as root:
        for i in range(n):
            co.Exec(f"echo {i}", name=f"e{i}")
    return root


# -- exec states ------------------------------------------------------------------------------
def test_an_exec_goes_pending_queued_running_done() -> None:
    s = Scheduler(serial(1))
    assert label(s, "/e0") == "pending"
    out = act(s, "run")
    node = s.root["/e0"]
    assert isinstance(node, co.Exec) and out[0] == StartExec("/e0", 1, node, None)
    assert changes(out) == {"/e0": ("pending", "queued"), "/": ("pending", "queued")}
    assert changes(started(s, "/e0")) == {"/e0": ("queued", "running"), "/": ("queued", "running")}
    assert changes(finish(s, "/e0")) == {"/e0": ("running", "done"), "/": ("running", "done")}
    assert s.idle


@pytest.mark.parametrize("outcome", [State.ERROR, State.WORKER_ERROR, State.KILLED])
def test_an_exec_ends_in_the_reported_failure(outcome: State) -> None:
    s = Scheduler(serial(1))
    act(s, "run")
    started(s, "/e0")
    finish(s, "/e0", outcome)
    assert labels(s, "/e0", "/") == [outcome.value, "error"]
    assert s.idle


def test_a_finish_without_a_start_report_is_taken() -> None:
    s = Scheduler(serial(1))
    act(s, "run")
    finish(s, "/e0", State.WORKER_ERROR)  # the backend could not even start it
    assert label(s, "/e0") == "worker_error"


def test_idle_before_any_run_and_busy_while_running() -> None:
    s = Scheduler(serial(1))
    assert s.idle
    act(s, "run")
    assert not s.idle


# -- derivation of a parent's state -----------------------------------------------------------
def test_parent_is_queued_while_children_only_queued_and_running_once_one_runs() -> None:
    s = Scheduler(parallel(2))
    act(s, "run")
    assert label(s, "/") == "queued"
    started(s, "/e0")
    assert label(s, "/") == "running"
    finish(s, "/e0")
    assert label(s, "/") == "queued"  # e1 still only queued


def test_a_failed_child_makes_every_ancestor_error() -> None:
    with co.Serial() as root, co.Parallel(name="p"), co.Serial(name="s"):
        co.Exec("false", name="x")
    s = Scheduler(root)
    act(s, "run")
    finish(s, "/p/s/x", State.ERROR)
    assert labels(s, "/p/s", "/p", "/") == ["error", "error", "error"]


def test_parent_with_suppress_errors_reports_done() -> None:
    with co.Serial() as root:
        with co.Parallel(name="p", suppress_errors=True):
            co.Exec("false", name="x")
            co.Exec("true", name="y")
        co.Exec("true", name="after")
    s = Scheduler(root)
    act(s, "run")
    finish(s, "/p/x", State.ERROR)
    assert labels(s, "/p/x", "/p") == ["error", "queued"]  # y still queued
    out = finish(s, "/p/y")
    assert label(s, "/p") == "done"
    assert starts(out) == ["/after"]  # the Serial goes on: /p counts as done
    finish(s, "/after")
    assert label(s, "/") == "done"


def test_failed_child_with_suppress_errors_counts_as_done_for_its_parent() -> None:
    with co.Serial() as root:
        co.Exec("false", name="x", suppress_errors=True)
        co.Exec("true", name="y")
    s = Scheduler(root)
    act(s, "run")
    out = finish(s, "/x", State.WORKER_ERROR)
    assert label(s, "/x") == "worker_error"
    assert starts(out) == ["/y"]
    finish(s, "/y")
    assert label(s, "/") == "done"


def test_skipped_children_are_left_out() -> None:
    with co.Serial() as root:
        co.Exec("a", name="a", skip=True)
        co.Exec("b", name="b")
        with co.Parallel(name="p", skip=True):
            co.Exec("c", name="c")
    s = Scheduler(root)
    assert starts(act(s, "run")) == ["/b"]
    finish(s, "/b")
    assert labels(s, "/a", "/p", "/p/c", "/") == [
        "pending-skipped",
        "pending-skipped",
        "pending",
        "done",
    ]
    assert s.idle


def test_all_children_skipped_is_done() -> None:
    s = Scheduler(serial(2, skip=False))
    act(s, "skip", "/e0")
    act(s, "skip", "/e1")
    assert label(s, "/") == "done"


def test_empty_containers_are_done() -> None:
    with co.Serial() as root:
        co.Parallel(name="p")
        co.Serial(name="s")
    s = Scheduler(root)
    assert labels(s, "/p", "/s", "/") == ["done", "done", "done"]
    assert act(s, "run") == []
    assert s.idle


def test_lazy_placeholder_awaiting_generation_is_pending() -> None:
    with co.Serial() as root:
        co.Lazy(lambda: co.Serial(), name="L")
    s = Scheduler(root)
    assert labels(s, "/L/Execute", "/L/Generate", "/L") == ["pending", "pending", "pending"]


def test_net_changes_only() -> None:
    """A step that finishes one child and starts the next leaves the Serial queued: it is not
    reported, and the started Exec is reported once, pending -> queued (not via any transient)."""
    s = Scheduler(serial(3))
    act(s, "run")
    out = finish(s, "/e0")  # never reported as started: the Serial stayed queued
    assert changes(out) == {"/e0": ("queued", "done"), "/e1": ("pending", "queued")}
    started(s, "/e1")
    out = finish(s, "/e1")
    assert changes(out) == {
        "/e1": ("running", "done"),
        "/e2": ("pending", "queued"),
        "/": ("running", "queued"),
    }


def test_a_retry_in_one_step_is_no_change() -> None:
    with co.Serial() as root:
        co.Exec("x", name="x", retries=1)
    s = Scheduler(root)
    act(s, "run")
    out = finish(s, "/x", State.ERROR)  # queued -> error -> queued again: no net change
    assert starts(out) == ["/x"] and changes(out) == {}


def test_no_change_reported_when_nothing_changed() -> None:
    s = Scheduler(parallel(2))
    act(s, "run")
    assert act(s, "run") == []
    started(s, "/e0")
    assert started(s, "/e0") == []  # a duplicate report


# -- Serial and Parallel order ----------------------------------------------------------------
def test_serial_starts_one_child_after_the_other() -> None:
    with co.Serial() as root:
        co.Exec("a", name="a")
        with co.Parallel(name="p"):
            co.Exec("b", name="b")
            co.Exec("c", name="c")
        co.Exec("d", name="d")
    s = Scheduler(root)
    assert starts(act(s, "run")) == ["/a"]
    started(s, "/a")
    assert starts(finish(s, "/a")) == ["/p/b", "/p/c"]
    assert starts(finish(s, "/p/b")) == []  # /p/c still at work
    assert starts(finish(s, "/p/c")) == ["/d"]
    finish(s, "/d")
    assert label(s, "/") == "done" and s.idle


def test_parallel_starts_all_children() -> None:
    s = Scheduler(parallel(5))
    assert starts(act(s, "run")) == [f"/e{i}" for i in range(5)]


def test_stop_on_error_stops_at_the_first_failure() -> None:
    s = Scheduler(serial(3))
    act(s, "run")
    out = finish(s, "/e0", State.ERROR)
    assert starts(out) == []
    assert labels(s, "/e0", "/e1", "/e2", "/") == ["error", "blocked", "blocked", "error"]
    assert s.status("/e2").blocked_by == "/e0"  # held back by that failure, and says so
    assert s.idle


def test_without_stop_on_error_the_rest_runs_then_error() -> None:
    s = Scheduler(serial(3, stop_on_error=False))
    act(s, "run")
    assert starts(finish(s, "/e0", State.KILLED)) == ["/e1"]
    assert label(s, "/") == "queued"
    assert starts(finish(s, "/e1")) == ["/e2"]
    finish(s, "/e2")
    assert labels(s, "/e0", "/e1", "/e2", "/") == ["killed", "done", "done", "error"]
    assert s.idle


def test_stop_on_error_is_per_serial() -> None:
    with co.Serial() as root:
        with co.Serial(name="inner", stop_on_error=False):
            co.Exec("a", name="a")
            co.Exec("b", name="b")
        co.Exec("c", name="c")
    s = Scheduler(root)
    act(s, "run")
    assert starts(finish(s, "/inner/a", State.ERROR)) == ["/inner/b"]
    assert starts(finish(s, "/inner/b")) == []  # /inner failed: the root stops before c
    assert labels(s, "/inner", "/c", "/") == ["error", "blocked", "error"]
    assert s.status("/c").blocked_by == "/inner"


# -- max_concurrent and container reuse -------------------------------------------------------
def test_max_concurrent_on_a_parallel() -> None:
    s = Scheduler(parallel(5, max_concurrent=2))
    assert starts(act(s, "run")) == ["/e0", "/e1"]
    started(s, "/e0")
    assert starts(started(s, "/e1")) == []
    assert starts(finish(s, "/e1")) == ["/e2"]
    assert starts(finish(s, "/e0", State.ERROR)) == ["/e3"]
    assert starts(finish(s, "/e2")) == ["/e4"]
    finish(s, "/e3")
    finish(s, "/e4")
    assert label(s, "/") == "error" and s.idle


def test_max_concurrent_counts_every_exec_below() -> None:
    with co.Serial(max_concurrent=3) as root, co.Parallel(name="p"):
        for i in range(3):
            with co.Parallel(name=f"q{i}"):
                co.Exec("x", name="x")
                co.Exec("y", name="y")
    s = Scheduler(root)
    assert starts(act(s, "run")) == ["/p/q0/x", "/p/q0/y", "/p/q1/x"]
    assert starts(finish(s, "/p/q0/y")) == ["/p/q1/y"]


def test_a_full_cap_above_a_run_root_holds_it_back() -> None:
    with co.Parallel(max_concurrent=1) as root:
        co.Exec("a", name="a")
        co.Exec("b", name="b")
    s = Scheduler(root)
    act(s, "run", "/a")
    assert starts(act(s, "run", "/b")) == []
    assert not s.idle
    assert starts(finish(s, "/a")) == ["/b"]


def test_new_reuse_subtree_runs_one_exec_at_a_time_even_under_a_parallel() -> None:
    with co.Parallel() as root:
        with co.Serial(name="box", container_reuse_context=NEW), co.Parallel(name="p"):
            co.Exec("a", name="a")
            co.Exec("b", name="b")
        co.Exec("outside", name="out")
    s = Scheduler(root)
    out = act(s, "run")
    assert starts(out) == ["/box/p/a", "/out"]
    first = next(i for i in out if isinstance(i, StartExec) and i.path == "/box/p/a")
    assert first.reuse_group == "/box"
    assert next(i for i in out if isinstance(i, StartExec) and i.path == "/out").reuse_group is None
    out = finish(s, "/box/p/a")
    assert [(i.path, i.reuse_group) for i in out if isinstance(i, StartExec)] == [
        ("/box/p/b", "/box")
    ]


def test_same_container_alias_and_global_gives_pooling_back() -> None:
    with co.Serial(same_container=co.SameContainer.NEW) as root:
        co.Exec("a", name="a")
        with co.Serial(name="g", container_reuse_context=GLOBAL):
            co.Exec("b", name="b")
        with co.Serial(name="inherit"):
            co.Exec("c", name="c")
    s = Scheduler(root)
    groups: dict[str, str | None] = {}
    out = act(s, "run")
    for path in ("/a", "/g/b", "/inherit/c"):
        groups.update({i.path: i.reuse_group for i in out if isinstance(i, StartExec)})
        out = finish(s, path)
    assert groups == {"/a": "/", "/g/b": None, "/inherit/c": "/"}
    assert label(s, "/") == "done"


# -- actions ----------------------------------------------------------------------------------
def test_action_names_are_checked() -> None:
    with pytest.raises(ActionError, match="unknown action `start`"):
        Action("start", "/")


def test_action_on_an_unknown_path_is_rejected() -> None:
    s = Scheduler(serial(1))
    for name in ("run", "rerun", "reset", "skip", "unskip", "kill"):
        out = act(s, name, "/nope")
        assert len(out) == 1 and isinstance(out[0], Rejected)
        assert "/nope" in out[0].reason
    assert s.idle and label(s, "/e0") == "pending"


def test_run_of_a_subtree_runs_only_it() -> None:
    with co.Serial() as root:
        co.Exec("a", name="a")
        with co.Parallel(name="p"):
            co.Exec("b", name="b")
    s = Scheduler(root)
    assert starts(act(s, "run", "/p")) == ["/p/b"]
    finish(s, "/p/b")
    assert labels(s, "/a", "/p", "/") == ["pending", "done", "pending"]
    assert s.idle


def test_run_leaves_failures_alone_rerun_resets_only_failed_and_killed() -> None:
    with co.Parallel() as root:
        for name in ("ok", "bad", "worker", "killed"):
            co.Exec(name, name=name)
    s = Scheduler(root)
    act(s, "run")
    finish(s, "/ok")
    finish(s, "/bad", State.ERROR)
    finish(s, "/worker", State.WORKER_ERROR)
    finish(s, "/killed", State.KILLED)
    assert act(s, "run") == []  # run does not retry failures
    out = act(s, "rerun")
    assert starts(out) == ["/bad", "/worker", "/killed"]
    assert [i.attempt for i in out if isinstance(i, StartExec)] == [2, 2, 2]
    assert label(s, "/ok") == "done"


def test_rerun_after_stop_on_error_continues_the_serial() -> None:
    s = Scheduler(serial(3))
    act(s, "run")
    finish(s, "/e0")
    finish(s, "/e1", State.ERROR)
    assert starts(act(s, "rerun")) == ["/e1"]
    assert starts(finish(s, "/e1")) == ["/e2"]


def test_reset_puts_every_exec_back_to_pending() -> None:
    s = Scheduler(serial(3, stop_on_error=False))
    act(s, "run")
    finish(s, "/e0", State.ERROR)
    finish(s, "/e1")
    finish(s, "/e2")
    out = act(s, "reset")
    assert starts(out) == [] and s.idle
    assert changes(out) == {
        "/e0": ("error", "pending"),
        "/e1": ("done", "pending"),
        "/e2": ("done", "pending"),
        "/": ("error", "pending"),
    }
    assert starts(act(s, "run")) == ["/e0"]


def test_reset_is_rejected_while_something_in_it_is_active() -> None:
    with co.Serial() as root, co.Parallel(name="p"):
        co.Exec("a", name="a")
        co.Exec("b", name="b")
    s = Scheduler(root)
    act(s, "run")
    finish(s, "/p/a")
    for path in ("/", "/p", "/p/b"):
        out = act(s, "reset", path)
        assert len(out) == 1 and isinstance(out[0], Rejected), path
    out = act(s, "reset", "/p/a")  # finished, nothing active in it
    assert starts(out) == ["/p/a"]  # it is inside the running "/" run: it runs again
    assert changes(out) == {"/p/a": ("done", "queued")}  # the net change of the step


def test_skip_is_rejected_while_active_and_labels_otherwise() -> None:
    s = Scheduler(serial(3))
    act(s, "run")
    out = act(s, "skip", "/e0")
    assert len(out) == 1 and isinstance(out[0], Rejected)
    assert "kill it first" in out[0].reason
    out = act(s, "skip", "/e1")
    assert changes(out) == {"/e1": ("pending", "pending-skipped")}
    assert starts(finish(s, "/e0")) == ["/e2"]
    finish(s, "/e2")
    out = act(s, "skip", "/e0")
    assert changes(out) == {"/e0": ("done", "done-skipped")}
    assert label(s, "/") == "done"


def test_unskip_restores_the_state_and_it_counts_again() -> None:
    s = Scheduler(serial(2))
    act(s, "skip", "/e1")
    act(s, "run")
    finish(s, "/e0")
    assert label(s, "/") == "done" and s.idle
    out = act(s, "unskip", "/e1")
    assert changes(out) == {"/e1": ("pending-skipped", "pending"), "/": ("done", "pending")}
    assert starts(act(s, "run")) == ["/e1"]


def test_unskip_of_a_failed_node_brings_its_error_back() -> None:
    s = Scheduler(serial(2, stop_on_error=False))
    act(s, "run")
    finish(s, "/e0", State.ERROR)
    finish(s, "/e1")
    act(s, "skip", "/e0")
    assert labels(s, "/e0", "/") == ["error-skipped", "done"]
    act(s, "unskip", "/e0")
    assert labels(s, "/e0", "/") == ["error", "error"]


def test_running_a_skipped_node_or_below_one_is_rejected() -> None:
    with co.Serial() as root, co.Parallel(name="p", skip=True):
        co.Exec("a", name="a")
    s = Scheduler(root)
    for name, path in [("run", "/p"), ("rerun", "/p"), ("run", "/p/a")]:
        out = act(s, name, path)
        assert len(out) == 1 and isinstance(out[0], Rejected)
        assert "skipped" in out[0].reason
    assert s.idle


def test_skip_of_the_root_and_run_rejected() -> None:
    s = Scheduler(serial(1))
    act(s, "skip")
    assert label(s, "/") == "pending-skipped"
    assert rejected(act(s, "run"))
    act(s, "unskip")
    assert starts(act(s, "run")) == ["/e0"]


def test_kill_kills_every_active_exec_of_the_subtree() -> None:
    with co.Parallel() as root:
        with co.Parallel(name="p"):
            co.Exec("a", name="a")
            co.Exec("b", name="b")
            co.Exec("c", name="c")
        co.Exec("d", name="d")
    s = Scheduler(root)
    out = act(s, "run")
    finish(s, "/p/c")
    started(s, "/p/a")  # a is running, b only queued
    out = act(s, "kill", "/p")
    assert out == [KillExec("/p/a", 1), KillExec("/p/b", 1)]
    assert labels(s, "/p/a", "/p/b") == ["running", "queued"]  # until the backend reports
    finish(s, "/p/a", State.KILLED)
    finish(s, "/p/b", State.KILLED)
    assert labels(s, "/p/a", "/p/b", "/p", "/d") == ["killed", "killed", "error", "queued"]
    finish(s, "/d")
    assert s.idle and label(s, "/") == "error"


def test_nothing_new_starts_in_a_killed_subtree_until_it_runs_again() -> None:
    with co.Serial(stop_on_error=False) as root:
        with co.Parallel(name="p", max_concurrent=1):
            co.Exec("a", name="a")
            co.Exec("b", name="b")
        co.Exec("c", name="c")
    s = Scheduler(root)
    act(s, "run")
    assert kills(act(s, "kill")) == ["/p/a"]
    out = finish(s, "/p/a", State.KILLED)
    assert starts(out) == [] and s.idle  # neither /p/b (capped behind a) nor /c
    assert labels(s, "/p/a", "/p/b", "/c") == ["killed", "pending", "pending"]
    assert starts(act(s, "run")) == ["/p/b"]  # run again: the killed one stays killed
    assert starts(finish(s, "/p/b")) == ["/c"]


def test_kill_of_a_subtree_lets_the_rest_of_the_pipeline_go_on() -> None:
    with co.Parallel() as root:
        with co.Serial(name="s"):
            co.Exec("a", name="a")
            co.Exec("b", name="b")
        co.Exec("c", name="c")
    s = Scheduler(root)
    act(s, "run")
    assert kills(act(s, "kill", "/s")) == ["/s/a"]
    out = finish(s, "/s/a", State.DONE)  # it finished before the kill landed
    assert starts(out) == []  # but /s/b does not start: /s was killed
    finish(s, "/c")
    assert s.idle
    assert labels(s, "/s/a", "/s/b", "/s", "/c") == ["done", "pending", "pending", "done"]
    assert starts(act(s, "run", "/s")) == ["/s/b"]


def test_kill_of_an_idle_subtree_holds_it_until_run() -> None:
    s = Scheduler(serial(2))
    assert act(s, "kill") == []
    assert act(s, "run") != []  # run lifts the kill
    assert not s.idle


def test_kill_then_error_report_does_not_retry() -> None:
    """Regression: a killed Exec whose command ended in error (the kill raced it) was retried."""
    with co.Serial(retries=3) as root:
        co.Exec("a", name="a")
    s = Scheduler(root)
    act(s, "run")
    started(s, "/a")
    act(s, "kill")
    out = finish(s, "/a", State.ERROR)
    assert starts(out) == [] and s.idle
    assert label(s, "/a") == "error"


def test_retry_inside_a_subtree_run_after_a_kill_above_it() -> None:
    with co.Serial() as root, co.Serial(name="s"):
        co.Exec("a", name="a", retries=1)
    s = Scheduler(root)
    act(s, "kill")  # holds "/"
    assert starts(act(s, "run", "/s")) == ["/s/a"]  # a run inside it is a run
    assert starts(finish(s, "/s/a", State.ERROR)) == ["/s/a"]


# -- NEW reuse subtrees: an action on one child acts on the whole subtree ---------------------
def reuse_tree() -> co.Serial:
    with co.Serial() as root:
        with co.Serial(name="box", container_reuse_context=NEW):
            co.Exec("a", name="a")
            co.Exec("b", name="b")
            co.Exec("c", name="c")
        co.Exec("after", name="after")
    return root


def test_rerun_of_a_reuse_child_reruns_the_whole_subtree() -> None:
    s = Scheduler(reuse_tree())
    act(s, "run")
    finish(s, "/box/a")
    finish(s, "/box/b", State.ERROR)
    out = act(s, "rerun", "/box/b")
    assert starts(out) == ["/box/a"]
    assert changes(out)["/box/a"] == ("done", "queued")
    assert label(s, "/box/b") == "pending"
    assert starts(finish(s, "/box/a")) == ["/box/b"]


def test_rerun_of_a_reuse_subtree_is_rejected_while_it_runs() -> None:
    """Regression: it reset the running Exec to pending and started it a second time."""
    s = Scheduler(reuse_tree())
    act(s, "run")
    started(s, "/box/a")
    out = act(s, "rerun", "/box/c")
    assert len(out) == 1 and isinstance(out[0], Rejected)
    assert label(s, "/box/a") == "running"


def test_skip_of_a_reuse_child_skips_the_new_serial() -> None:
    s = Scheduler(reuse_tree())
    out = act(s, "skip", "/box/b")
    assert changes(out) == {"/box": ("pending", "pending-skipped")}
    assert starts(act(s, "run")) == ["/after"]
    act(s, "unskip", "/box/c")
    assert label(s, "/box") == "pending"


def test_kill_of_a_reuse_child_kills_the_subtree() -> None:
    s = Scheduler(reuse_tree())
    act(s, "run")
    assert kills(act(s, "kill", "/box/c")) == ["/box/a"]
    finish(s, "/box/a", State.KILLED)
    assert s.idle and labels(s, "/box/b", "/box") == ["blocked", "error"]


def test_reset_of_a_reuse_child_resets_the_subtree() -> None:
    s = Scheduler(reuse_tree())
    act(s, "run")
    for path in ("/box/a", "/box/b", "/box/c", "/after"):
        finish(s, path)
    out = act(s, "reset", "/box/a")
    assert set(changes(out)) == {"/box/a", "/box/b", "/box/c", "/box", "/"}
    assert label(s, "/after") == "done"


# -- retries ----------------------------------------------------------------------------------
def test_retries_restart_with_the_next_attempt() -> None:
    with co.Serial() as root:
        co.Exec("flaky", name="x", retries=2)
        co.Exec("next", name="y")
    s = Scheduler(root)
    act(s, "run")
    started(s, "/x")
    out = finish(s, "/x", State.ERROR)
    assert [(i.path, i.attempt) for i in out if isinstance(i, StartExec)] == [("/x", 2)]
    assert changes(out) == {"/x": ("running", "queued"), "/": ("running", "queued")}
    out = finish(s, "/x", State.WORKER_ERROR)
    assert [(i.path, i.attempt) for i in out if isinstance(i, StartExec)] == [("/x", 3)]
    out = finish(s, "/x", State.ERROR)  # 1 + 2 retries used up
    assert starts(out) == [] and labels(s, "/x", "/") == ["error", "error"]
    assert s.attempts("/x") == 3


def test_retries_are_inherited_and_success_stops_them() -> None:
    with co.Parallel(retries=1) as root:
        co.Exec("a", name="a")
        co.Exec("b", name="b", retries=0)
    s = Scheduler(root)
    act(s, "run")
    assert starts(finish(s, "/a", State.ERROR)) == ["/a"]
    assert starts(finish(s, "/b", State.ERROR)) == []
    finish(s, "/a")
    assert labels(s, "/a", "/b") == ["done", "error"]


def test_killed_is_never_retried() -> None:
    with co.Serial(retries=5) as root:
        co.Exec("a", name="a")
    s = Scheduler(root)
    act(s, "run")
    assert starts(finish(s, "/a", State.KILLED)) == []
    assert label(s, "/a") == "killed"


def test_rerun_gives_retries_again() -> None:
    with co.Serial(retries=1) as root:
        co.Exec("a", name="a")
    s = Scheduler(root)
    act(s, "run")
    finish(s, "/a", State.ERROR)
    finish(s, "/a", State.ERROR)
    assert label(s, "/a") == "error"
    act(s, "rerun")
    assert starts(finish(s, "/a", State.ERROR)) == ["/a"]
    assert s.attempts("/a") == 4


# -- stale reports ----------------------------------------------------------------------------
def test_stale_reports_change_nothing() -> None:
    with co.Serial() as root:
        co.Exec("a", name="a", retries=1)
    s = Scheduler(root)
    act(s, "run")
    finish(s, "/a", State.ERROR)  # attempt 2 queued now
    before = s.statuses()
    assert s.handle(ExecStarted("/a", 1)) == []
    assert s.handle(ExecFinished("/a", 1, State.DONE)) == []
    assert s.handle(ExecFinished("/a", 3, State.DONE)) == []
    assert s.statuses() == before
    finish(s, "/a")
    assert s.handle(ExecFinished("/a", 2, State.ERROR)) == []  # a duplicate
    assert label(s, "/a") == "done"


def test_report_after_reset_is_stale() -> None:
    s = Scheduler(serial(1))
    act(s, "run")
    finish(s, "/e0", State.ERROR)
    act(s, "reset")
    assert s.handle(ExecFinished("/e0", 1, State.DONE)) == []
    assert label(s, "/e0") == "pending"


def test_reports_for_containers_and_unknown_paths_change_nothing() -> None:
    """Regression: an ExecFinished naming a running Parallel overwrote its derived state."""
    with co.Serial() as root, co.Parallel(name="p"):
        co.Exec("a", name="a")
    s = Scheduler(root)
    act(s, "run")
    before = s.statuses()
    assert s.handle(ExecStarted("/p", 0)) == []
    assert s.handle(ExecFinished("/p", 0, State.DONE)) == []
    assert s.handle(ExecFinished("/nope", 1, State.DONE)) == []
    assert s.statuses() == before


# -- Lazy -------------------------------------------------------------------------------------
def make_subtree() -> co.Node:
    with co.Parallel() as sub:
        co.Exec("x", name="x")
        co.Exec("y", name="y")
    return sub


def lazy_tree() -> co.Serial:
    with co.Serial() as root:
        co.Lazy(make_subtree, name="L")
        co.Exec("after", name="after")
    return root


def test_lazy_grafts_the_generated_tree_and_runs_it() -> None:
    s = Scheduler(lazy_tree())
    assert starts(act(s, "run")) == ["/L/Generate"]
    out = finish(s, "/L/Generate", result=make_subtree())
    trees = [i for i in out if isinstance(i, TreeChanged)]
    assert [t.path for t in trees] == ["/L/Execute"]
    assert [c["name"] for c in trees[0].tree["root"]["children"]] == ["x", "y"]
    assert starts(out) == ["/L/Execute/x", "/L/Execute/y"]
    assert type(s.root["/L/Execute"]) is co.Parallel  # renamed Execute, its type kept
    assert s.root["/L/Execute/x"].path == "/L/Execute/x"
    finish(s, "/L/Execute/x")
    assert starts(finish(s, "/L/Execute/y")) == ["/after"]
    finish(s, "/after")
    assert labels(s, "/L/Generate", "/L/Execute", "/L", "/") == ["done"] * 4


def test_lazy_exec_result_is_grafted_as_an_exec() -> None:
    s = Scheduler(lazy_tree())
    act(s, "run")
    out = finish(s, "/L/Generate", result=co.Exec("echo hi"))
    assert starts(out) == ["/L/Execute"]
    assert isinstance(s.root["/L/Execute"], co.Exec)


@pytest.mark.parametrize("result", [None, "attached"])
def test_lazy_without_a_fresh_node_result_is_an_error(result: str | None) -> None:
    s = Scheduler(lazy_tree())
    act(s, "run")
    node = s.root["/after"] if result else None  # a node already in a tree is no result
    out = finish(s, "/L/Generate", result=node)
    assert not any(isinstance(i, TreeChanged) for i in out)
    assert labels(s, "/L/Generate", "/L/Execute", "/L", "/") == [
        "error",
        "blocked",  # nothing to execute: the generator failed
        "error",
        "error",
    ]
    assert s.idle


def test_lazy_generate_failure_is_retried_and_rerun() -> None:
    s = Scheduler(lazy_tree())
    act(s, "run")
    finish(s, "/L/Generate", State.ERROR)
    assert s.idle
    assert starts(act(s, "rerun")) == ["/L/Generate"]
    assert starts(finish(s, "/L/Generate", result=make_subtree())) == [
        "/L/Execute/x",
        "/L/Execute/y",
    ]


def test_reset_puts_a_lazy_back_to_its_placeholder() -> None:
    s = Scheduler(lazy_tree())
    act(s, "run")
    finish(s, "/L/Generate", result=make_subtree())
    finish(s, "/L/Execute/x")
    finish(s, "/L/Execute/y")
    finish(s, "/after")
    out = act(s, "reset")
    trees = [i for i in out if isinstance(i, TreeChanged)]
    assert [t.path for t in trees] == ["/L/Execute"]
    assert "children" not in trees[0].tree["root"]
    assert sorted(s.statuses()) == ["/", "/L", "/L/Execute", "/L/Generate", "/after"]
    assert labels(s, "/L/Execute", "/L/Generate", "/") == ["pending"] * 3
    assert starts(act(s, "run")) == ["/L/Generate"]


def test_reset_of_the_generated_subtree_itself_keeps_it() -> None:
    """Resetting /L/Execute alone cannot ungraft it (Generate stays done and would never run
    again): its Execs go back to pending instead."""
    s = Scheduler(lazy_tree())
    act(s, "run")
    finish(s, "/L/Generate", result=make_subtree())
    finish(s, "/L/Execute/x")
    finish(s, "/L/Execute/y")
    finish(s, "/after")
    out = act(s, "reset", "/L/Execute")
    assert not any(isinstance(i, TreeChanged) for i in out)
    assert labels(s, "/L/Execute/x", "/L/Execute", "/L") == ["pending", "pending", "pending"]
    assert starts(act(s, "run", "/L")) == ["/L/Execute/x", "/L/Execute/y"]


def nested_lazy() -> co.Node:
    with co.Serial() as t:
        co.Lazy(make_subtree, name="in")
    return t


def test_reset_of_nested_lazy_nodes() -> None:
    """Regression: the inner Lazy's slot was ungrafted after the outer one had removed it."""
    with co.Serial() as root:
        co.Lazy(nested_lazy, name="L")
    s = Scheduler(root)
    act(s, "run")
    finish(s, "/L/Generate", result=nested_lazy())
    finish(s, "/L/Execute/in/Generate", result=make_subtree())
    finish(s, "/L/Execute/in/Execute/x")
    finish(s, "/L/Execute/in/Execute/y")
    assert label(s, "/") == "done"
    out = act(s, "reset")
    assert [i.path for i in out if isinstance(i, TreeChanged)] == ["/L/Execute"]
    assert sorted(s.statuses()) == ["/", "/L", "/L/Execute", "/L/Generate"]
    assert starts(act(s, "run")) == ["/L/Generate"]
    finish(s, "/L/Generate", result=nested_lazy())
    assert label(s, "/L/Execute/in") == "queued"


def test_generate_finishing_while_its_tree_runs_is_an_error() -> None:
    """Regression: the graft asserted (crashed the core) when `Execute` was still running."""
    s = Scheduler(lazy_tree())
    act(s, "run")
    finish(s, "/L/Generate", result=make_subtree())
    act(s, "reset", "/L/Generate")
    assert starts(act(s, "run", "/L/Generate")) == ["/L/Generate"]  # an explicit run
    out = finish(s, "/L/Generate", result=make_subtree())
    assert not any(isinstance(i, TreeChanged) for i in out)
    assert labels(s, "/L/Generate", "/L/Execute/x") == ["error", "queued"]


def test_lazy_inside_a_reuse_subtree_keeps_its_group() -> None:
    with co.Serial(container_reuse_context=NEW) as root:
        co.Lazy(make_subtree, name="L")
    s = Scheduler(root)
    act(s, "run")
    out = finish(s, "/L/Generate", result=make_subtree())
    assert [(i.path, i.reuse_group) for i in out if isinstance(i, StartExec)] == [
        ("/L/Execute/x", "/")
    ]


# -- Serial order under actions: one child at a time ------------------------------------------
def test_unskip_of_an_earlier_child_waits_for_the_running_one() -> None:
    """Regression: unskipping child 0 while child 1 ran started child 0 beside it."""
    s = Scheduler(serial(3))
    act(s, "skip", "/e0")
    act(s, "run")
    assert starts(act(s, "unskip", "/e0")) == []
    assert starts(finish(s, "/e1")) == ["/e0"]
    assert starts(finish(s, "/e0")) == ["/e2"]


def test_rerun_of_an_earlier_failure_waits_for_the_running_child() -> None:
    """Regression: a rerun during a stop_on_error=False Serial ran two children at once."""
    s = Scheduler(serial(3, stop_on_error=False))
    act(s, "run")
    finish(s, "/e0", State.ERROR)
    assert starts(act(s, "rerun")) == []
    assert label(s, "/e0") == "pending"
    assert starts(finish(s, "/e1")) == ["/e0"]


def test_an_explicit_run_of_a_later_child_is_honoured() -> None:
    s = Scheduler(serial(3))
    act(s, "run")
    assert starts(act(s, "run", "/e2")) == ["/e2"]
    assert starts(finish(s, "/e0")) == []  # the Serial stays with the child at work
    assert starts(finish(s, "/e2")) == ["/e1"]


# -- the scale of the bookkeeping and the purity of the core ----------------------------------
def test_statuses_and_tree_statuses() -> None:
    s = Scheduler(serial(2))
    act(s, "skip", "/e1")
    assert s.statuses()["/e1"] == NodeStatus(State.PENDING, skipped=True)
    assert tree_statuses(s) == {"/": "pending", "/e0": "pending", "/e1": "pending-skipped"}


def test_the_core_does_no_io() -> None:
    allowed = {
        "__future__",
        "collections",
        "collections.abc",
        "dataclasses",
        "enum",
        "itertools",
        "typing",
    }
    src = pathlib.Path(co.__file__).parent
    for name in ("run/scheduler.py", "run/status_tree.py", "model/states.py"):
        tree = ast.parse((src / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods = {node.module or ""}
            else:
                continue
            assert mods <= allowed, f"{name} imports {mods - allowed}"


def test_a_lazy_whose_generate_is_skipped_is_an_empty_serial() -> None:
    """Nothing will ever fill its `Execute`: it is done (as an empty Serial), not pending, so an
    enclosing Serial goes on; unskip makes it wait for generation again."""
    s = Scheduler(lazy_tree())
    out = act(s, "skip", "/L/Generate")
    assert changes(out) == {
        "/L/Generate": ("pending", "pending-skipped"),
        "/L/Execute": ("pending", "done"),
        "/L": ("pending", "done"),
    }
    assert starts(act(s, "run")) == ["/after"]
    out = act(s, "unskip", "/L/Generate")
    assert labels(s, "/L/Execute", "/L") == ["pending", "pending"]
    assert starts(out) == []  # /after is at work: the Serial waits for it
    assert starts(finish(s, "/after")) == ["/L/Generate"]  # then the "/" run picks /L up


def test_a_serial_waits_while_the_user_runs_a_later_child() -> None:
    with co.Serial() as root:
        with co.Serial(name="s"):
            co.Exec("a", name="a")
            co.Exec("b", name="b")
        with co.Parallel(name="p"):
            co.Exec("c", name="c")
            co.Exec("d", name="d")
    s = Scheduler(root)
    act(s, "run")
    assert starts(act(s, "run", "/p/c")) == ["/p/c"]
    assert starts(finish(s, "/s/a")) == []  # neither /s/b beside /p nor /p/d before /s
    assert starts(finish(s, "/p/c")) == ["/s/b"]
    assert starts(finish(s, "/s/b")) == ["/p/d"]


def test_kill_of_a_child_of_a_serial_that_goes_on_after_errors() -> None:
    """A killed child is a failed child: without stop_on_error the Serial runs the rest."""
    s = Scheduler(serial(3, stop_on_error=False))
    act(s, "run")
    assert kills(act(s, "kill", "/e0")) == ["/e0"]
    assert starts(finish(s, "/e0", State.KILLED)) == ["/e1"]
    finish(s, "/e1")
    finish(s, "/e2")
    assert labels(s, "/e0", "/") == ["killed", "error"] and s.idle


# -- taking over a stored run -----------------------------------------------------------------
def test_restore_takes_over_a_stored_run() -> None:
    with co.Serial(stop_on_error=False) as root:
        co.Exec("a", name="a")
        with co.Parallel(name="p"):
            co.Exec("b", name="b")
            co.Exec("c", name="c", skip=False)
        co.Exec("d", name="d")
    stored = {
        "/": NodeStatus(State.RUNNING),  # containers derive: what the store says is not read
        "/a": NodeStatus(State.DONE),
        "/p/b": NodeStatus(State.RUNNING),  # its process died with the old owner
        "/p/c": NodeStatus(State.DONE, skipped=True),
        "/d": NodeStatus(State.PENDING),
        "/gone": NodeStatus(State.DONE),  # no longer in the tree: ignored
    }
    s = Scheduler(root)
    s.restore(stored, {"/a": 1, "/p/b": 3})
    assert s.idle
    assert labels(s, "/a", "/p/b", "/p/c", "/p", "/d", "/") == [
        "done",
        "error",
        "done-skipped",
        "error",
        "pending",
        "error",
    ]
    assert s.handle(ExecFinished("/p/b", 3, State.DONE)) == []  # the old run's report: stale
    out = act(s, "rerun")
    assert [(i.path, i.attempt) for i in out if isinstance(i, StartExec)] == [("/p/b", 4)]
    assert changes(out)["/p/b"] == ("error", "queued")  # published from the restored state
    assert starts(finish(s, "/p/b")) == ["/d"]


def test_restore_only_before_running() -> None:
    s = Scheduler(serial(1))
    act(s, "run")
    with pytest.raises(ActionError, match="has not run"):
        s.restore({}, {})


def test_a_run_held_back_by_a_cap_does_not_start_after_a_skip_above_it() -> None:
    """Regression: the waiting run of /s/t started /s/t/x inside the skipped /s."""
    with co.Parallel(max_concurrent=1) as root:
        co.Exec("a", name="a")
        with co.Serial(name="s"), co.Serial(name="t"):
            co.Exec("x", name="x")
    s = Scheduler(root)
    act(s, "run", "/a")
    assert starts(act(s, "run", "/s/t")) == []  # the cap is full
    act(s, "skip", "/s")
    assert starts(finish(s, "/a")) == [] and s.idle
    assert label(s, "/s/t/x") == "pending"


def test_execs_lists_every_exec_with_its_reuse_group_grafts_included() -> None:
    with co.Serial() as root:
        with co.Serial(name="box", container_reuse_context=NEW):
            co.Exec("a", name="a")
        co.Lazy(make_subtree, name="L")
    s = Scheduler(root)
    assert [(p, g) for p, _, g in s.execs()] == [("/box/a", "/box"), ("/L/Generate", None)]
    assert all(node is s.root[p] for p, node, _ in s.execs())
    act(s, "run")
    finish(s, "/box/a")
    finish(s, "/L/Generate", result=make_subtree())
    assert sorted(p for p, _, _ in s.execs()) == [
        "/L/Execute/x",
        "/L/Execute/y",
        "/L/Generate",
        "/box/a",
    ]


def test_a_global_subtree_inside_a_new_one_is_not_held_by_its_container() -> None:
    with co.Serial(container_reuse_context=NEW) as root:
        with co.Parallel(name="p"):
            co.Exec("a", name="a")
            co.Exec("b", name="b")
            with co.Serial(name="g", container_reuse_context=GLOBAL):
                co.Exec("c", name="c")
                co.Exec("d", name="d")
    s = Scheduler(root)
    out = act(s, "run")
    # One Exec of the container at a time; the GLOBAL subtree runs beside it, in the pools.
    assert starts(out) == ["/p/a", "/p/g/c"]
    out = finish(s, "/p/g/c")
    assert starts(out) == ["/p/g/d"]
    out = finish(s, "/p/a")
    assert starts(out) == ["/p/b"]


# -- fix and go on: a rerun resumes what its failure held back ---------------------------------
def ci_tree() -> co.Serial:
    with co.Serial() as root:
        co.Exec("pip install .", name="install")
        with co.Parallel(name="test"):
            co.Exec("pytest", name="unit")
            co.Exec("ruff check .", name="lint")
            co.Exec("pytest integration", name="integration")
        co.Exec("report", name="report")
    return root


def test_rerunning_the_failed_node_resumes_the_serial_it_stopped() -> None:
    s = Scheduler(ci_tree())
    act(s, "run")
    assert starts(finish(s, "/install")) == ["/test/unit", "/test/lint", "/test/integration"]
    finish(s, "/test/unit")
    finish(s, "/test/lint", State.ERROR)
    assert starts(finish(s, "/test/integration")) == []
    assert labels(s, "/test", "/report", "/") == ["error", "blocked", "error"]
    assert s.status("/report").blocked_by == "/test" and s.idle

    assert starts(act(s, "rerun", "/test/lint")) == ["/test/lint"]
    assert labels(s, "/report", "/") == ["pending", "queued"]  # waiting its turn, no longer held
    assert starts(finish(s, "/test/lint")) == ["/report"]
    finish(s, "/report")
    assert labels(s, "/") == ["done"] and s.idle


def test_a_rerun_that_fails_again_blocks_again() -> None:
    s = Scheduler(ci_tree())
    act(s, "run")
    finish(s, "/install")
    for path in ("/test/unit", "/test/integration"):
        finish(s, path)
    finish(s, "/test/lint", State.ERROR)
    act(s, "rerun", "/test/lint")
    assert starts(finish(s, "/test/lint", State.ERROR)) == []
    assert labels(s, "/report", "/") == ["blocked", "error"] and s.idle


def test_nested_serials_resume_one_after_the_other() -> None:
    with co.Serial() as root:
        with co.Serial(name="build"):
            co.Exec("a", name="a")
            co.Exec("b", name="b")
        co.Exec("c", name="c")
    s = Scheduler(root)
    act(s, "run")
    finish(s, "/build/a", State.ERROR)
    assert labels(s, "/build/b", "/c") == ["blocked", "blocked"]
    assert [s.status(p).blocked_by for p in ("/build/b", "/c")] == ["/build/a", "/build"]
    act(s, "rerun", "/build/a")
    assert starts(finish(s, "/build/a")) == ["/build/b"]
    assert starts(finish(s, "/build/b")) == ["/c"]
    finish(s, "/c")
    assert label(s, "/") == "done" and s.idle


def test_only_what_the_rerun_failure_held_back_resumes() -> None:
    with co.Serial() as root:
        with co.Parallel(name="p"):
            with co.Serial(name="s1"):
                co.Exec("a", name="a")
                co.Exec("b", name="b")
            with co.Serial(name="s2"):
                co.Exec("x", name="x")
                co.Exec("y", name="y")
        co.Exec("e", name="e")
    s = Scheduler(root)
    act(s, "run")
    finish(s, "/p/s1/a", State.ERROR)
    finish(s, "/p/s2/x", State.ERROR)
    act(s, "rerun", "/p/s1/a")
    assert starts(finish(s, "/p/s1/a")) == ["/p/s1/b"]
    assert starts(finish(s, "/p/s1/b")) == []  # /p/s2/x still failed: /e waits for it
    assert labels(s, "/p/s2/y", "/e") == ["blocked", "blocked"]
    assert s.status("/e").blocked_by == "/p" and s.idle
    assert starts(act(s, "rerun", "/p/s2/x")) == ["/p/s2/x"]
    assert starts(finish(s, "/p/s2/x")) == ["/p/s2/y"]
    assert starts(finish(s, "/p/s2/y")) == ["/e"]


def test_a_serial_that_goes_on_after_errors_blocks_nothing_and_resumes_above() -> None:
    with co.Serial() as root:
        with co.Serial(name="all", stop_on_error=False):
            co.Exec("a", name="a")
            co.Exec("b", name="b")
        co.Exec("c", name="c")
    s = Scheduler(root)
    act(s, "run")
    assert starts(finish(s, "/all/a", State.ERROR)) == ["/all/b"]
    finish(s, "/all/b")
    assert labels(s, "/all/b", "/c") == ["done", "blocked"]
    act(s, "rerun", "/all/a")
    assert starts(finish(s, "/all/a")) == ["/c"]


def test_rerunning_a_reuse_subtree_resumes_what_follows_it() -> None:
    s = Scheduler(reuse_tree())
    act(s, "run")
    finish(s, "/box/a", State.ERROR)
    assert labels(s, "/box/b", "/after") == ["blocked", "blocked"]
    assert starts(act(s, "rerun", "/box/c")) == ["/box/a"]  # the whole container again
    assert starts(finish(s, "/box/a")) == ["/box/b"]
    assert starts(finish(s, "/box/b")) == ["/box/c"]
    assert starts(finish(s, "/box/c")) == ["/after"]


def test_a_rerun_after_a_kill_goes_on_to_the_end() -> None:
    s = Scheduler(serial(3))
    act(s, "run")
    act(s, "kill", "/")
    finish(s, "/e0", State.KILLED)
    assert labels(s, "/e0", "/e1", "/") == ["killed", "blocked", "error"] and s.idle
    act(s, "rerun", "/e0")
    assert starts(finish(s, "/e0")) == ["/e1"]


def test_a_suppressed_failure_blocks_inside_its_serial_only() -> None:
    with co.Serial() as root:
        with co.Serial(name="lenient", suppress_errors=True):
            co.Exec("a", name="a")
            co.Exec("b", name="b")
        co.Exec("c", name="c")
    s = Scheduler(root)
    act(s, "run")
    assert starts(finish(s, "/lenient/a", State.ERROR)) == ["/c"]
    assert labels(s, "/lenient/b", "/lenient", "/c") == ["blocked", "done", "queued"]


@pytest.mark.parametrize("state", list(State))
def test_how_a_node_counts_in_its_parent_is_the_category_of_its_status(state: State) -> None:
    """NodeInfo.category, worked out from its fields, is how its status counts: a blocked
    node's status says blocked, its state pending, and both count as pending."""
    for skipped, suppress, blocked_by in itertools.product(
        (False, True), (False, True), (None, "/x")
    ):
        info = NodeInfo(Exec("true"), "/a", None, True, False, skipped, suppress, state=state)
        info.blocked_by = blocked_by
        status = info.status
        assert info.category is child_category(status.state, status.skipped, suppress)
