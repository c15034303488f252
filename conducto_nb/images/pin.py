"""Pinning an Image's git code to one commit when a pipeline starts, so every later build of it
(a rerun, an adopting process, another backend) copies that same code: a rerun after `git
checkout main` must not run main's code under the branch's pipeline.

A repository is named by its main working tree, not by a linked worktree (an event's
checkout is one, and is gone once the event's command ends). Uncommitted changes are left out
of a `copy_repo` image; the note says which, once per repository and run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..errors import ImageBuildError
from .fields import is_local_url
from .image import Image

__all__ = ["pin", "uncommitted"]

_LISTED = 5  # uncommitted paths named in the note; the rest are counted


def pin(image: Image) -> tuple[Image, str | None]:
    """`image` with `copy_commit` set to the commit it would copy now (itself when it copies
    no git code or is pinned already), and a note when the working tree has uncommitted
    changes that it leaves out. Raises ImageBuildError when the repository has no such
    branch (the build would fail the same way)."""
    if image.copy_commit is not None or (image.copy_repo is None and image.copy_url is None):
        return image, None
    from .content_hash import git, local_commit, pick_ref  # lazy: tarfile... for git code only

    where = image.copy_repo or image.copy_url or ""
    if image.copy_repo is not None or is_local_url(where):
        repo = where.removeprefix("file://")
        if not Path(repo).is_dir():
            key = "copy_repo" if image.copy_repo else "copy_url"
            raise ImageBuildError(f"`{key}` {repo} is not a directory")
        commit, _ = local_commit(repo, image.copy_branch)
        note = None
        if image.copy_repo is not None and image.copy_branch is None:
            note = uncommitted(Path(repo))
        main = _main_worktree(Path(repo))
        key = "copy_repo" if image.copy_repo is not None else "copy_url"
        return image.replace(**{key: str(main), "copy_commit": commit}), note
    try:  # a network remote: the commit its branch names now
        found = pick_ref(
            git(["ls-remote", "--", where, image.copy_branch or "HEAD"]), image.copy_branch
        )
    except ImageBuildError:
        return image, None  # unreachable now: the build says so, with git's own words
    return (image, None) if found is None else (image.replace(copy_commit=found), None)


def _main_worktree(repo: Path) -> Path:
    """The repository's main working tree (`repo` itself unless it is a linked worktree)."""
    from .content_hash import git

    common = Path(git(["rev-parse", "--path-format=absolute", "--git-common-dir"], cwd=repo))
    if common.name == ".git" and common.parent.is_dir():
        return common.parent
    return repo  # a bare repository's worktree: keep what was given


def uncommitted(repo: Path) -> str | None:
    """One line saying what a `copy_repo` of `repo` leaves out, or None if nothing."""
    try:
        done = subprocess.run(
            ["git", "status", "--porcelain", "-z"],
            cwd=repo,
            capture_output=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    fields = done.stdout.decode(errors="replace").split("\0")
    paths: list[str] = []
    i = 0
    while i < len(fields):
        entry = fields[i]
        if len(entry) > 3:
            paths.append(entry[3:])
            if entry[0] in "RC":  # a rename or copy: its source path follows
                i += 1
        i += 1
    if not paths:
        return None
    named = ", ".join(paths[:_LISTED])
    if len(paths) > _LISTED:
        named += f" and {len(paths) - _LISTED} more"
    return (
        f"co.Image(copy_repo={str(repo)!r}) copies committed code only: {len(paths)} "
        f"uncommitted change(s) are left out ({named}); commit them, or use copy_dir= to "
        "copy the working tree as it is"
    )
