"""A pipeline's co.Images in the graph widget, in a real JupyterLab: a chip per image under the
header, its panel (label, state, why, the nodes that need it, each opening its node's panel),
the NEW reuse notice of a node's panel, and, with Docker, a node saying it waits for its image
while the build's log streams into the image's panel."""

from __future__ import annotations

import uuid
from typing import Any

from lab_kit import Lab, Notebook, docker_or_missing, shot

IMPORT = "import conducto_nb as co\n"
TREE = (
    IMPORT + "tools = co.Image('busybox:latest', install_packages=['curl'], name='tools')\n"
    "with co.Serial(image=tools) as root:\n"
    "    with co.Serial(name='app', container_reuse_context=co.ContainerReuseContext.NEW):\n"
    "        co.Exec('echo app', name='test')\n"
    "        co.Exec('echo more', name='more')\n"
    "    co.Exec('echo other', name='other', image='busybox:latest')\n"
    "root"
)
LABEL = "tools (busybox:latest + packages: curl)"


def cell(page: Any, i: int) -> Any:
    return page.locator(".jp-Notebook .jp-Cell").nth(i)


def test_image_chips_open_their_panel_for_a_tree_and_a_local_run(page: Any, lab: Lab) -> None:
    nb = Notebook(page, lab, [TREE, "run = root.start(backend='local')\nrun"]).open()
    nb.run(0)
    first = cell(page, 0)
    chip = first.locator(".co-images .co-image")
    chip.wait_for()
    assert chip.count() == 1 and chip.get_attribute("data-state") == "pending"
    assert chip.inner_text() == f"{LABEL} · pending · 2 nodes"  # /other's image is a plain name

    chip.click()
    panel = first.locator(".co-panel")
    panel.locator(".co-image-nodes .co-link").first.wait_for()  # the kernel's part has come
    text = panel.inner_text()
    assert LABEL in text and "pending" in text and "built when the pipeline starts" in text
    assert panel.locator(".co-image-nodes .co-link").all_inner_texts() == ["/app/test", "/app/more"]
    assert "co-selected-image" in (chip.get_attribute("class") or "")

    # A node it names opens that node's panel: the image again, and the NEW subtree's notice.
    panel.locator(".co-image-nodes .co-link", has_text="/app/more").click()
    panel.locator(".co-reuse").wait_for()
    assert panel.locator(".co-path").inner_text() == "/app/more"
    assert panel.locator(".co-reuse").inner_text() == (
        "runs in one container with the rest of /app (container_reuse_context=NEW): "
        "actions act on all of /app"
    )
    assert panel.locator(".co-image-row").inner_text().startswith(f"image {LABEL}")
    shot(page, "image-node-panel")
    panel.locator(".co-image-row .co-link").click()  # and back to the image
    panel.locator(".co-image-nodes .co-link").first.wait_for()
    first.locator(".co-item[data-path='/app']").click()  # the subtree's own root: no notice
    panel.locator(".co-params").wait_for()
    assert panel.locator(".co-reuse").count() == 0

    # The run, on the local backend: the same image, unused, and why.
    nb.run(1)
    second = cell(page, 1)
    chip = second.locator(".co-images .co-image")
    page.wait_for_function(
        "document.querySelectorAll('.jp-Cell')[1]"
        "?.querySelector('.co-image')?.dataset.state === 'unused'"
    )
    assert chip.inner_text() == f"{LABEL} · unused · 2 nodes"
    page.wait_for_function(  # greyed out (the chip is drawn again as the run's news comes)
        "parseFloat(getComputedStyle(document.querySelectorAll('.jp-Cell')[1]"
        ".querySelector('.co-image')).opacity) < 1"
    )
    chip.click()
    panel = second.locator(".co-panel")
    panel.locator(".co-image-nodes .co-link").first.wait_for()
    text = panel.inner_text()
    assert LABEL in text and "unused" in text
    assert (
        "the local backend uses only an image's code and pip packages, and this one has neither"
        in text
    )
    shot(page, "image-panel-unused")


def test_a_node_waits_for_its_image_while_the_build_log_streams(page: Any, lab: Lab) -> None:
    """With Docker: the node's panel says it waits for the image to build; the image's panel
    streams the build's log and ends done."""
    client = docker_or_missing()
    name = f"test-{uuid.uuid4().hex[:10]}"
    token = uuid.uuid4().hex
    nb = Notebook(
        page,
        lab,
        [
            "import os\nos.environ['CONDUCTO_NB_IDLE_TIMEOUT'] = '2'  # containers go soon\n"
            + IMPORT
            + f"step = 'echo begin-{token} && sleep 6 && echo end-{token}'\n"
            "text = f'FROM busybox:latest\\nRUN {step}\\n'\n"
            f"slow = co.Image(dockerfile_text=text, name={name!r})\n"
            "with co.Serial(image=slow) as root:\n"
            "    co.Exec('echo ran-in-the-image', name='uses')\n"
            "run = root.start(backend='docker')\nrun"
        ],
    ).open()
    try:
        nb.run(0)
        # Found and read in one go: the strip is drawn anew on each image message (a chip
        # read after it was replaced has no computed style).
        building = ".co-images .co-image[data-state='building']"
        page.wait_for_function(
            f"getComputedStyle(document.querySelector({building!r}) ?? document.body)"
            ".animationName === 'co-pulse'"
        )
        nb.node("/uses").click()
        nb.wait_panel("waiting for image")
        assert nb.state("/uses") == "q"
        row = page.locator(".co-panel .co-image-row")
        assert row.inner_text().startswith("waiting for image") and "to build" in row.inner_text()
        shot(page, "image-waiting")
        row.locator(".co-link").click()
        nb.wait_panel(f"begin-{token}")  # the log so far, then streamed in
        # The RUN under way is Docker's step 2 of 4: the chip and the panel say how far it is.
        page.wait_for_selector(".co-image:has-text('building 2/4')")
        nb.wait_panel("building 2/4")
        nb.wait_panel(f"end-{token}", timeout=60)
        page.wait_for_selector(".co-image[data-state='done']", timeout=60_000)
        nb.wait_panel("took")
        nb.wait_state("/uses", "done", timeout=60)
        # The run's end re-draws the output (its final static SVG): the panel comes back, and
        # its log fills again; read it in the same moment it is seen whole.
        log = page.wait_for_function(
            "(() => { const t = document.querySelector('.co-panel .co-image-log pre')"
            f"?.textContent || ''; return t.includes('end-{token}') && t; }})()"
        ).json_value()
        assert log.count("Step 1/4") == 1 and log.count(f"\nbegin-{token}\n") == 1, log
        assert log.startswith("building conducto-nb/") and f"built conducto-nb/{name}:" in log
        shot(page, "image-built")
    finally:
        for image in client.images.list(name=f"conducto-nb/{name}"):
            for tag in image.tags:
                client.images.remove(tag, force=True)
        client.close()
