"""A co.Image on a node: built as the pipeline starts, listed with its state and log, and
the nodes that need it run in it once built (or fail with the build's last lines)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import conducto_nb as co
from conducto_nb.backends.docker.backend import DockerBackend
from conducto_nb.model.states import State
from conducto_nb.run.loop import background_loop
from conducto_nb.run.ownership import shared_writer
from conducto_nb.run.runs import Run, record_from_store


@pytest.fixture
def backend() -> Iterator[DockerBackend]:
    backend = DockerBackend(cpu_budget=2, idle_timeout=5)
    yield backend
    background_loop().submit(backend.close()).result(60)  # its containers and client


def test_a_node_runs_in_its_built_image_with_the_copied_code(
    tmp_path: Path, backend: DockerBackend
) -> None:
    src = tmp_path / "app"
    src.mkdir()
    (src / "hello.txt").write_text("from the image\n")
    image = co.Image("busybox:latest", copy_dir=str(src))
    with co.Serial(image=image) as root:
        co.Exec("cat hello.txt; pwd", name="read")
    run = root.run(backend=backend)
    assert run.state is State.DONE, run["/read"].stderr
    assert run["/read"].stdout.splitlines() == ["from the image", "/conducto_nb/src"]


def test_a_failing_build_fails_the_nodes_that_need_it_with_its_last_lines(
    backend: DockerBackend,
) -> None:
    image = co.Image("busybox:latest", install_packages=["no-such-pkg-xyz"])
    with co.Parallel() as root:
        co.Exec("echo fine", name="fine", image="busybox:latest")
        with co.Serial(name="needs", image=image, stop_on_error=False):
            co.Exec("echo never", name="a")
            co.Exec("echo never", name="b")
    run = root.run(backend=backend)
    assert run["/fine"].state is State.DONE
    for path in ("/needs/a", "/needs/b"):
        assert run[path].state is State.ERROR
        assert "did not build" in run[path].stderr
        assert "cannot install no-such-pkg-xyz" in run[path].stderr  # the build's last lines
        assert "never" not in run[path].stdout
    [img] = run.images
    assert img.state is co.ImageState.ERROR and img.nodes == ("/needs/a", "/needs/b")
    assert img.label == "busybox:latest + packages: no-such-pkg-xyz"
    assert "cannot install no-such-pkg-xyz" in img.log
    assert img.message and "a RUN step exited with code 1" in img.message

    # A rerun tries the build again (once for both nodes), and fails the same way.
    before = img.log.count("building ")
    run.rerun("/needs").wait()
    [img] = run.images
    assert img.state is co.ImageState.ERROR and img.log.count("building ") == before + 1
    assert run["/needs/a"].state is State.ERROR


def test_images_build_before_their_nodes_and_are_listed_with_their_logs(
    tmp_path: Path, backend: DockerBackend
) -> None:
    (tmp_path / "one.txt").write_text("1\n")
    (tmp_path / "two.txt").write_text("2\n")
    one = co.Image("busybox:latest", copy_dir=str(tmp_path), name="one")
    two = co.Image("busybox:latest", install_packages=[], copy_dir=str(tmp_path), name="two")
    with co.Parallel() as root:
        co.Exec("cat one.txt", name="a", image=one)
        co.Exec("cat two.txt", name="b", image=two)
        co.Exec("cat one.txt", name="c", image=one)
    run = root.run(backend=backend)
    assert run.state is State.DONE
    assert [run[p].stdout for p in ("/a", "/b", "/c")] == ["1\n", "2\n", "1\n"]
    images = {i.label.split(" ")[0]: i for i in run.images}
    assert set(images) == {"one", "two"}
    assert images["one"].nodes == ("/a", "/c") and images["two"].nodes == ("/b",)
    for img in images.values():
        assert img.state is co.ImageState.DONE
        assert img.tag and img.tag.startswith(f"conducto-nb/{img.label.split(' ')[0]}:")
        assert img.tag in img.log  # "built <tag> in 1.2s" or "<tag>: up to date"
        assert img.started is not None and img.ended is not None

    # Another process sees the same list, from the store: a loaded Run, and the CLI.
    shared_writer().flush()
    loaded = Run(record_from_store(run.id))
    loaded_images = [(i.key, i.state, i.tag, i.log) for i in loaded.images]
    assert loaded_images == [(i.key, i.state, i.tag, i.log) for i in run.images]
    cli = [str(Path(sys.executable).parent / "conducto-nb"), "images", run.id]
    listing = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert "one (busybox:latest" in listing.stdout and "done" in listing.stdout
    log = subprocess.run([*cli, "2"], capture_output=True, text=True, timeout=60)
    assert run.images[1].tag in log.stdout and run.images[1].label in log.stdout


def test_reuse_for_state_install_start_and_test_a_server(backend: DockerBackend) -> None:
    """Conducto's example: steps of a NEW reuse context share one container, in order, so a
    server the second step starts answers the third."""
    with co.Serial(image="python:3.11-slim") as root:
        with co.Serial(name="app", container_reuse_context=co.ContainerReuseContext.NEW):
            co.Exec("mkdir -p /srv && echo hello-state > /srv/index.html", name="install")
            co.Exec("cd /srv && (python3 -m http.server 8765 >/dev/null 2>&1 &)", name="start")
            co.Exec(
                'python3 -c "import time, urllib.request as u\n'
                "for _ in range(50):\n"
                "    try: print(u.urlopen('http://127.0.0.1:8765').read().decode()); break\n"
                '    except OSError: time.sleep(0.1)"',
                name="test",
            )
            with co.Parallel(name="checks"):  # serialised inside the one container
                co.Exec("hostname > /srv/a; sleep 0.2", name="a")
                co.Exec("hostname > /srv/b; sleep 0.2", name="b")
            co.Exec("cat /srv/a /srv/b", name="same-host")
    run = root.run(backend=backend)
    assert run.state is State.DONE, {p: run[p].stderr for p in run.failed()}
    assert run["/app/test"].stdout.strip() == "hello-state"
    a, b = run["/app/same-host"].stdout.split()
    assert a == b
    starts = sorted((run[p].started, run[p].ended) for p in ("/app/checks/a", "/app/checks/b"))
    assert starts[0][1] <= starts[1][0]  # one after the other, never at once


def test_cli_prints_a_failed_builds_log_once_for_all_the_nodes_needing_it(tmp_path: Path) -> None:
    script = tmp_path / "pipe.py"
    script.write_text(
        "import conducto_nb as co\n\n"
        "def build():\n"
        "    text = 'FROM busybox:latest\\nRUN echo BUILD-BROKE; exit 3'\n"
        "    broken = co.Image(dockerfile_text=text, name='conducto-nb-test-broken')\n"
        "    with co.Parallel(image=broken) as root:\n"
        "        for i in range(3):\n"
        "            co.Exec('true', name=f'n{i}')\n"
        "    return root\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "conducto_nb.cli", "run", f"{script}:build", "--backend", "docker"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    failed = out.stdout.split("\n/n0 ", 1)[1]  # after the live tree: the failures
    assert failed.count("did not build") == 1, failed
    assert all(f"/n{i} error" in out.stdout for i in range(3))
