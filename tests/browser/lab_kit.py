"""Driving a notebook in JupyterLab from playwright: open it, run cells as a user does (click,
Ctrl+Enter), time an execution in the page's own clock, and read the graph widget's DOM."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from conducto_nb.widget.encode import CODES, COLOURS

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "browser"

PROMPT = "document.querySelectorAll('.jp-Notebook .jp-Cell')[{i}].querySelector('.jp-InputPrompt')"


def missing(reason: str) -> NoReturn:
    """Skip on a laptop; under CI, an error: a skip must never hide there."""
    if os.environ.get("CI"):
        pytest.fail(f"CI needs the browser tests: {reason}", pytrace=False)
    pytest.skip(reason)


def docker_or_missing() -> Any:
    """A docker SDK client whose daemon answers (the kernel's pipelines will build and run
    there), or missing() with why; the busybox image the tests build from must be there."""
    try:
        import docker
    except ImportError:
        missing("the docker SDK is missing: pip install 'conducto_nb[docker]'")
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as e:
        missing(f"no Docker daemon answers ({e}); start one with `bash scripts/docker.sh`")
    try:
        client.images.get("busybox:latest")
    except docker.errors.ImageNotFound:
        client.close()
        missing("image busybox:latest is missing: build it with `bash scripts/images.sh`")
    return client


@dataclass
class Lab:
    """A running JupyterLab server (conftest.py's `lab` fixture)."""

    url: str
    root: Path
    log: Path


@contextlib.contextmanager
def jupyter_lab(
    root: Path, log: Path, env: dict[str, str], port: int, auth: list[str], token: str = ""
) -> Iterator[str]:
    """A real JupyterLab on 127.0.0.1:`port` serving `root` (its output in `log`), with the
    `auth` options, until the block ends; yields its URL. The wait for it is a bound on a
    broken start, not a speed target."""
    args = [
        str(Path(sys.executable).parent / "jupyter-lab"),
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        *auth,
        f"--ServerApp.root_dir={root}",
        "--allow-root",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    status = f"{url}/api/status" + (f"?token={token}" if token else "")
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(status, timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"jupyter lab did not start:\n{log.read_text()[-3000:]}"
                    ) from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def artifacts() -> Path:
    """test-artifacts/browser/, made on first use; the folder ignores itself in git."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ignore = ARTIFACTS.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    return ARTIFACTS


def shot(page: Any, name: str) -> None:
    """A screenshot kept in test-artifacts/browser/."""
    artifacts()
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def colour(state: str) -> str:
    return COLOURS[state]


def write_notebook(path: Path, cells: list[str]) -> None:
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "id": f"cell-{i}",
                "metadata": {},
                "source": src,
                "outputs": [],
                "execution_count": None,
            }
            for i, src in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))


IDLE = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
KERNEL_DIALOG = ".jp-Dialog:has-text('Select Kernel')"
LOAD_ERROR = ".jp-Dialog:has-text('Error Loading Theme')"


class Notebook:
    def __init__(self, page: Any, lab: Any, cells: list[str], name: str = "test.ipynb") -> None:
        self.page, self.lab, self.name = page, lab, name
        write_notebook(lab.root / name, cells)

    def open(self) -> Notebook:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout  # (conftest.py checks)

        page = self.page
        for attempt in range(3):
            page.goto(f"{self.lab.url}/lab/tree/{self.name}")
            try:
                page.wait_for_selector(".jp-Notebook .jp-Cell")
            except PlaywrightTimeout:  # never drawn (seen once in CI): loaded again, as a
                if attempt == 2:  # user facing a blank JupyterLab would
                    raise
                continue
            # The kernel starts, unless JupyterLab asks which one first (no kernel till
            # answered), or a stylesheet request timed out on a starved machine (then the page
            # is loaded again: unstyled, it is not what a user would see).
            page.wait_for_selector(f"{IDLE}, {KERNEL_DIALOG}, {LOAD_ERROR}", timeout=180_000)
            if not page.locator(LOAD_ERROR).count():
                break
        self.accept_kernel_dialog()
        self.wait_idle()
        return self

    def accept_kernel_dialog(self) -> None:
        """JupyterLab sometimes asks which kernel to start (its kernel specs arrived late on
        a busy machine) though the notebook names one. A kernel this notebook already has
        is kept: chosen if the dialog lists it, else the dialog is cancelled (the page is
        using it). Only with no kernel yet is the offered one taken. (Accepting the default
        once a kernel had started made a second kernel; the widget's comm then kept a
        subshell id of the first, so the kernel dropped every message the page sent:
        "Unknown subshell_id" in the server's log, seen twice in CI.)"""
        dialog = self.page.locator(KERNEL_DIALOG)
        if not (dialog.count() and dialog.first.is_visible()):
            return
        kernel = self.running_kernel()
        if kernel is None or self.page.evaluate(
            """id => { const s = document.querySelector('.jp-Dialog select');
              const ours = o => { try { return JSON.parse(o.value).id === id; }
                                  catch { return false; } };
              const o = s && [...s.options].find(ours);
              if (!o) return false;
              s.value = o.value; s.dispatchEvent(new Event('change')); return true; }""",
            kernel,
        ):
            dialog.first.locator(".jp-mod-accept").click()
        else:
            dialog.first.locator(".jp-mod-reject").click()
        dialog.first.wait_for(state="detached")

    def running_kernel(self) -> str | None:
        """The id of the kernel the server runs for this notebook, if any (asked from the
        page, so with its credentials)."""
        found = self.page.evaluate(
            """name => fetch('/api/sessions', {credentials: 'same-origin'})
                 .then(r => r.ok ? r.json() : [])
                 .then(ss => ss.find(s => s.path === name && s.kernel))
                 .then(s => s ? s.kernel.id : null)""",
            self.name,
        )
        return None if found is None else str(found)

    def wait_idle(self, timeout: float = 180) -> None:
        self.page.wait_for_selector(IDLE, timeout=timeout * 1000)

    def prompt(self, i: int) -> str:
        return str(self.page.evaluate(f"{PROMPT.format(i=i)}.textContent")).strip()

    def start(self, i: int) -> str:
        """Click cell `i` and press Ctrl+Enter; returns its prompt from before."""
        before = self.prompt(i)
        for _ in range(3):  # a key pressed while the kernel connects can be lost: press again
            self.accept_kernel_dialog()
            editor = self.page.locator(".jp-Notebook .jp-Cell").nth(i)
            try:
                editor.locator(".jp-InputArea-editor").click(timeout=10000)
            except Exception:
                continue  # a dialog came up meanwhile: accept it and try again
            self.page.keyboard.press("Control+Enter")
            try:
                self.page.wait_for_function(
                    f"{PROMPT.format(i=i)}.textContent.trim() !== {json.dumps(before)}",
                    timeout=15_000,
                )
                return before
            except Exception:
                continue
        raise AssertionError(f"cell {i} did not start")

    def run(self, i: int, timeout: float = 180) -> None:
        """Run cell `i` and wait until it has finished."""
        self.start(i)
        self.page.wait_for_function(
            f"/^\\[\\d+\\]:?$/.test({PROMPT.format(i=i)}.textContent.trim())",
            timeout=timeout * 1000,
        )

    def timed_run(self, i: int) -> float:
        """Seconds from the key press to cell `i` showing its new execution count, measured
        with the page's clock (performance.now)."""
        page = self.page
        page.locator(".jp-Notebook .jp-Cell").nth(i).locator(".jp-InputArea-editor").click()
        page.evaluate(
            """i => { const p = document.querySelectorAll('.jp-Notebook .jp-Cell')[i]
                        .querySelector('.jp-InputPrompt'); const before = p.textContent.trim();
                window.__coDone = new Promise(resolve => {
                  const seen = () => { const t = p.textContent.trim();
                    if (t !== before && /^\\[\\d+\\]:?$/.test(t)) { ob.disconnect();
                      resolve(performance.now()); } };
                  const ob = new MutationObserver(seen);
                  ob.observe(p, {childList: true, characterData: true, subtree: true}); });
                window.__coStart = performance.now(); }""",
            i,
        )
        page.keyboard.press("Control+Enter")
        done = page.evaluate("window.__coDone")
        start = page.evaluate("window.__coStart")
        return (float(done) - float(start)) / 1000

    # -- the graph widget -------------------------------------------------------------------
    def node(self, path: str) -> Any:
        return self.page.locator(f".co-item[data-path='{path}']").first

    def state(self, path: str) -> str | None:
        value = self.node(path).get_attribute("data-state")
        return None if value is None else str(value)

    def fill(self, path: str) -> str:
        return str(self.node(path).locator("rect").first.get_attribute("fill"))

    def wait_state(self, path: str, state: str, timeout: float = 90) -> None:
        letter = CODES[state]
        self.page.wait_for_function(
            f"document.querySelector(\".co-item[data-path='{path}']\")"
            f"?.getAttribute('data-state') === '{letter}'",
            timeout=timeout * 1000,
        )

    def record_states(self) -> None:
        """From now on, keep every state each node of the graph goes through."""
        self.page.evaluate(
            """() => { window.__coSeen = {};
              const note = g => {
                const p = g.getAttribute('data-path'), s = g.getAttribute('data-state');
                const seen = (window.__coSeen[p] = window.__coSeen[p] || []);
                if (p && s && seen[seen.length - 1] !== s) seen.push(s); };
              document.querySelectorAll('.co-item[data-path]').forEach(note);
              // A re-render inserts fresh items already in their state: note those too.
              new MutationObserver(ms => ms.forEach(m => {
                  if (m.type === 'attributes') { m.target.matches?.('.co-item') && note(m.target); }
                  m.addedNodes.forEach(n => {
                    if (!n.querySelectorAll) return;
                    if (n.matches('.co-item[data-path]')) note(n);
                    n.querySelectorAll('.co-item[data-path]').forEach(note); }); }))
                .observe(document.body, {attributes: true, attributeFilter: ['data-state'],
                                         childList: true, subtree: true}); }"""
        )

    def seen_states(self) -> dict[str, list[str]]:
        return dict(self.page.evaluate("window.__coSeen"))

    def panel_text(self) -> str:
        return str(self.page.inner_text(".co-panel"))

    def wait_panel(self, text: str, timeout: float = 90) -> None:
        self.page.wait_for_function(
            f"(document.querySelector('.co-panel')?.innerText || '').includes({json.dumps(text)})",
            timeout=timeout * 1000,
        )


def wait_until(check: Any, timeout: float = 90, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(every)
