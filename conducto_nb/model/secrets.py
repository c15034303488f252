"""Secret environment values: `env={"TOKEN": co.secret("GITHUB_TOKEN")}`.

A secret is only a name in the tree. Its value is read when the pipeline runs, from the owner
process's environment or from `$CONDUCTO_NB_HOME/secrets.env` (KEY=value lines), so it is
never serialised, stored, or shown: every log line masks it as `***`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from ..errors import ParameterError

__all__ = ["SCOPES", "Secret", "mask", "read_scope", "secret", "stored_secrets", "write_scope"]

MASK = "***"
#: Each scope of stored secrets and its file under $CONDUCTO_NB_HOME.
SCOPES = {"user": "secrets.env", "org": "org-secrets.env"}
#: Scopes written by this process so far: a running pipeline reads them again at once.
writes = 0
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def read_scope(home: Path, scope: str) -> dict[str, str]:
    """The secrets stored in one scope ("user" or "org"), by name."""
    file = home / SCOPES[scope]
    found: dict[str, str] = {}
    if file.exists():
        for line in file.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and _NAME.fullmatch(key.strip()):
                found[key.strip()] = value.strip()
    return found


def write_scope(home: Path, scope: str, secrets: dict[str, str]) -> None:
    """Replace one scope's secrets; the file is private to the user and replaced at once."""
    for name, value in secrets.items():
        if not _NAME.fullmatch(name):
            raise ParameterError(f"secret name {name!r} is not a valid environment variable name")
        if "\n" in value or "\0" in value or value != value.strip():
            raise ParameterError(
                f"secret {name}: a value on one line, without surrounding spaces or NUL bytes"
            )
    file = home / SCOPES[scope]
    tmp = file.with_name(f".{file.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(f"{k}={v}\n" for k, v in sorted(secrets.items()))
    os.replace(tmp, file)
    global writes
    writes += 1


def stored_secrets(home: Path | None) -> dict[str, str]:
    """Every stored secret, as the env every Exec gets: the org's, then the user's over them."""
    if home is None:
        return {}
    return {**read_scope(home, "org"), **read_scope(home, "user")}


class Secret:
    """A named secret; its value is looked up at run time, never kept in the tree."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name or ""):
            raise ParameterError(f"secret name {name!r} is not a valid environment variable name")
        self.name = name

    def __repr__(self) -> str:
        return f"secret({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("secret", self.name))

    def to_json(self) -> dict[str, str]:
        return {"secret": self.name}

    def resolve(self, home: Path | None = None) -> str:
        """The value from the environment, else from the secrets file; an error names it."""
        if self.name in os.environ:
            return os.environ[self.name]
        if home is not None and self.name in (stored := stored_secrets(home)):
            return stored[self.name]
        where = f" or {home / 'secrets.env'}" if home else ""
        raise ParameterError(f"secret `{self.name}` is not set in the environment{where}")


def secret(name: str) -> Secret:
    """Mark an env value as secret: `co.Exec(..., env={"TOKEN": co.secret("TOKEN")})`."""
    return Secret(name)


def mask(text: str, values: Iterable[str]) -> str:
    """Replace every secret value in `text` with `***` (longest first, so overlaps mask fully)."""
    for value in sorted((v for v in values if v), key=len, reverse=True):
        text = text.replace(value, MASK)
    return text
