"""Write the pip.conf that pip needs inside an image build to reach the registry from here.

Why: containers see the same TLS-intercepting proxy as the host, and a machine may point pip at
a mirror. Only what reaches a registry over the network is kept (index-url, extra-index-url,
trusted-host, timeout, retries); local paths (find-links, file:// indexes) mean nothing inside
the build. The CA bundle is copied beside it by images.sh. Usage: pip_conf.py OUT CERT_PATH
"""

from __future__ import annotations

import configparser
import os
import sys
from pathlib import Path

KEYS = ("index-url", "extra-index-url", "trusted-host", "timeout", "default-timeout", "retries")


def host_settings() -> dict[str, str]:
    """pip's own precedence: global, then user, then PIP_CONFIG_FILE, then PIP_* variables."""
    home = Path.home()
    xdg = os.environ.get("XDG_CONFIG_HOME", str(home / ".config"))
    files = [
        "/etc/xdg/pip/pip.conf",
        "/etc/pip.conf",
        str(home / ".pip/pip.conf"),
        f"{xdg}/pip/pip.conf",
        os.environ.get("PIP_CONFIG_FILE", ""),
    ]
    found: dict[str, str] = {}
    for path in files:
        parser = configparser.RawConfigParser()
        try:
            parser.read(path)
        except configparser.Error:
            continue
        for section in ("global", "install"):
            if parser.has_section(section):
                found.update({k: v for k, v in parser.items(section) if k in KEYS})
    for key in KEYS:
        value = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if value:
            found[key] = value
    return found


def networked(key: str, value: str) -> str:
    if key.endswith("index-url"):
        return " ".join(u for u in value.split() if u.startswith(("http://", "https://")))
    return value.strip()


def main(out: str, cert: str) -> None:
    lines = ["[global]", f"cert = {cert}"]
    for key, value in host_settings().items():
        value = networked(key, value)
        if value:
            lines.append(f"{key} = {value}")
    Path(out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
