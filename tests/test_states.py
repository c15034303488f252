"""Node states, skip as a flag beside them, and how a parent's state derives from its children."""

from __future__ import annotations

import pytest

from conducto_nb.model.states import (
    ACTIVE,
    FAILED,
    FINISHED,
    NodeStatus,
    State,
    StateChanged,
    TreeChanged,
    child_category,
    count_categories,
    derive_state,
)


def derive(*children: State, suppress: bool = False, awaiting: bool = False) -> State:
    return derive_state(
        count_categories(children), suppress_errors=suppress, awaiting_generation=awaiting
    )


def test_state_values_are_the_names_viewers_show() -> None:
    assert [s.value for s in State] == [
        "pending",
        "blocked",
        "queued",
        "running",
        "done",
        "error",
        "worker_error",
        "killed",
    ]


def test_state_groups() -> None:
    assert {State.QUEUED, State.RUNNING} == ACTIVE
    assert {State.ERROR, State.WORKER_ERROR, State.KILLED} == FAILED
    assert FAILED | {State.DONE} == FINISHED
    assert State.PENDING not in ACTIVE | FINISHED


@pytest.mark.parametrize(
    ("status", "label"),
    [
        (NodeStatus(), "pending"),
        (NodeStatus(State.DONE), "done"),
        (NodeStatus(State.WORKER_ERROR), "worker_error"),
        (NodeStatus(State.DONE, skipped=True), "done-skipped"),
        (NodeStatus(State.PENDING, skipped=True), "pending-skipped"),
        (NodeStatus(State.ERROR, skipped=True), "error-skipped"),
    ],
)
def test_label_shows_skip_beside_the_state(status: NodeStatus, label: str) -> None:
    assert status.label == label


def test_unskip_is_clearing_the_flag() -> None:
    skipped = NodeStatus(State.DONE, skipped=True)
    assert NodeStatus(skipped.state) == NodeStatus(State.DONE)
    assert skipped != NodeStatus(State.DONE)


def test_running_beats_queued_beats_everything_else() -> None:
    assert derive(State.RUNNING, State.QUEUED, State.ERROR, State.PENDING) is State.RUNNING
    assert derive(State.QUEUED, State.ERROR, State.PENDING, State.DONE) is State.QUEUED
    assert derive(State.QUEUED, State.QUEUED) is State.QUEUED


@pytest.mark.parametrize("failure", sorted(FAILED))
def test_any_failure_is_an_error_unless_suppressed(failure: State) -> None:
    assert derive(State.DONE, failure, State.PENDING) is State.ERROR
    assert derive(State.DONE, failure, State.PENDING, suppress=True) is State.DONE
    assert derive(failure, State.RUNNING, suppress=True) is State.RUNNING


def test_done_when_nothing_is_pending() -> None:
    assert derive(State.DONE, State.DONE) is State.DONE
    assert derive(State.DONE, State.PENDING) is State.PENDING
    assert derive(State.PENDING) is State.PENDING


def test_empty_container_is_done_but_awaiting_generation_is_pending() -> None:
    assert derive() is State.DONE
    assert derive(awaiting=True) is State.PENDING
    assert derive(State.DONE, awaiting=True) is State.PENDING
    assert derive(State.ERROR, awaiting=True) is State.ERROR


@pytest.mark.parametrize("state", list(State))
def test_skipped_child_does_not_count(state: State) -> None:
    assert child_category(state, True, suppress_errors=False) is None
    assert child_category(state, True, suppress_errors=True) is None


@pytest.mark.parametrize("state", list(State))
def test_a_failed_child_that_suppresses_errors_counts_as_done(state: State) -> None:
    expected = State.DONE if state in FAILED else state
    if state is State.BLOCKED:  # pending, held back by an earlier failure: pending to its parent
        expected = State.PENDING
    assert child_category(state, False, suppress_errors=True) is expected
    assert child_category(state, False, suppress_errors=False) is (
        State.PENDING if state is State.BLOCKED else state
    )


def test_count_categories_leaves_out_skipped() -> None:
    cats = [State.DONE, None, State.DONE, State.ERROR, None]
    assert count_categories(cats) == {State.DONE: 2, State.ERROR: 1}


def test_events_are_frozen_values() -> None:
    change = StateChanged("/a", NodeStatus(), NodeStatus(State.QUEUED))
    assert change == StateChanged("/a", NodeStatus(), NodeStatus(State.QUEUED))
    with pytest.raises(AttributeError):
        change.path = "/b"  # type: ignore[misc]
    tree = TreeChanged("/L/Execute", {"format": "x", "root": {"type": "Serial"}})
    assert "root" not in repr(tree)  # the subtree can be large: kept out of logs


def test_a_state_reads_as_its_value() -> None:
    assert State("worker_error") is State.WORKER_ERROR
    assert State.DONE == "done" and str(State.DONE) == "done" and f"{State.KILLED}" == "killed"
