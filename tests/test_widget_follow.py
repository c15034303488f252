"""A graph shown for a tree follows the runs started from that tree object anywhere: another
cell's `root.start()`, `root.run()`, a detached start (read from the store), its own ▶ button;
a closed widget is never called and keeps no tree alive. The comm records what the widget sends
(tests/widget_kit.py); pipelines run for real on the local backend, and the display's update at
the end of a run is checked in a real kernel."""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import threading
import time
import weakref
from typing import Any

import pytest

import conducto_nb as co

if os.environ.get("CI"):
    import anywidget  # noqa: F401  (CI installs the [lab] extra: a skip must not hide it)
else:
    pytest.importorskip("anywidget", reason="pip install 'conducto_nb[lab]'")


from conducto_nb.run import launch
from conducto_nb.widget import encode as E
from conducto_nb.widget.feed import INTERVAL
from conducto_nb.widget.follow import followers
from tests.widget_kit import RecordingComm, finished, wait_for, widget_of


def two_steps(first: str = "sleep 0.6") -> co.Serial:
    with co.Serial() as root:
        co.Exec(first, name="a")
        co.Exec("echo b", name="b")
    return root


def seen_states(sent: RecordingComm, path_index: int) -> list[str]:
    """Every state letter the browser was sent for one node (full trees and diffs, in order)."""
    letters: list[str] = []
    for _, _, data in sent.sent:
        state = data.get("state", {})
        if "tree" in state and "states" in state["tree"]:
            letters.append(state["tree"]["states"][path_index])
        path = ["/", "/a", "/b"][path_index]
        if "diff" in state and path in state["diff"].get("s", {}):
            letters.append(state["diff"]["s"][path])
    return [x for i, x in enumerate(letters) if i == 0 or letters[i - 1] != x]


def test_a_tree_widget_follows_a_start_from_another_cell(recording: None) -> None:
    root = two_steps()
    w, sent = widget_of(root)
    assert w.header["kind"] == "node"
    run = root.start()  # the user's next cell: not the widget's button
    wait_for(lambda: sent.updates("header")[-1]["id"] == run.id)
    assert w.subject is run and sent.updates("header")[-1]["kind"] == "run"
    wait_for(lambda: finished(sent), 30)
    assert w.get_state()["tree"]["states"] == "ddd"
    assert seen_states(sent, 1)[:1] == ["p"] and seen_states(sent, 1)[-2:] == ["r", "d"]
    w.close()


def test_every_widget_of_that_object_follows_each_start_and_a_run_widget_stays(
    recording: None,
) -> None:
    root = two_steps("true")
    w1, sent1 = widget_of(root)
    w2, sent2 = widget_of(root)
    other, other_sent = widget_of(two_steps("true"))  # an equal tree, another object
    w1.act("run", "/")  # the ▶ button of one: the same hand-over for both
    first = w1.subject
    assert isinstance(first, co.Run) and w2.subject is first
    pinned, pinned_sent = widget_of(first)  # a run shown on its own
    first.wait(30)
    second = root.run()  # blocking, in the test thread
    for sent in (sent1, sent2):
        wait_for(lambda s=sent: s.updates("header")[-1]["id"] == second.id)  # type: ignore[misc]
        wait_for(lambda s=sent: finished(s))  # type: ignore[misc]
    assert w1.subject is second and w2.subject is second
    assert pinned.subject is first and pinned_sent.updates("header")[-1]["id"] == first.id
    assert other.header["kind"] == "node" and other_sent.updates("header")[-1]["kind"] == "node"
    for w in (w1, w2, other, pinned):
        w.close()


def test_a_closed_widget_is_not_called_and_keeps_no_tree_alive(recording: None) -> None:
    root = two_steps("true")
    w, sent = widget_of(root)
    time.sleep(INTERVAL * 2)
    w.close()
    assert followers(root) == []
    before = len(sent.sent)
    run = root.start()
    run.wait(30)
    time.sleep(INTERVAL * 3)
    assert len(sent.sent) == before and w.subject is root and w.header["kind"] == "node"

    tree, widget = weakref.ref(root), weakref.ref(w)
    del root, w, sent
    gc.collect()
    assert widget() is None, "a closed widget is not kept"
    assert tree() is None, "nor its tree"


def test_a_detached_start_is_followed_through_the_store(recording: None) -> None:
    root = two_steps("echo elsewhere; sleep 1")
    w, sent = widget_of(root)
    run = root.start(detach=True)  # another process owns it
    wait_for(lambda: sent.updates("header")[-1]["id"] == run.id)
    assert sent.updates("header")[-1]["kind"] == "store"
    wait_for(lambda: finished(sent), 60)
    assert w.get_state()["tree"]["states"] == "ddd"
    w.close()


def test_a_start_from_another_thread_while_the_widget_acts(recording: None) -> None:
    """Starts from two threads at once (a cell, the ▶ button on a comm thread): the widget
    ends on one of the two runs, with that run's states, and both runs finish."""
    root = two_steps("true")
    w, sent = widget_of(root)
    started: list[co.Run] = []
    launch.ON_START.append(lambda _root, run: started.append(run))
    try:
        thread = threading.Thread(target=root.start)
        thread.start()
        w.act("run", "/")
        thread.join(30)
    finally:
        launch.ON_START.pop()
    assert len(started) == 2 and any(w.subject is run for run in started)
    for run in started:
        run.wait(30)
    assert isinstance(w.subject, co.Run)
    # (the pump may still owe the handover's header: the other run's end came first)
    wait_for(lambda: finished(sent) and sent.updates("header")[-1]["id"] == w.subject.id)
    assert w.get_state()["tree"]["states"] == "ddd"
    w.close()


def test_a_failing_start_hook_does_not_lose_the_run() -> None:
    def broken(root: co.Node, run: co.Run) -> None:
        raise RuntimeError("hook bug")

    launch.ON_START.append(broken)
    try:
        with pytest.warns(UserWarning, match="hook bug"):
            run = two_steps("true").start()
        assert run.wait(30).state is co.State.DONE
    finally:
        launch.ON_START.remove(broken)


def test_a_kernel_updates_the_tree_cell_when_a_start_from_another_cell_ends() -> None:
    """In a real kernel: cell 1 shows `root`, cell 2 runs it; cell 1's display is re-sent
    (update_display, same display id) with the run's final states for viewers without a
    kernel, and its widget model is the one that now follows the run."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        shown: list[dict[str, Any]] = []
        kc.execute_interactive(
            "import conducto_nb as co\n"
            "with co.Serial() as root:\n"
            "    co.Exec('sleep 0.5; exit 2', name='fails')\n"
            "root",
            output_hook=shown.append,
            timeout=60,
        )
        display = next(m for m in shown if m["msg_type"] == "display_data")["content"]
        display_id = display["transient"]["display_id"]
        assert "not run yet" in display["data"].get("image/svg+xml", "not run yet")
        msgs: list[dict[str, Any]] = []
        kc.execute_interactive(
            "run = root.start(backend='local')\nrun.wait(30)\nNone",
            output_hook=msgs.append,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        while not any(m["msg_type"] == "update_display_data" for m in msgs):
            assert time.monotonic() < deadline, [m["msg_type"] for m in msgs]
            with contextlib.suppress(Exception):  # queue.Empty: nothing within the second
                msgs.append(kc.get_iopub_msg(timeout=1))
        update = next(m for m in msgs if m["msg_type"] == "update_display_data")["content"]
        assert update["transient"]["display_id"] == display_id
        text = update["data"]["text/plain"]
        assert text.startswith("<Run ") and "error" in text.splitlines()[0]
        model = display["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
        assert update["data"]["application/vnd.jupyter.widget-view+json"]["model_id"] == model
        if shutil.which("dot"):
            assert E.COLOURS["error"] in update["data"]["image/svg+xml"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
