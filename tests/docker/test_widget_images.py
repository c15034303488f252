"""A real co.Image build, as the graph widget shows it: the image's chip goes building then
done, the node that needs it waits queued meanwhile, and the build log streams into the
image's open panel, whole and without repeats; a view read from the store shows the same.
The comm is tests/widget_kit.py's recording one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

import conducto_nb as co
from conducto_nb.backends.docker.backend import DockerBackend
from conducto_nb.model.states import State
from conducto_nb.run.loop import background_loop
from conducto_nb.run.ownership import shared_writer
from conducto_nb.run.runs import Run, record_from_store

if os.environ.get("CI"):
    import anywidget  # noqa: F401  (CI installs the [lab] extra: a skip must not hide it)
else:
    pytest.importorskip("anywidget", reason="pip install 'conducto_nb[lab]'")


from tests.widget_kit import finished, image_state, wait_for, widget_of

BUSYBOX = "busybox:latest"


@pytest.fixture
def backend(repo_name: str) -> Iterator[DockerBackend]:
    """Closed (its warm containers gone) before repo_name removes the image they run."""
    backend = DockerBackend(cpu_budget=2, idle_timeout=5)
    yield backend
    background_loop().submit(backend.close()).result(60)


def test_a_real_build_reaches_the_widget_building_then_done_with_its_log(
    recording: None, repo_name: str, backend: DockerBackend
) -> None:
    # A Dockerfile of its own (a fresh token): the build really runs, for a few seconds.
    token = uuid.uuid4().hex
    text = f"FROM {BUSYBOX}\nRUN echo step-one {token} && sleep 3 && echo step-two {token}\n"
    image = co.Image(dockerfile_text=text, name=repo_name)
    with co.Serial(image=image) as root:
        co.Exec("echo ran-in-the-image", name="uses")
    run = root.start(backend=backend)
    w, sent = widget_of(run)
    [key] = [i["key"] for i in w.images]
    sent.receive({"type": "watch", "path": "/uses"})
    wait_for(lambda: image_state(sent, key) == "building", 30)
    sent.receive({"type": "watch_image", "key": key})
    assert w.get_state()["tree"]["states"][1] == "q", "the node waits, queued, for its image"
    wait_for(lambda: finished(sent), 120)
    assert run["/uses"].state is State.DONE, run["/uses"].stderr
    assert run["/uses"].stdout == "ran-in-the-image\n"

    shown = [next(i for i in u if i["key"] == key) for u in sent.updates("images") if u]
    states = [i["state"] for i in shown]
    assert states[-2:] == ["building", "done"], states
    # The chip counts Docker's steps while it builds: the 3 s RUN is step 2 of 4 (FROM, RUN,
    # then the two labels the build adds).
    steps = [i["step"] for i in shown if i["state"] == "building" and i["step"]]
    assert "2/4" in steps, shown
    final = sent.updates("images")[-1][0]
    assert final["step"] is None
    [built] = run.images
    assert final["tag"] == built.tag and final["tag"].startswith(f"conducto-nb/{repo_name}:")
    assert final["n"] == 1 and final["started"] and final["ended"]

    detail = next(d for d in sent.custom("detail") if d["path"] == "/uses")
    assert detail["images"] == [key]  # the panel names it, and says "waiting" while queued
    [opened] = sent.custom("image")
    assert opened["nodes"] == ["/uses"]
    wait_for(lambda: built.tag in opened["log"] + "".join(m["text"] for m in sent.custom("ilog")))
    streamed = opened["log"] + "".join(m["text"] for m in sent.custom("ilog"))
    assert f"step-two {token}" in streamed and built.tag in streamed
    assert streamed == built.log, "the log so far once, then only what was appended"
    messages = len(sent.custom("ilog")) + 1
    print(f"image states sent: {states}; log: {len(streamed)} characters, {messages} messages")
    w.close()

    # Another process's view of the run, from the store: the same image and log.
    shared_writer().flush()
    stored, sent = widget_of(Run(record_from_store(run.id)))
    assert stored.header["kind"] == "store" and stored.images == [final]
    sent.receive({"type": "watch_image", "key": key})
    wait_for(lambda: sent.custom("image"))
    assert sent.custom("image")[0]["log"] == built.log
    stored.close()


def test_a_build_in_another_process_streams_into_the_panel_from_the_store(
    recording: None, repo_name: str
) -> None:
    token = uuid.uuid4().hex
    text = f"FROM {BUSYBOX}\nRUN echo step-one {token} && sleep 3 && echo step-two {token}\n"
    with co.Serial(image=co.Image(dockerfile_text=text, name=repo_name)) as root:
        co.Exec("echo ran", name="uses")
    run = root.start(backend="docker", detach=True)  # its own process builds and runs it
    w, sent = widget_of(co.load(run.id))
    assert w.header["kind"] == "store"
    wait_for(lambda: w.images and w.images[0]["state"] == "building", 60)
    key = w.images[0]["key"]
    sent.receive({"type": "watch_image", "key": key})
    wait_for(lambda: finished(sent), 120)
    wait_for(lambda: image_state(sent, key) == "done")
    [opened] = sent.custom("image")
    streamed = opened["log"] + "".join(m["text"] for m in sent.custom("ilog"))
    loaded = Run(record_from_store(run.id))
    [built] = loaded.images
    assert built.tag and built.tag in streamed
    assert streamed == built.log, "what the store held when the panel opened, then the rest"
    assert f"\nstep-two {token}\n" not in opened["log"] and sent.custom("ilog"), "streamed in"
    assert loaded["/uses"].stdout == "ran\n"
    w.close()
