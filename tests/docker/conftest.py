"""Tests that need a real Docker daemon and the offline images: kept apart, as docker-py does.

`scripts/test.sh` starts the daemon (`scripts/docker.sh`) and builds the images
(`scripts/images.sh`) before pytest runs. Where no daemon answers (or an image is missing),
every test here is SKIPPED on a laptop but ERRORS when the `CI` environment variable is set
(to anything non-empty, as test.sh reads it): a skip must never hide a missing daemon in CI.
Every test here carries the `docker` marker (`-m "not docker"` leaves them out), and the
containers a test starts are removed when it ends.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
from backend_kit import BUSYBOX, PYTHON

from conducto_nb.images.docker_sdk import close_sockets_left_in

IN_CI = bool(os.environ.get("CI"))
HERE = Path(__file__).parent
# Every container a test starts carries this label, so teardown finds and removes them all.
TEST_LABEL = "org.conducto-nb.test"
SESSION = uuid.uuid4().hex[:12]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder `docker` (the hook sees the whole session's items)."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.docker)


def missing(reason: str) -> NoReturn:
    """Skip on a laptop; under CI, an error: a skip must never hide there."""
    if IN_CI:
        pytest.fail(f"CI needs Docker: {reason}", pytrace=False)
    pytest.skip(reason)


def _ping(docker: Any) -> str:
    """Empty when the daemon answers, else why not. The probe makes no request when built (a
    failed `from_env()` cannot be closed) and speaks the oldest API any daemon still takes."""
    probe = docker.APIClient(version="1.24", timeout=10, **docker.utils.kwargs_from_env())
    try:
        probe.ping()
    except (docker.errors.DockerException, OSError) as e:  # requests' errors are OSErrors
        close_sockets_left_in(e)  # docker-py leaves a failed unix connect's socket open
        return str(e) or type(e).__name__
    finally:
        probe.close()
    return ""


def _connect() -> tuple[Any, str]:
    """A client whose daemon answered a ping, or None and the reason in one line."""
    try:
        import docker
    except ImportError:
        docker = None
    # Without the SDK, `import docker` can find this very folder as a namespace package.
    if docker is None or not hasattr(docker, "from_env"):
        return None, "the docker SDK is missing: pip install 'conducto_nb[docker]'"
    reason = _ping(docker)
    if reason:
        return None, f"no Docker daemon answers ({reason}); start one with `bash scripts/docker.sh`"
    client = docker.from_env(timeout=10)  # negotiates the API version (1.41 for Debian's 20.10)
    return client, ""


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A docker SDK client for the session; skip (locally) or error (CI) without a daemon."""
    client, reason = _connect()
    if client is None:
        missing(reason)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(autouse=True)
def _needs_docker(docker_client: Any) -> None:
    """Every test here needs the daemon, whether or not it asks for the client."""


@dataclass
class Ran:
    exit_code: int
    output: str
    attrs: dict[str, Any]  # `docker inspect` of the container once it stopped


class Containers:
    """Runs throwaway containers and makes sure none outlives its test."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.labels = {TEST_LABEL: SESSION}

    def run(self, image: str, command: str | list[str], timeout: float = 60, **kw: Any) -> Ran:
        """Start `command` in `image`, wait for it, return its exit code, output and inspect."""
        container = self.client.containers.create(image, command, labels=self.labels, **kw)
        try:
            container.start()
            status = container.wait(timeout=timeout)
            output = container.logs(stdout=True, stderr=True).decode()
            container.reload()
            return Ran(status["StatusCode"], output, container.attrs)
        finally:
            container.remove(force=True)

    def image(self, name: str) -> Any:
        """The image, or a skip / CI error that says how to build it (test.sh does)."""
        import docker

        try:
            return self.client.images.get(name)
        except docker.errors.ImageNotFound:
            missing(f"image {name} is missing: build it with `bash scripts/images.sh`")

    def leftovers(self) -> list[Any]:
        """This session's containers that still exist, running or not."""
        # sparse: no inspect per container, which fails for one another test removes meanwhile
        label = f"{TEST_LABEL}={SESSION}"
        return list(self.client.containers.list(all=True, sparse=True, filters={"label": label}))

    def remove_all(self) -> None:
        for container in self.leftovers():
            container.remove(force=True)


@pytest.fixture
def containers(docker_client: Any) -> Iterator[Containers]:
    """`containers.run(image, cmd, **create_kwargs)`, `containers.image(name)`; whatever a test
    leaves behind is removed when it ends."""
    made = Containers(docker_client)
    try:
        yield made
    finally:
        made.remove_all()


@pytest.fixture
def repo_name(docker_client: Any, containers: Containers) -> Iterator[str]:
    """A fresh `name=` for a test's co.Images (built on the project's busybox and python
    images); every tag of it is removed afterwards."""
    containers.image(PYTHON)
    containers.image(BUSYBOX)
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    for image in docker_client.images.list(name=f"conducto-nb/{name}"):
        for tag in image.tags:
            if tag.startswith(f"conducto-nb/{name}:"):
                docker_client.images.remove(tag, force=True)  # a container may linger
