"""The graph widget's Python side, without a browser: the tree's encoding and its size, state
diffs and their coalescing, the collapse rule, the panel's messages and actions, the pipeline's
co.Images and their logs, the static SVG, the display hooks, and a run followed from the store.
The widget's comm is a recording one (tests/widget_kit.py); pipelines run for real on the local
backend (tests/docker/test_widget_images.py builds images for real)."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import conducto_nb as co
from conducto_nb.model.states import NodeStatus, State, StateChanged

if os.environ.get("CI"):
    import anywidget  # noqa: F401  (CI installs the [lab] extra: a skip must not hide it)
else:
    pytest.importorskip("anywidget", reason="pip install 'conducto_nb[lab]'")


from conducto_nb.widget import encode as E
from conducto_nb.widget.feed import INTERVAL
from conducto_nb.widget.markdown import BlockScanner, to_html
from conducto_nb.widget.static_svg import to_dot
from tests.widget_kit import finished, image_state, wait_for, widget_of


def decode(tree: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """The browser's decoding (src/tree.ts), in Python: path -> (kind, parent path)."""
    names, kinds, nkids = tree["names"].split("/"), tree["kinds"], list(tree["nkids"])
    out: dict[str, tuple[str, str | None]] = {tree["base"]: (kinds[0], None)}
    paths = [tree["base"]]
    stack: list[list[int]] = [[0, nkids.pop(0)]] if kinds[0] != "E" else []
    for i in range(1, len(kinds)):
        while stack[-1][1] == 0:
            stack.pop()
        parent = stack[-1][0]
        stack[-1][1] -= 1
        prefix = "" if paths[parent] == "/" else paths[parent]
        paths.append(f"{prefix}/{names[i]}")
        out[paths[i]] = (kinds[i], paths[parent])
        if kinds[i] != "E":
            stack.append([i, nkids.pop(0)])
    return out


def sample() -> co.Serial:
    with co.Serial(title="sample") as root:
        co.Exec("echo a", name="a")
        with co.Parallel(name="p"):
            co.Exec("echo b", name="b", skip=True)
            co.Lazy(lambda: co.Serial(), name="lazy")
        co.Serial(name="empty")
    return root


def big(parallels: int = 100, each: int = 99) -> co.Serial:
    with co.Serial() as root:
        for j in range(parallels):
            with co.Parallel(name=f"p{j}"):
                for k in range(each):
                    co.Exec("true", name=f"n{k}")
    return root


# -- encoding ----------------------------------------------------------------------------------
def test_the_tree_round_trips_through_its_columnar_form(recording: None) -> None:
    root = sample()
    w, sent = widget_of(root)
    tree = sent.sent[0][2]["state"]["tree"]  # what the comm opened with
    decoded = decode(tree)
    assert list(decoded) == [n.path for n in root.walk()]
    assert decoded["/p/lazy"] == ("L", "/p") and decoded["/empty"] == ("S", "/")
    assert tree["titles"] == {"0": "sample"}
    assert tree["states"] == "pppPpppp"  # the skipped Exec in upper case
    w.close()


def test_a_subtree_keeps_its_paths(recording: None) -> None:
    w, sent = widget_of(sample()["/p"])
    assert list(decode(sent.sent[0][2]["state"]["tree"])) == [
        "/p",
        "/p/b",
        "/p/lazy",
        "/p/lazy/Generate",
        "/p/lazy/Execute",
    ]
    w.close()


def test_ten_thousand_nodes_open_in_under_200_kB(recording: None) -> None:
    w, sent = widget_of(big())
    opened = json.dumps(sent.sent[0][2])
    tree = json.dumps(sent.sent[0][2]["state"]["tree"])
    print(f"10,001 nodes: {len(opened) / 1000:.0f} kB opened, {len(tree) / 1000:.0f} kB the tree")
    assert len(opened) < 200_000
    w.close()


# -- collapse ----------------------------------------------------------------------------------
def test_big_containers_show_their_children_in_groups() -> None:
    assert E.groups(50) is None
    assert E.groups(120) == [(0, 50), (50, 100), (100, 120)]
    assert E.groups(10_000) == [(0, 2500), (2500, 5000), (5000, 7500), (7500, 10_000)]
    assert len(E.groups(2500) or []) == 50  # a range opens into ranges again


def shown(flat: E.Flat, open_: set[int]) -> int:
    """Boxes drawn when `open_` containers are open (and no group)."""
    count, stack = 1, [0]
    while stack:
        i = stack.pop()
        if i in open_:
            ranges = E.groups(len(flat.kids[i]))
            count += len(ranges) if ranges else len(flat.kids[i])
            if not ranges:
                stack.extend(flat.kids[i])
    return count


def test_a_small_tree_shows_open_and_a_big_one_within_the_budget() -> None:
    small = E.flatten(sample())
    assert E.expanded(small) == {0, 2, 4}  # root, p, the Lazy; `empty` has nothing to open
    for flat in (E.flatten(big()), E.flatten(big(10, 200)), E.flatten(big(400, 20))):
        open_ = E.expanded(flat)
        assert 0 in open_ and shown(flat, open_) <= E.BUDGET
    wide = E.flatten(big(10, 20))  # 221 nodes: all of it fits
    assert shown(wide, E.expanded(wide)) == len(wide)


# -- states, diffs, coalescing ------------------------------------------------------------------
def test_diffs_carry_only_changes_and_replay_to_the_final_states(recording: None) -> None:
    with co.Serial() as root:
        for j in range(3):
            with co.Parallel(name=f"p{j}"):
                for k in range(20):
                    co.Exec(f"echo {k}", name=f"n{k}")
    w, sent = widget_of(root)
    w.act("run", "/")
    run = w.subject
    assert isinstance(run, co.Run)
    run.wait(60)
    wait_for(lambda: finished(sent))
    trees = sent.updates("tree")
    states = dict(zip(decode(trees[-1]), trees[-1]["states"], strict=True))
    seq = trees[-1]["seq"]
    for diff in sent.updates("diff"):
        if diff["seq"] > seq:
            assert all(states[p] != s for p, s in diff["s"].items()), "a diff repeats no state"
            states.update(diff["s"])
            seq = diff["seq"]
    assert states == {p: E.code(s) for p, s in run.record.statuses().items()}
    # Updates only: the comm's opening message carries a diff too, but is not a flush.
    times = [t for t, kind, d in sent.sent if kind == "comm_msg" and "diff" in d.get("state", {})]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps, default=INTERVAL) >= INTERVAL * 0.9, f"at most one diff per interval: {gaps}"
    w.close()


def test_a_burst_of_events_is_one_diff_of_net_states(recording: None) -> None:
    root = big(10, 99)
    w, sent = widget_of(root)
    time.sleep(INTERVAL * 2)  # the first flush (nothing to send) is behind us
    before = len(sent.updates("diff"))
    paths = [n.path for n in root.walk()][1:]
    for state in (State.QUEUED, State.RUNNING, State.DONE):
        for path in paths:
            w._feed(StateChanged(path, NodeStatus(), NodeStatus(state)))
    wait_for(lambda: len(sent.updates("diff")) > before)
    time.sleep(INTERVAL * 2)
    diffs = sent.updates("diff")[before:]
    assert len(diffs) <= 2, "3,000 events in a few milliseconds: one diff, two at most"
    net: dict[str, str] = {}
    for diff in diffs:
        net.update(diff["s"])
    assert len(net) == 1000 and set(net.values()) == {"d"}
    assert sum(len(json.dumps(d)) for d in diffs) < 40_000
    w.close()


def test_a_lazy_graft_sends_the_grown_tree(recording: None) -> None:
    def shards(n: int) -> co.Parallel:
        with co.Parallel() as p:
            for i in range(n):
                co.Exec(f"echo shard {i}", name=f"shard-{i}")
        return p

    with co.Serial() as root:
        co.Lazy(shards, 3, name="lazy")
    w, sent = widget_of(root)
    w.act("run", "/")
    assert isinstance(w.subject, co.Run)
    w.subject.wait(30)
    wait_for(lambda: finished(sent))
    tree = sent.updates("tree")[-1]
    assert "/lazy/Execute/shard-2" in decode(tree)
    assert w.get_state()["tree"]["states"] == "d" * 7
    w.close()


def test_a_full_state_carries_the_current_states(recording: None) -> None:
    """What a reloaded page asks for (`request_state`): the tree with the states of now."""
    with co.Serial() as root:
        co.Exec("echo 1", name="one")
    w, _ = widget_of(root)
    w.act("run", "/")
    assert isinstance(w.subject, co.Run)
    w.subject.wait(30)
    tree = w.get_state()["tree"]
    assert tree["states"] == "dd" and tree["seq"] >= 0
    w.close()


# -- the panel: details, output, actions ------------------------------------------------------
def test_an_open_panel_gets_details_and_only_its_own_output(recording: None) -> None:
    with co.Serial(env={"WHO": "me"}) as root:
        co.Exec(
            "sleep 0.5; for i in 1 2 3; do echo out-$i; sleep 0.2; done", name="watched", doc="*hi*"
        )
        co.Exec("sleep 0.5; echo unwatched; sleep 0.5", name="other")
    w, sent = widget_of(root)
    w.act("run", "/")
    sent.receive({"type": "watch", "path": "/watched"})
    wait_for(
        lambda: (
            any("out-3" in m["stdout"] for m in sent.custom("detail"))
            or any("out-3" in m["text"] for m in sent.custom("out"))
        )
    )
    detail = sent.custom("detail")[0]
    assert detail["path"] == "/watched" and detail["command"].startswith("sleep 0.5;")
    assert detail["doc_html"] == "<p><em>hi</em></p>\n"
    env = next(p for p in detail["params"] if p["name"] == "env")
    assert env == {"name": "env", "value": {"WHO": "me"}, "source": "/", "own": False}
    assert "run" in detail["actions"] and "modify" in detail["actions"]
    streamed = "".join(m["stdout"] for m in sent.custom("detail")[-1:]) + "".join(
        m["text"] for m in sent.custom("out") if m["path"] == "/watched"
    )
    assert "out-1\nout-2\nout-3" in streamed
    assert isinstance(w.subject, co.Run)
    w.subject.wait(30)
    time.sleep(INTERVAL * 2)
    assert all(m["path"] == "/watched" for m in sent.custom("out"))
    w.close()


def test_an_open_panel_lists_the_callbacks_that_fired(recording: None) -> None:
    with co.Serial() as root:
        step = co.Exec('test "$CONDUCTO_NB_ATTEMPT" -ge 2', name="step")
        step.on_error(co.callback.retry(2))
    w, sent = widget_of(root)
    sent.receive({"type": "watch", "path": "/step"})
    w.act("run", "/")
    assert isinstance(w.subject, co.Run)
    w.subject.wait(30)
    wait_for(lambda: any(m.get("callbacks") for m in sent.custom("detail")))
    [fired] = [m for m in sent.custom("detail") if m.get("callbacks")][-1]["callbacks"]
    assert (fired["event"], fired["label"], fired["ok"], fired["message"]) == (
        "error",
        "retry(max_num_retries=2)",
        True,
        "retry 1 of 2",
    )
    w.close()


def test_actions_and_modify_from_the_panel(recording: None) -> None:
    with co.Serial() as root:
        co.Exec("echo broken; exit 1", name="step")
    w, sent = widget_of(root)
    sent.receive({"type": "act", "action": "rerun", "path": "/"})
    acted = sent.custom  # the first action of a tree that has not run: only "run" works
    wait_for(lambda: acted("acted"))
    assert acted("acted")[0]["ok"] is False and "run" in acted("acted")[0]["error"]
    sent.receive({"type": "act", "action": "run", "path": "/"})
    run = w.subject
    wait_for(lambda: isinstance(w.subject, co.Run))
    run = w.subject
    assert isinstance(run, co.Run)
    run.wait(30)
    assert run["/step"].state is State.ERROR
    sent.receive(
        {"type": "modify", "path": "/step", "command": "echo fixed-$X", "env": '{"X": "1"}'}
    )
    wait_for(lambda: run.record.status("/step").state is State.DONE and run.done)
    assert run["/step"].stdout == "fixed-1\n"
    sent.receive({"type": "modify", "path": "/step", "command": None, "env": "[1]"})
    wait_for(lambda: len(acted("acted")) >= 4)
    assert acted("acted")[-1]["ok"] is False and "JSON object" in acted("acted")[-1]["error"]
    w.close()


def test_modify_checks_before_it_changes_anything() -> None:
    with co.Serial() as root:
        co.Exec("sleep 30", name="long")
        co.Exec(len, "abc", name="call")
    run = root.start()
    wait_for(lambda: run["/long"].state is State.RUNNING)
    with pytest.raises(co.ActionError, match="kill it first"):
        run.modify("/long", command="true")
    run.kill()
    run.wait(30)
    with pytest.raises(co.ActionError, match="callable"):
        run.modify("/call", command="true")
    with pytest.raises(co.ParameterError):
        run.modify("/long", command="echo new", env={"1BAD": "x"})
    assert run.tree["/long"].command == "sleep 30"  # nothing changed
    run.modify("/long", command="echo new").wait(30)
    assert run["/long"].stdout == "new\n"


def test_observe_and_stop_observing_a_live_run() -> None:
    seen: list[object] = []
    with co.Serial() as root:
        co.Exec("sleep 0.5; echo 1", name="one")
    run = root.start()
    stop = run.observe(seen.append)
    run.wait(30)
    stop()
    count = len(seen)
    run.rerun("/").wait(30)  # nothing failed: nothing to do
    run.reset("/")
    time.sleep(0.2)
    assert count and len(seen) == count


# -- co.Images and the NEW reuse notice -------------------------------------------------------
def imaged() -> co.Serial:
    tools = co.Image("busybox:latest", install_packages=["curl"], name="tools")
    with co.Serial(image=tools) as root:
        with co.Serial(name="app", container_reuse_context=co.ContainerReuseContext.NEW):
            co.Exec("echo app", name="test")
            with co.Serial(name="free", container_reuse_context=co.ContainerReuseContext.GLOBAL):
                co.Exec("echo free", name="x")
        co.Exec("echo other", name="other", image="busybox:latest")  # a plain name: no build
    return root


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs started here (from a panel too) use the local backend, whatever daemon answers."""
    monkeypatch.setenv("CONDUCTO_NB_BACKEND", "local")


def test_a_tree_not_run_yet_shows_its_images_pending_then_unused_on_the_local_backend(
    recording: None, local: None
) -> None:
    w, sent = widget_of(imaged())
    [opened] = sent.sent[0][2]["state"]["images"]
    assert opened["label"] == "tools (busybox:latest + packages: curl)"
    assert (opened["state"], opened["n"], opened["message"]) == (
        "pending",
        2,  # /app/test and /app/free/x: /other names an image, it builds none
        "built when the pipeline starts",
    )
    sent.receive({"type": "watch_image", "key": opened["key"]})
    wait_for(lambda: sent.custom("image"))
    assert sent.custom("image")[0] == {
        "type": "image",
        "key": opened["key"],
        "nodes": ["/app/test", "/app/free/x"],
        "more": 0,
        "log": "",
    }
    w.act("run", "/")
    assert isinstance(w.subject, co.Run)
    w.subject.wait(30)
    wait_for(lambda: finished(sent) and sent.updates("images")[-1][0]["state"] == "unused")
    final = sent.updates("images")[-1][0]
    assert final["key"] == opened["key"] and final["n"] == 2
    assert (
        final["message"]
        == "the local backend uses only an image's code and pip packages, and this one has neither"
    )
    assert [[i["state"] for i in u] for u in sent.updates("images")] == [["pending"], ["unused"]]
    assert not sent.custom("ilog"), "the local backend builds nothing: no log"
    w.close()


def test_a_run_read_from_the_store_carries_its_images(recording: None, local: None) -> None:
    run = imaged().start(detach=True)  # another process owns it: the widget reads the store
    w, sent = widget_of(co.load(run.id))
    assert w.header["kind"] == "store"
    wait_for(lambda: finished(sent), 60)
    [image] = sent.updates("images")[-1]
    assert image["state"] == "unused" and image["n"] == 2
    w.close()


def test_a_node_panel_names_its_images_and_the_new_subtree_its_actions_act_on(
    recording: None,
) -> None:
    root = imaged()
    w, sent = widget_of(root)
    for path in ("/app/test", "/app", "/app/free/x", "/other", "/"):
        sent.receive({"type": "watch", "path": path})
    wait_for(lambda: len(sent.custom("detail")) >= 5)
    details = {d["path"]: d for d in sent.custom("detail")}
    assert details["/app/test"]["reuse_root"] == "/app"
    for path in ("/app", "/app/free/x", "/other", "/"):
        assert "reuse_root" not in details[path], path  # the root itself; GLOBAL escapes; outside
    [key] = [i["key"] for i in w.images]
    assert details["/app/test"]["images"] == [key] and details["/app/free/x"]["images"] == [key]
    assert details["/other"]["images"] == [] and details["/app"]["images"] == []
    w.close()


def test_image_logs_are_sent_only_while_their_panel_is_open(recording: None, local: None) -> None:
    """Build log lines published as the runner publishes them (its ImageBuilds' `publish`, on
    the loop): the panel gets the log so far when it opens, then only what was appended."""
    from conducto_nb.model.states import ImageChanged, ImageLog, ImageState
    from conducto_nb.run.loop import background_loop

    with co.Serial() as root:
        co.Exec("sleep 30", name="long")
    w, sent = widget_of(root)
    w.act("run", "/")
    run = w.subject
    assert isinstance(run, co.Run) and run._execution is not None
    ex = run._execution

    def publish(event: object) -> None:
        background_loop().call(ex.images.publish, event)

    building = ImageChanged("k1", "demo", ImageState.BUILDING, ("/long",), started=time.time())
    publish(building)
    publish(ImageLog("k1", "step 1\n"))
    wait_for(lambda: image_state(sent, "k1") == "building")
    time.sleep(INTERVAL * 2)
    assert not sent.custom("ilog"), "nobody watches: no log goes out"

    sent.receive({"type": "watch_image", "key": "k1"})
    wait_for(lambda: sent.custom("image"))
    assert sent.custom("image")[-1]["log"] == "step 1\n"  # the log so far, once
    publish(ImageLog("k1", "step 2\n"))
    publish(ImageLog("k1", "step 3\n"))
    wait_for(lambda: "step 3" in "".join(m["text"] for m in sent.custom("ilog")))
    assert [m["text"] for m in sent.custom("ilog")] in (
        ["step 2\nstep 3\n"],
        ["step 2\n", "step 3\n"],
    )
    publish(dataclasses.replace(building, state=ImageState.DONE, tag="t:1", ended=time.time()))
    wait_for(lambda: image_state(sent, "k1") == "done")
    time.sleep(INTERVAL * 2)
    assert len(sent.custom("image")) == 1, "a state change goes in the trait; the log stays put"

    sent.receive({"type": "unwatch_image", "key": "k1"})
    time.sleep(INTERVAL * 2)
    before = len(sent.custom("ilog"))
    publish(ImageLog("k1", "step 4\n"))
    time.sleep(INTERVAL * 3)
    assert len(sent.custom("ilog")) == before, "closed: no more log"
    run.kill()
    run.wait(30)
    w.close()


# -- a run another process owns ----------------------------------------------------------------
def test_a_run_owned_elsewhere_is_followed_through_the_store(recording: None) -> None:
    with co.Serial() as root:
        co.Exec("echo elsewhere; sleep 1.5", name="a")
        co.Exec("echo b", name="b")
    run = root.start(detach=True)
    w, sent = widget_of(co.load(run.id))
    assert w.header["kind"] == "store"
    sent.receive({"type": "watch", "path": "/a"})
    wait_for(lambda: finished(sent), 60)
    final = w.get_state()["tree"]["states"]
    assert final == "ddd"
    texts = [m["stdout"] for m in sent.custom("detail")] + [m["text"] for m in sent.custom("out")]
    assert "elsewhere\n" in "".join(texts)
    w.close()


# -- markdown, static SVG, display hooks --------------------------------------------------------
def test_markdown_blocks_in_a_stream_and_their_safe_html() -> None:
    scanner = BlockScanner()
    assert scanner.feed("text <ConductoMar") == []
    assert scanner.feed("kdown># Title\n![img](data:image/png;base64,AA)") == []
    assert scanner.feed("</ConductoMarkdown> more") == ["# Title\n![img](data:image/png;base64,AA)"]
    html = to_html("<script>x</script> [a](javascript:alert(1)) ![i](https://e/x.png)")
    assert (
        "<script>" not in html
        and 'href="javascript' not in html
        and '<img src="https://e/x.png"' in html
    )


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))


def show_from_data(go: str) -> None:
    """A step as Conducto's examples wrote it: an image put in co.data, shown by its url()
    (once the file `go` says the panel is open; running until `go`.end says the block came,
    so it streams to the panel rather than coming in the detail of a step that ended)."""
    import os
    import time

    import conducto_nb as co

    def wait(path: str) -> None:
        while not os.path.exists(path):
            time.sleep(0.02)

    wait(go)
    co.data.pipeline.puts("plots/signal.png", PNG)
    co.data.pipeline.puts("demo_plot", PNG)  # Conducto's demo names its plot so
    co.data.pipeline.puts("notes.txt", b"text")
    print("<ConductoMarkdown>")
    print(f"![signal]({co.data.pipeline.url('plots/signal.png')})")
    print(f'![plot]({co.data.pipeline.url(name="demo_plot")} "a neat plot")')
    print(f"![notes]({co.data.pipeline.url('notes.txt')})")
    print(f"![gone]({co.data.pipeline.url('plots/missing.png')})")
    print("</ConductoMarkdown>", flush=True)
    wait(go + ".end")


def test_an_image_a_step_shows_from_co_data_is_in_the_panels_html(
    recording: None, tmp_path: Path
) -> None:
    """Its URL names the data service, which a browser cannot ask (it wants the pipeline's
    token): the panel gets the image itself, streamed or in a whole detail; other links stay
    as printed."""
    go = tmp_path / "go"
    with co.Serial() as root:
        co.Exec(show_from_data, str(go), name="plot")
    w, sent = widget_of(root)
    w.act("run", "/")
    sent.receive({"type": "watch", "path": "/plot"})
    wait_for(lambda: sent.custom("detail"))
    go.touch()
    wait_for(lambda: any(m.get("md") for m in sent.custom("out")), 60)
    streamed = next(m for m in sent.custom("out") if m.get("md"))["md"][0][1]
    (tmp_path / "go.end").touch()
    assert isinstance(w.subject, co.Run)
    w.subject.wait(60)
    sent.receive({"type": "watch", "path": "/plot"})  # opened again: the whole detail
    wait_for(lambda: any(m.get("md") for m in sent.custom("detail")))
    detail = [m for m in sent.custom("detail") if m.get("md")][-1]["md"][0][1]
    inline = base64.b64encode(PNG).decode()
    for html in (streamed, detail):
        assert f'<img src="data:image/png;base64,{inline}" alt="signal"' in html
        assert f'<img src="data:image/png;base64,{inline}" alt="plot" title="a neat plot"' in html
        assert 'alt="notes"' in html and "name=notes.txt" in html  # not an image: as printed
        assert "name=plots%2Fmissing.png" in html  # no such object: as printed
    w.close()


def test_the_static_svg_has_the_states_colours() -> None:
    flat = E.flatten(sample())
    states = "rdPepppd"
    dot = to_dot(flat, states, "demo")
    assert dot == to_dot(flat, states, "demo"), "deterministic"
    for state in ("running", "done", "error"):
        assert E.COLOURS[state] in dot
    if shutil.which("dot") is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs graphviz (apt-get install graphviz)")
        pytest.skip("no graphviz `dot`")
    from conducto_nb.widget.static_svg import render

    svg = render(flat, states, "demo")
    assert svg is not None and svg.startswith("<svg") and E.COLOURS["error"] in svg


def test_display_hooks_outside_a_kernel_give_text_and_svg() -> None:
    root = sample()
    bundle = root._repr_mimebundle_()
    assert bundle["text/plain"].startswith("<Serial /")
    assert "application/vnd.jupyter.widget-view+json" not in bundle  # no kernel, no widget
    assert ("image/svg+xml" in bundle) == (shutil.which("dot") is not None)


def test_importing_the_package_does_not_import_the_widget() -> None:
    code = (
        "import sys, conducto_nb\n"
        "assert 'anywidget' not in sys.modules and 'conducto_nb.widget' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_kernel_shows_the_widget_and_updates_its_svg_when_the_run_ends() -> None:
    """In a real kernel: the output carries the widget, an SVG and text, and the end of the run
    re-sends it (update_display) with the final states."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        code = (
            "import conducto_nb as co\n"
            "with co.Serial() as root:\n"
            "    co.Exec('sleep 1; exit 2', name='fails')\n"
            "run = root.start()\nrun"
        )
        msgs: list[dict[str, Any]] = []
        kc.execute_interactive(code, output_hook=msgs.append, timeout=60)
        deadline = time.monotonic() + 30
        while not any(m["msg_type"] == "update_display_data" for m in msgs):
            assert time.monotonic() < deadline
            with contextlib.suppress(Exception):  # queue.Empty: nothing within the second
                msgs.append(kc.get_iopub_msg(timeout=1))
        shown = next(m for m in msgs if m["msg_type"] == "display_data")["content"]["data"]
        assert {"text/plain", "application/vnd.jupyter.widget-view+json"} <= set(shown)
        update = next(m for m in msgs if m["msg_type"] == "update_display_data")["content"]
        if shutil.which("dot"):
            assert E.COLOURS["error"] in update["data"]["image/svg+xml"]
        assert "error" in update["data"]["text/plain"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_threads_left_behind() -> None:
    """The pump is one daemon thread, however many widgets there were."""
    pumps = [t for t in threading.enumerate() if t.name == "conducto_nb-widget-pump"]
    assert len(pumps) <= 1 and all(t.daemon for t in pumps)


def test_a_state_that_comes_back_within_an_interval_is_not_sent(recording: None) -> None:
    """A Serial goes queued between two children and running again in a few milliseconds:
    the views, which never saw it queued, get no diff for it."""
    root = big(2, 3)
    w, sent = widget_of(root)
    time.sleep(INTERVAL * 2)
    before = len(sent.updates("diff"))
    first, second = [n.path for n in root.walk()][1:3]
    w._feed(StateChanged(first, NodeStatus(), NodeStatus(State.RUNNING)))
    wait_for(lambda: len(sent.updates("diff")) > before)
    shown = len(sent.updates("diff"))
    with w._source_lock:  # no flush in between, however busy the machine
        for state in (State.QUEUED, State.RUNNING):
            w._feed(StateChanged(first, NodeStatus(), NodeStatus(state)))
        w._feed(StateChanged(second, NodeStatus(), NodeStatus(State.DONE)))
    wait_for(lambda: len(sent.updates("diff")) > shown)
    time.sleep(INTERVAL * 2)
    diffs = sent.updates("diff")[shown:]
    assert [d["s"] for d in diffs] == [{second: "d"}]
    w.close()


def test_busy_time_counts_overlaps_once_and_no_gaps() -> None:
    assert E.busy_time([]) == (0.0, None)
    assert E.busy_time([(10.0, 12.0), (11.0, 13.0), (20.0, 21.0)]) == (4.0, None)
    assert E.busy_time([(0.0, 2.0), (10.0, None), (11.0, 12.0)]) == (2.0, 10.0)  # runs since 10


def test_elapsed_is_what_ran_not_the_wait_before_a_rerun(recording: None, tmp_path: Any) -> None:
    """A run that failed, then was rerun much later: the header's time is the attempts' own."""
    flag = tmp_path / "fixed"
    with co.Serial() as root:
        co.Exec(f"sleep 0.2; test -f {flag}", name="step")
    run = root.run()
    w, sent = widget_of(run)
    time.sleep(1.0)  # the wait a user takes to fix it: it must not count
    flag.touch()
    run.rerun("/step").wait(30)
    wait_for(lambda: len([a for a in run["/step"].attempts if a.ended]) == 2)
    wait_for(lambda: sent.updates("header")[-1]["busy"] > 0 and finished(sent))
    header = sent.updates("header")[-1]
    attempts = run["/step"].attempts
    assert header["busy"] == pytest.approx(sum(a.duration or 0 for a in attempts))
    assert header["ended"] - header["started"] > header["busy"] + 0.9  # the wait is left out
    assert header["since"] is None
    w.close()


def test_the_timeline_lists_every_attempt_in_tree_order(recording: None, tmp_path: Any) -> None:
    flag = tmp_path / "second-time"
    with co.Serial() as root:
        co.Exec("echo a", name="a")
        with co.Parallel(name="p"):
            co.Exec(f"test -f {flag} || {{ touch {flag}; exit 1; }}", name="flaky", retries=1)
            co.Exec("echo b", name="b")
    run = root.run()
    w, sent = widget_of(run)
    sent.receive({"type": "timeline"})
    wait_for(lambda: sent.custom("timeline"))
    rows = sent.custom("timeline")[-1]["rows"]
    assert [(r[0], r[1]) for r in rows] == [
        ("/a", 1),
        ("/p/flaky", 1),
        ("/p/flaky", 2),
        ("/p/b", 1),
    ]
    for path, attempt, queued, started, ended, state in rows:
        assert queued <= started <= ended, (path, attempt)
        assert state == ("error" if (path, attempt) == ("/p/flaky", 1) else "done")
    w.close()
