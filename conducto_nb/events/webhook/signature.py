"""`X-Hub-Signature-256`: GitHub signs each delivery's raw body with the webhook's secret
(HMAC-SHA256, `sha256=<hex>`). The receiver checks it on the bytes as received, before it
parses anything, and compares in constant time so a forger learns nothing from the timing.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from ...errors import ConfigError

__all__ = ["HEADER", "read_secret", "sign", "verify"]

HEADER = "X-Hub-Signature-256"


def sign(secret: bytes, body: bytes) -> str:
    """The header value GitHub sends for `body` (also for test deliveries and the bench)."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether `header` is the signature of `body`; False when missing or malformed."""
    if not header:
        return False
    given = header.strip().encode("utf-8", "replace")
    return hmac.compare_digest(sign(secret, body).encode("ascii"), given)


def read_secret(path: str | Path) -> bytes:
    """The secret in a file (one line; surrounding whitespace dropped), never echoed back."""
    where = str(path)
    try:
        text = Path(path).read_bytes().strip()
    except FileNotFoundError:
        raise ConfigError("no such secret file", where) from None
    except OSError as e:
        raise ConfigError(f"cannot read the secret file: {e.strerror}", where) from None
    if not text:
        raise ConfigError("the secret file is empty: put the webhook's secret in it", where)
    if b"\n" in text:
        raise ConfigError("the secret file holds more than one line: keep the secret only", where)
    return text
