"""`container_reuse_context` on a Parallel and on an Exec, as Conducto allowed: a NEW
Parallel's children share one container and run one after another; a NEW Exec gets a fresh
container of its own, even inside another NEW subtree."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from backend_kit import BUSYBOX

import conducto_nb as co
from conducto_nb.backends.docker.backend import DockerBackend
from conducto_nb.model.states import State
from conducto_nb.run.loop import background_loop

NEW = co.ContainerReuseContext.NEW


@pytest.fixture
def backend() -> Iterator[DockerBackend]:
    backend = DockerBackend(cpu_budget=2, idle_timeout=5)
    yield backend
    background_loop().submit(backend.close()).result(60)


def test_a_new_parallel_shares_a_container_and_a_new_exec_gets_its_own(
    backend: DockerBackend,
) -> None:
    with co.Serial(image=BUSYBOX) as root:
        with co.Parallel(name="db", container_reuse_context=NEW):
            co.Exec("echo seeded > /tmp/state; hostname; sleep 0.3", name="seed")
            co.Exec("hostname; sleep 0.3", name="check")
        with co.Serial(name="app", container_reuse_context=NEW):
            co.Exec("touch /tmp/mine; hostname", name="build")
            co.Exec("hostname; test ! -e /tmp/mine", name="fresh", container_reuse_context=NEW)
            co.Exec("hostname; test -e /tmp/mine", name="same")
    run = root.run(backend=backend)
    assert run.state is State.DONE, {p: run[p].stderr for p in run.failed()}
    host = {n.path: run[n.path].stdout.split()[-1] for n in run.tree.walk() if n.kind == "exec"}
    assert host["/db/seed"] == host["/db/check"]
    spans = sorted((run[p].started, run[p].ended) for p in ("/db/seed", "/db/check"))
    assert spans[0][1] <= spans[1][0]  # one after the other, never at once
    assert host["/app/build"] == host["/app/same"] != host["/app/fresh"]
    assert host["/app/fresh"] != host["/db/seed"]
