"""`docker_run_args` (CLI-style `docker run` flags) turned into docker SDK keywords, through an
allowlist: a node may ask for what changes its sandbox (network, mounts, capabilities, limits
the backend does not set) but not for what the backend itself decides (cpu, memory, the
container's life) nor for `--privileged`. Refusals name the node and the flag, before anything
runs.

Each node's resource signature (image, cpu, mem, requires_docker, docker_run_args) picks its
worker pool; `signature_hash` names it in container labels.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...errors import BackendError

__all__ = ["ALLOWED", "RunArgs", "parse_run_args", "signature_hash"]

#: Prefix of the labels the backend sets itself; a node may not set them.
LABEL_PREFIX = "conducto_nb."
PIPELINE_LABEL = LABEL_PREFIX + "pipeline"  # the pipeline id
POOL_LABEL = LABEL_PREFIX + "pool"  # the signature's hash
OWNER_LABEL = LABEL_PREFIX + "owner_pid"  # the process that started it
BACKEND_LABEL = LABEL_PREFIX + "backend"  # the DockerBackend instance that started it


@dataclass
class RunArgs:
    """SDK keywords: `create` for `APIClient.create_container`, `host` for
    `create_host_config`."""

    create: dict[str, Any] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)


def _append(where: str, key: str) -> Callable[[RunArgs, str], None]:
    def add(out: RunArgs, value: str) -> None:
        getattr(out, where).setdefault(key, []).append(value)

    return add


def _set(
    where: str, key: str, convert: Callable[[str], Any] = str
) -> Callable[[RunArgs, str], None]:
    def put(out: RunArgs, value: str) -> None:
        getattr(out, where)[key] = convert(value)

    return put


def _pair(where: str, key: str, sep: str) -> Callable[[RunArgs, str], None]:
    def put(out: RunArgs, value: str) -> None:
        name, _, rest = value.partition(sep)
        if not name:
            raise ValueError(f"expected NAME{sep}VALUE, got {value!r}")
        getattr(out, where).setdefault(key, {})[name] = rest

    return put


def _volume(out: RunArgs, value: str) -> None:
    if ":" in value:  # host-path-or-volume:container-path[:options]
        out.host.setdefault("binds", []).append(value)
    else:  # an anonymous volume at that path
        out.create.setdefault("volumes", []).append(value)


def _ulimit(out: RunArgs, value: str) -> None:
    name, _, limits = value.partition("=")
    soft, _, hard = limits.partition(":")
    if not name or not soft:
        raise ValueError(f"expected NAME=SOFT[:HARD], got {value!r}")
    entry = {"name": name, "soft": int(soft), "hard": int(hard or soft)}
    out.host.setdefault("ulimits", []).append(entry)


def _label(out: RunArgs, value: str) -> None:
    name, _, text = value.partition("=")
    if name.startswith(LABEL_PREFIX):
        raise ValueError(f"labels starting with {LABEL_PREFIX!r} are the backend's own")
    out.create.setdefault("labels", {})[name] = text


def _flag(value: str) -> bool:
    if value.lower() not in ("", "true", "false", "1", "0"):
        raise ValueError(f"expected true or false, got {value!r}")
    return value.lower() in ("", "true", "1")


def _read_only(out: RunArgs, value: str) -> None:
    out.host["read_only"] = _flag(value)


def _init(out: RunArgs, value: str) -> None:
    if not _flag(value):
        raise ValueError("the backend's containers always run an init process")


#: flag -> what it sets. Boolean flags are in `_BOOLEAN` (they take no separate value).
ALLOWED: dict[str, Callable[[RunArgs, str], None]] = {
    "--network": _set("host", "network_mode"),
    "--net": _set("host", "network_mode"),
    "--shm-size": _set("host", "shm_size"),
    "--ulimit": _ulimit,
    "--cap-add": _append("host", "cap_add"),
    "--cap-drop": _append("host", "cap_drop"),
    "--device": _append("host", "devices"),
    "--volume": _volume,
    "--tmpfs": _pair("host", "tmpfs", ":"),
    "--user": _set("create", "user"),
    "--workdir": _set("create", "working_dir"),
    "--add-host": _pair("host", "extra_hosts", ":"),
    "--dns": _append("host", "dns"),
    "--label": _label,
    "--security-opt": _append("host", "security_opt"),
    "--pids-limit": _set("host", "pids_limit", int),
    "--read-only": _read_only,
    "--init": _init,
}
_BOOLEAN = {"--read-only", "--init"}
_SHORT = {"-v": "--volume", "-u": "--user", "-w": "--workdir", "-l": "--label"}

_USE_PARAM = "the backend sets it from the node's `{}` parameter"
_OURS = "the backend manages its containers' life itself"
REFUSED: dict[str, str] = {
    **dict.fromkeys(
        ["--cpus", "--cpu-quota", "--cpu-period", "--cpu-shares", "-c", "--cpuset-cpus"],
        _USE_PARAM.format("cpu"),
    ),
    **dict.fromkeys(
        ["--memory", "-m", "--memory-swap", "--memory-reservation"], _USE_PARAM.format("mem")
    ),
    **dict.fromkeys(["--env", "-e", "--env-file"], _USE_PARAM.format("env")),
    "--gpus": _USE_PARAM.format("gpu"),
    **dict.fromkeys(
        [
            *["--rm", "--detach", "-d", "--interactive", "-i", "--tty", "-t", "--name"],
            *["--restart", "--entrypoint", "--attach", "-a", "--log-driver", "--cidfile"],
        ],
        _OURS,
    ),
    "--privileged": "privileged containers are not allowed (and this machine refuses them); "
    "ask for what the node needs with --cap-add or --device, or requires_docker=True",
}


def parse_run_args(args: Sequence[str], path: str = "") -> RunArgs:
    """SDK keywords for `args`; a BackendError naming the node `path` and the flag for anything
    not on the allowlist or malformed."""
    out = RunArgs()
    i = 0
    while i < len(args):
        arg = args[i]
        flag, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        short = arg[:2] in _SHORT or arg[:2] in REFUSED
        if not arg.startswith("--") and short and len(arg) > 2:
            flag, eq, value = arg[:2], "=", arg[2:].removeprefix("=")  # -v/a:/b, -u=1000
        flag = _SHORT.get(flag, flag)
        if flag in REFUSED or flag not in ALLOWED:
            raise BackendError(
                _refusal(flag if short else arg.partition("=")[0], flag), path=path or None
            )
        if not eq and flag not in _BOOLEAN:
            if i + 1 >= len(args):
                raise BackendError(f"`docker_run_args`: {flag} needs a value", path=path or None)
            i += 1
            value = args[i]
        try:
            ALLOWED[flag](out, value)
        except ValueError as e:
            message = f"`docker_run_args`: bad value for {flag}: {e}"
            raise BackendError(message, path=path or None) from None
        i += 1
    return out


def _refusal(shown: str, flag: str) -> str:
    if flag in REFUSED:
        return f"`docker_run_args`: {shown} is not allowed: {REFUSED[flag]}"
    if not flag.startswith("-"):
        return f"`docker_run_args`: {shown!r} is not a flag (expected --flag or --flag=value)"
    allowed = ", ".join(sorted(ALLOWED))
    return f"`docker_run_args`: {shown} is not supported; the allowed flags are: {allowed}"


def signature_hash(signature: tuple[Any, ...]) -> str:
    """A short stable name for a resource signature, for the `conducto_nb.pool` label."""
    text = json.dumps(signature, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
