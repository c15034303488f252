"""`co.Image` builds against the real daemon: cached by content, rebuilt on a change, committed
code only, pip from the registry through the host's CA, clear errors, concurrent builds.

Each test builds under its own repository (`name=`), whose tags are removed when it ends;
content that must really build (not come from Docker's layer cache) carries a fresh token.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

import conducto_nb as co
from conducto_nb.images.build import build
from conducto_nb.images.fields import CODE_DIR

pytestmark = pytest.mark.docker

PYTHON = "python:3.11-slim"
BUSYBOX = "busybox:latest"


def cat(containers: Any, tag: str, script: str) -> str:
    ran = containers.run(tag, ["sh", "-c", script])
    assert ran.exit_code == 0, ran.output
    return str(ran.output)


def git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_SYSTEM": "/dev/null"}
    who = ["-c", "user.name=T", "-c", "user.email=t@example.com"]
    subprocess.run(["git", *who, *args], cwd=repo, env=env, check=True, capture_output=True)


def test_a_second_build_finds_the_first_and_a_changed_file_rebuilds(
    docker_client: Any, containers: Any, repo_name: str, tmp_path: Path
) -> None:
    (tmp_path / "data.txt").write_text(f"one {uuid.uuid4()}\n")
    first = co.Image(BUSYBOX, copy_dir=tmp_path, name=repo_name)
    tag = first.build(docker_client)
    assert tag == first.name and tag.startswith(f"conducto-nb/{repo_name}:")
    assert (
        cat(containers, tag, "pwd; cat data.txt")
        == f"{CODE_DIR}\n" + (tmp_path / "data.txt").read_text()
    )

    lines: list[str] = []
    again = co.Image(BUSYBOX, copy_dir=tmp_path, name=repo_name).build(docker_client, lines.append)
    assert (again, lines) == (tag, [f"{tag}: up to date"])  # found, nothing built

    (tmp_path / "data.txt").write_text("two\n")
    changed = co.Image(BUSYBOX, copy_dir=tmp_path, name=repo_name).build(docker_client)
    assert changed != tag
    assert cat(containers, changed, "cat data.txt") == "two\n"
    assert cat(containers, tag, "cat data.txt").startswith("one")  # the old one is still there


def test_copy_repo_builds_the_committed_code_only(
    docker_client: Any, containers: Any, repo_name: str, tmp_path: Path
) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "app.py").write_text("print('committed')\n")
    git(tmp_path, "add", "app.py")
    git(tmp_path, "commit", "-qm", "first")
    (tmp_path / "app.py").write_text("print('uncommitted edit')\n")
    (tmp_path / "notes.txt").write_text("never added\n")

    tag = co.Image(PYTHON, copy_repo=tmp_path, name=repo_name).build(docker_client)
    assert cat(containers, tag, "pwd; ls; python app.py") == f"{CODE_DIR}\napp.py\ncommitted\n"


def test_install_pip_reaches_the_registry_and_leaves_no_ca_or_config_behind(
    docker_client: Any, containers: Any, repo_name: str
) -> None:
    # A base of our own (a fresh label) so the pip step really runs, not from Docker's cache.
    base = f"FROM {PYTHON}\nLABEL token={uuid.uuid4().hex}\n"
    img = co.Image(dockerfile_text=base, install_pip=["six"], name=repo_name)
    lines: list[str] = []
    tag = img.build(docker_client, lines.append)
    assert any(line.startswith("Successfully installed six") for line in lines), lines
    out = cat(containers, tag, "python -c 'import six; print(six.__name__)'; ls /tmp")
    assert out == "six\n"  # and /tmp is empty: no CA bundle, no pip.conf
    history = " ".join(str(h.get("CreatedBy")) for h in docker_client.api.history(tag))
    assert "/tmp/conducto_nb" not in history  # no step of the final image copied them


def test_a_failing_run_is_an_image_build_error_with_the_last_lines(
    docker_client: Any, repo_name: str
) -> None:
    text = f"FROM {BUSYBOX}\nRUN echo 'about to fail'; echo 'on stderr' >&2; exit 3\n"
    with pytest.raises(co.ImageBuildError) as caught:
        co.Image(dockerfile_text=text, name=repo_name).build(docker_client)
    message = str(caught.value)
    assert message.startswith(f"cannot build conducto-nb/{repo_name}:")
    assert "a RUN step exited with code 3" in message
    assert "\n    about to fail\n" in message + "\n" and "\n    on stderr" in message


def test_an_unknown_apt_package_is_an_image_build_error(docker_client: Any, repo_name: str) -> None:
    img = co.Image(PYTHON, install_packages=["no-such-package-conducto-nb"], name=repo_name)
    with pytest.raises(co.ImageBuildError, match="Unable to locate package no-such-package"):
        img.build(docker_client)


def test_a_changed_base_image_rebuilds_under_the_same_tag(
    docker_client: Any, containers: Any, repo_name: str
) -> None:
    base = f"conducto-nb/{repo_name}:base"
    docker_client.images.get(BUSYBOX).tag(base)
    tag = co.Image(base, install_packages=[], name=repo_name).build(docker_client)
    assert cat(containers, tag, "cat /v 2>/dev/null || echo none") == "none\n"

    box = docker_client.containers.create(BUSYBOX, ["sh", "-c", "echo v2 > /v"])
    try:
        box.start()
        box.wait(timeout=30)
        box.commit(repository=f"conducto-nb/{repo_name}", tag="base")
    finally:
        box.remove(force=True)
    lines: list[str] = []
    again = co.Image(base, name=repo_name).build(docker_client, lines.append)
    assert again == tag and f"{tag}: up to date" not in lines
    assert cat(containers, tag, "cat /v") == "v2\n"


def test_a_dockerfiles_user_is_restored_and_owns_the_code(
    docker_client: Any, containers: Any, repo_name: str, tmp_path: Path
) -> None:
    (tmp_path / "main.sh").write_text("echo hi\n")
    text = (
        f"FROM {BUSYBOX}\nARG UID\n"
        "RUN echo bob:x:$UID:$UID::/tmp:/bin/sh >> /etc/passwd && echo bob:x:$UID: >> /etc/group\n"
        "USER bob\n"
    )
    img = co.Image(
        dockerfile_text=text, docker_build_args={"UID": 1234}, copy_dir=tmp_path, name=repo_name
    )
    tag = img.build(docker_client)
    assert cat(containers, tag, "id -u; stat -c %U main.sh; sh main.sh") == "1234\nbob\nhi\n"


def test_builds_run_at_once_and_one_image_asked_twice_builds_once(
    docker_client: Any, containers: Any, repo_name: str
) -> None:
    def slow(what: str) -> co.Image:
        text = f"FROM {BUSYBOX}\nRUN echo {what} {uuid.uuid4().hex} && sleep 3\n"
        return co.Image(dockerfile_text=text, name=repo_name)

    one, other = slow("one"), slow("other")
    seen: dict[str, list[str]] = {"a": [], "b": [], "c": []}
    order: list[tuple[str, str]] = []  # every log line of every build, as it arrived
    threads: set[int] = set()

    def log(key: str) -> Any:
        def put(line: str) -> None:
            threads.add(threading.get_ident())
            seen[key].append(line)
            order.append((key, line))

        return put

    async def main() -> list[str]:
        quitter = asyncio.create_task(build(one, docker_client))
        await asyncio.sleep(0.2)
        quitter.cancel()  # one waiter giving up stops the build for nobody else
        return await asyncio.gather(
            build(one, docker_client, log("a")),
            build(co.Image.from_json(one.to_json()), docker_client, log("b")),
            build(other, docker_client, log("c")),
        )

    tags = asyncio.run(main())
    assert tags[0] == tags[1] != tags[2]
    assert seen["a"] == seen["b"]  # one build, both saw all of it
    assert sum(line.startswith("Successfully built") for line in seen["a"]) == 1

    def when(key: str, starts: str) -> int:
        return next(i for i, (k, line) in enumerate(order) if k == key and line.startswith(starts))

    # At once, as the builds' own logs tell: each RUN began (its echo printed, then 3 s of
    # sleep) before the other build was done.
    assert when("a", "one ") < when("c", "Successfully built"), order
    assert when("c", "other ") < when("a", "Successfully built"), order
    assert threads == {threading.get_ident()}  # logs arrive on the caller's loop thread
    assert cat(containers, tags[2], "echo ok") == "ok\n"
