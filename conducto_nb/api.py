"""`co.api`: what Conducto's client API did that still means something self-hosted. Today
that is `co.api.Secrets`, over the project's own secrets store ($CONDUCTO_NB_HOME/secrets.env
for the user, org-secrets.env for the org scope; model/secrets.py). Stored secrets reach every
Exec as environment variables and are masked (`***`) in every log, the widget and the terminal.

    secrets = co.api.Secrets()
    secrets.put_user_secrets({"SLACK_TOKEN": "xoxb-..."})
    secrets.get_user_secrets()                # {"SLACK_TOKEN": "xoxb-..."}
    secrets.get_user_secrets(obfuscate=True)  # {"SLACK_TOKEN": "***"}

`token=` arguments are accepted, as Conducto's signatures had them, and not needed: the store is
this machine's, private to its user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ParameterError
from .model.secrets import MASK, SCOPES, read_scope, write_scope
from .store.db import home

__all__ = ["Secret", "SecretKey", "Secrets"]


@dataclass(frozen=True)
class SecretKey:
    """A secret's name in a scope ("user" or "org")."""

    key: str
    scope: str = "user"

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "scope": self.scope}


@dataclass(frozen=True)
class Secret:
    """A secret's name, value and scope; `mask`: shown as *** in logs (always, here)."""

    key: str
    value: str
    scope: str = "user"
    mask: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "scope": self.scope, "mask": self.mask}

    def __repr__(self) -> str:  # a secret's value never reaches a repr (a notebook cell's)
        return f"Secret(key={self.key!r}, value={MASK!r}, scope={self.scope!r})"


def _scope(scope: str) -> str:
    if scope not in SCOPES:
        raise ParameterError(f"secret scope {scope!r}: use one of {', '.join(SCOPES)}")
    return scope


class Secrets:
    """The secrets store, with Conducto's methods."""

    def get(self, token: Any = None) -> list[Secret]:
        """Every stored secret, org's and user's."""
        return [
            Secret(k, v, scope)
            for scope in ("org", "user")
            for k, v in sorted(read_scope(home(), scope).items())
        ]

    def put(self, secrets: list[Secret], token: Any = None) -> None:
        for scope in SCOPES:
            mine = {s.key: str(s.value) for s in secrets if _scope(s.scope) == scope}
            if mine:
                write_scope(home(), scope, {**read_scope(home(), scope), **mine})

    def delete(self, secrets: list[SecretKey], token: Any = None) -> None:
        for scope in SCOPES:
            names = {s.key for s in secrets if _scope(s.scope) == scope}
            if names:
                kept = {k: v for k, v in read_scope(home(), scope).items() if k not in names}
                write_scope(home(), scope, kept)

    def get_user_secrets(
        self, token: Any = None, include_org_secrets: bool = False, obfuscate: bool = False
    ) -> dict[str, str]:
        found = {**read_scope(home(), "org")} if include_org_secrets else {}
        found.update(read_scope(home(), "user"))
        return dict.fromkeys(found, MASK) if obfuscate else found

    def get_org_secrets(self, token: Any = None, obfuscate: bool = False) -> dict[str, str]:
        found = read_scope(home(), "org")
        return dict.fromkeys(found, MASK) if obfuscate else found

    def put_user_secrets(self, secrets: dict[str, Any], token: Any = None) -> None:
        self.put([Secret(k, str(v), "user") for k, v in secrets.items()])

    def put_org_secrets(self, secrets: dict[str, Any], token: Any = None) -> None:
        self.put([Secret(k, str(v), "org") for k, v in secrets.items()])

    def delete_user_secrets(self, secret_names: list[str], token: Any = None) -> None:
        self.delete([SecretKey(k, "user") for k in secret_names])

    def delete_org_secrets(self, secret_names: list[str], token: Any = None) -> None:
        self.delete([SecretKey(k, "org") for k in secret_names])
