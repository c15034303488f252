"""Small real git repositories made by a test: `repo` (a pytest fixture: an empty repository on
`main`, configured here, never by the machine's git config), `git`, `commit`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


def git(repo: Path, *args: str, author: str = "Ada Lovelace") -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": author, "GIT_COMMITTER_NAME": author}
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True
    )
    return proc.stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str = "change", **kw: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, **kw)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An empty repository on `main`, configured here, never by the machine's git config."""
    path = tmp_path / "demo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    for key, value in [
        ("user.name", "Ada Lovelace"),
        ("user.email", "ada@example.com"),
        ("commit.gpgsign", "false"),
    ]:
        git(path, "config", key, value)
    return path


def push_event(
    repo: Path, branch: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`conducto-nb .conducto.cfg push --branch=BRANCH` in `repo`, with this Python's bin folder
    first on PATH: the cfg's `conducto-nb run ...` finds the conducto_nb under test."""
    import sys

    env = {**os.environ, **(env or {})}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [sys.executable, "-m", "conducto_nb.cli", ".conducto.cfg", "push", f"--branch={branch}"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
