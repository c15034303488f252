"""The graph widget's cost, measured side by side in one run:

1. Kernel responsiveness: round trips of `1+1` to a real ipykernel (jupyter_client, no server
   in between), idle and while a 1,000-node pipeline of short shell nodes runs, with the live
   widget displayed and, for comparison, without it.          target: p95 <= idle p95 + 20 ms
2. Comm traffic of the widget during that run (iopub comm messages, JSON bytes / s), and
   the state it opens with.                                     target: <= 50 kB/s
3. Browser: a 10,000-node tree displayed in JupyterLab in headless Chromium (Debian's, through
   playwright's executable_path): time from the model's arrival to a drawn graph, and from
   the key press to a drawn graph.                              target: <= 2 s

    .venv/bin/python bench/widget.py [--nodes 1000] [--rounds 2] [--skip-browser]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HOME = tempfile.mkdtemp(prefix="conducto_nb-bench-")
ENV = {**os.environ, "CONDUCTO_NB_HOME": HOME, "CONDUCTO_NB_BACKEND": "local"}
CHROMIUM = os.environ.get("CONDUCTO_NB_CHROMIUM", "/usr/bin/chromium")

BUILD = """
import conducto_nb as co
with co.Serial() as root:
    for j in range({batches}):
        with co.Parallel(name=f"batch-{{j}}", cpu=0.25):  # 8 at once on 2 cores
            for k in range(100):
                co.Exec(f"sleep 0.02; echo {{k}}", name=f"n{{k}}")
"""


SHAPE_WIDE = """
import conducto_nb as co
with co.Serial() as wide:
    for j in range(20):
        with co.Parallel(name=f"p{j}"):
            for k in range(499):
                co.Exec("true", name=f"n{k}")
wide"""

# In the page: click the first closed group of the first graph; ms until its boxes are drawn.
EXPAND = """() => new Promise(resolve => {
  const graph = document.querySelector('.co-graph');
  const before = graph.querySelectorAll('.co-item').length;
  const t0 = performance.now();
  new MutationObserver((_, ob) => {
    if (graph.querySelectorAll('.co-item').length > before) {
      ob.disconnect(); resolve(performance.now() - t0); }
  }).observe(graph, {childList: true, subtree: true});
  graph.querySelector('.co-group').dispatchEvent(new MouseEvent('click', {bubbles: true}));
})"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[-1]


class Kernel:
    def __init__(self) -> None:
        from jupyter_client.manager import start_new_kernel

        self.km, self.kc = start_new_kernel(kernel_name="python3", env=ENV)
        self.iopub: list[tuple[float, dict[str, Any]]] = []

    def run(self, code: str) -> float:
        """Execute and wait for the reply; seconds of the round trip."""
        t0 = time.perf_counter()
        msg_id = self.kc.execute(code)
        while True:
            reply = self.kc.get_shell_msg(timeout=60)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        took = time.perf_counter() - t0
        self.drain()
        assert reply["content"]["status"] == "ok", reply["content"]
        return took

    def drain(self) -> None:
        while self.kc.iopub_channel.msg_ready():
            self.iopub.append((time.perf_counter(), self.kc.get_iopub_msg(timeout=1)))

    def value(self, expr: str) -> Any:
        """`expr` evaluated in the kernel (its repr, read back from the stream it prints)."""
        start = len(self.iopub)
        msg_id = self.kc.execute(f"print(repr({expr}))")
        self.run("pass")  # replies come in order: the print's output is in by now
        time.sleep(0.02)
        self.drain()
        out = "".join(
            m["content"].get("text", "")
            for _, m in self.iopub[start:]
            if m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == msg_id
        )
        return eval(out)  # our own repr

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def during_run(k: Kernel, start: str, samples: int) -> tuple[list[float], float, float, int]:
    """Round trips of `1+1` while the run goes on; comm bytes and the run's duration."""
    k.iopub.clear()
    t0 = time.perf_counter()
    k.run(start)
    times = []
    while len(times) < samples and not k.value("run.done"):
        for _ in range(10):
            times.append(k.run("1+1"))
            time.sleep(0.02)
    k.run("_ = run.wait()")
    took = time.perf_counter() - t0
    time.sleep(1)  # the widget's last flush, and the SVG re-sent at the end
    k.drain()
    comm = [m for _, m in k.iopub if m["msg_type"] == "comm_msg"]  # the updates, not the opening
    bytes_ = sum(len(json.dumps(m["content"])) for m in comm)
    display = sum(len(json.dumps(m["content"])) for _, m in k.iopub if "display" in m["msg_type"])
    return times, took, bytes_ / took, display


def kernel_figures(nodes: int, rounds: int) -> None:
    k = Kernel()
    try:
        k.run(BUILD.format(batches=nodes // 100))
        k.run("from conducto_nb.widget.model import PipelineWidget")
        idle = [k.run("1+1") for _ in range(50)]
        rows = []
        for r in range(rounds):
            for label, start in (
                ("with widget", "run = root.start()\nrun"),
                ("without widget", "run = root.start()"),
            ):
                times, took, rate, display = during_run(k, start, 400)
                rows.append((label, r, times, took, rate, display))
        print(f"\n1. `1+1` round trips, {nodes} short shell nodes (ms)")
        ms = 1e3
        print(
            f"   {'idle':27} median {statistics.median(idle) * ms:6.1f}   p95 {p95(idle) * ms:6.1f}"
        )
        for label in ("with widget", "without widget"):
            ts = [t for lab, _, times, *_ in rows if lab == label for t in times]
            print(
                f"   {'during run, ' + label:27} median {statistics.median(ts) * ms:6.1f}"
                f"   p95 {p95(ts) * ms:6.1f}   ({len(ts)} samples;"
                f" p95 - idle p95 = {(p95(ts) - p95(idle)) * ms:+.1f} ms)"
            )
        widget = [row for row in rows if row[0] == "with widget"]
        print("\n2. widget comm traffic during the run")
        for _, r, _, took, rate, display in widget:
            print(
                f"   round {r}: run {took:.1f} s, comm {rate / 1000:.1f} kB/s;"
                f" displays (with the SVG) {display / 1000:.0f} kB"
            )
        k.run(BUILD.format(batches=100))
        k.run("import json\nopened = len(json.dumps(PipelineWidget(root).get_state()))")
        state = k.value("opened")
        print(f"   opening state of a 10,000-node tree (ES module included): {state / 1000:.0f} kB")
    finally:
        k.close()


def browser_figures(rounds: int) -> None:
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="conducto_nb-bench-lab-"))
    settings = tmp / "settings"
    for plugin, values in {
        "@jupyterlab/apputils-extension/notification": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    }.items():
        (settings / f"{plugin}.jupyterlab-settings").parent.mkdir(parents=True, exist_ok=True)
        (settings / f"{plugin}.jupyterlab-settings").write_text(json.dumps(values))
    root = tmp / "nb"
    root.mkdir()
    shapes = {  # two trees of 10,000 nodes: deep and grouped, and wide open
        "100 Parallels of 100": BUILD.format(batches=100) + "root",
        "20 Parallels of 500": SHAPE_WIDE,
    }
    cells = [
        {"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": src, "outputs": []}
        for i, src in enumerate(shapes.values())
    ]
    for c in cells:
        c["execution_count"] = None
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb = {
        "cells": cells,
        "metadata": {"kernelspec": kernelspec},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / "big.ipynb").write_text(json.dumps(nb))
    port = _free_port()
    env = {
        **ENV,
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTER_CONFIG_DIR": str(tmp / "cfg"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "rt"),
    }
    lab = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "jupyter-lab"),
            "--no-browser",
            f"--port={port}",
            "--ServerApp.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={root}",
            "--allow-root",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "jupyter lab did not start"
                time.sleep(0.1)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            print("\n3. a 10,000-node tree in JupyterLab (headless Chromium)")
            for r in range(rounds):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/lab/tree/big.ipynb")
                page.wait_for_selector(
                    ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60000
                )
                time.sleep(1)
                for i, shape in enumerate(shapes):
                    cell = page.locator(".jp-Notebook .jp-Cell").nth(i)
                    cell.locator(".jp-InputArea-editor").click()
                    t0 = time.perf_counter()
                    page.keyboard.press("Control+Enter")
                    graph = cell.locator(".co-graph[data-draw-ms]")
                    graph.wait_for(timeout=60000)
                    wall = time.perf_counter() - t0
                    draw = float(graph.get_attribute("data-draw-ms") or "nan")
                    boxes = cell.locator(".co-item").count()
                    print(
                        f"   round {r}, {shape}: model to drawn graph {draw:.0f} ms "
                        f"({boxes} boxes); key press to drawn {wall * 1e3:.0f} ms"
                    )
                expand = page.evaluate(EXPAND)
                print(f"   round {r}: a click on a group to its 50 boxes drawn: {expand:.0f} ms")
                page.close()
            browser.close()
    finally:
        lab.terminate()
        lab.wait()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--skip-browser", action="store_true")
    args = ap.parse_args()
    kernel_figures(args.nodes, args.rounds)
    if not args.skip_browser:
        browser_figures(args.rounds)


if __name__ == "__main__":
    main()
