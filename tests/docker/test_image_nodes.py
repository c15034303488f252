"""A co.Image on a node: built before anything runs, then the node runs in it."""

from __future__ import annotations

from pathlib import Path

import pytest

import conducto_nb as co
from conducto_nb.backends.docker import DockerBackend
from conducto_nb.states import State


@pytest.fixture
def backend() -> DockerBackend:
    return DockerBackend(cpu_budget=2, idle_timeout=5)


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


def test_a_failing_build_stops_the_run_before_anything_runs(backend: DockerBackend) -> None:
    image = co.Image("busybox:latest", install_packages=["no-such-pkg-xyz"])
    with co.Serial(image=image) as root:
        co.Exec("echo never", name="a")
    with pytest.raises(co.BackendError, match="needed by /a"):
        root.run(backend=backend)


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
