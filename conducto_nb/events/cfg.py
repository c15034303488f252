"""`.conducto.cfg`: which pipeline command runs on which git event, as Conducto read it.

    [push]
    command = python pipeline.py ci --branch={branch} --run
    filter = {branch} == main || {branch} == "release/*"

    [pr lint]
    command = conducto-nb run pipeline.py:lint --pr={pr}
    image = python:3.11-slim

A section is an event (`push`, `pr`, `pr_close`, `create-branch`, `delete-branch`, `create-tag`,
`delete-tag`) and an optional label; keys before any section belong to `push`. Every section of
an event whose filter matches runs, in file order. A command is a shell command (`/bin/sh -c`,
as in Conducto: pipes, `&&`, `cd x && ...`, redirections), its `{variables}` references to
environment variables that hold the values, never the values pasted in (variables.py); a
multi-line command is a script, a line per command. Filters are filter.py's. Every problem is
a ConfigError naming the file and line, raised when the file is read, before any event arrives.

Keys: `command` (required), `filter`, `duplicate` (SUPPRESS_NEW, the default; ALLOW; SLEEP_OLD;
DEFER), `trusted_authors` (GitHub logins whose pull requests from forks the webhook receiver
runs with secrets and the Docker socket, for this section) and image keys (`image`,
`dockerfile`, `install_pip`... and Conducto's `reqs_*` aliases). The image keys become the
launched pipeline's default image, with the event's checkout as its code (run/launch.py; so
`copy_repo`, `copy_dir`, `copy_url` and `copy_branch` are refused here, as Conducto refused
them): the command finds them as JSON in
`$CONDUCTO_NB_DEFAULT_IMAGE`, e.g. `{"image": "python:3.11-slim", "install_pip": ["pytest"]}`.
"""

from __future__ import annotations

import configparser
import difflib
import json
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .filter import Filter, FilterError, parse_filter
from .variables import names, script, shown, substitute_all

__all__ = [
    "DUPLICATES",
    "EVENTS",
    "IMAGE_ENV",
    "VARIABLES",
    "Config",
    "Section",
    "Step",
    "parse",
]

EVENTS = ("push", "pr", "pr_close", "create-branch", "delete-branch", "create-tag", "delete-tag")
VARIABLES = ("branch", "sha", "repo", "pr", "base_branch", "tag", "author")
DUPLICATES = ("SUPPRESS_NEW", "ALLOW", "SLEEP_OLD", "DEFER")
#: The launched command finds its section's image keys here, as JSON (for co.Image, later).
IMAGE_ENV = "CONDUCTO_NB_DEFAULT_IMAGE"

_STR, _BOOL, _LIST, _MAP = "text", "true/false", "list", "KEY=VALUE list"
IMAGE_KEYS = {
    **dict.fromkeys(("image", "dockerfile", "dockerfile_text", "context", "shell"), _STR),
    **dict.fromkeys(("copy_dir", "copy_url", "copy_branch"), _STR),
    **dict.fromkeys(("copy_repo", "install_docker", "docker_auto_workdir"), _BOOL),
    **dict.fromkeys(("install_pip", "install_packages", "install_npm"), _LIST),
    **dict.fromkeys(("docker_build_args", "path_map"), _MAP),
}
ALIASES = {
    "reqs_py": "install_pip",
    "reqs_packages": "install_packages",
    "reqs_npm": "install_npm",
    "reqs_docker": "install_docker",
}
#: Set for the pipeline a command starts (run/launch.py), so refused in a section.
CODE_KEYS = ("copy_dir", "copy_repo", "copy_url", "copy_branch")
KEYS = ("command", "filter", "duplicate", "trusted_authors", *IMAGE_KEYS, *ALIASES)
_EXCLUSIVE = (("image", "dockerfile", "dockerfile_text"), ("copy_dir", "copy_url", "copy_repo"))

_TOP = "\0top"  # the section that holds keys written before any [section]


@dataclass(frozen=True)
class Section:
    """One `[event label]` section: its command (as written, and the `script` that runs it,
    with references for values), filter, policy, image."""

    event: str
    label: str
    command: str
    script: str
    filter: Filter | None
    duplicate: str
    image: Mapping[str, Any]
    line: int
    trusted_authors: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """How the section is written in the file, e.g. `[push production]`."""
        return f"[{self.event} {self.label}]" if self.label else f"[{self.event}]"

    def image_json(self, values: Mapping[str, str]) -> str | None:
        """The image keys (aliases folded, `{variables}` put in) as JSON, None if there are none."""
        if not self.image:
            return None
        return json.dumps(substitute_all(dict(self.image), values), sort_keys=True)


@dataclass(frozen=True)
class Step:
    """What one section does for one event: run its `script` (the values in the environment)
    or not (`matches` is False); `display` is the command with its values in, for people."""

    section: Section
    matches: bool
    display: str = ""

    @property
    def script(self) -> str:
        """What `/bin/sh -c` runs: the command with references to CONDUCTO_* variables."""
        return self.section.script


@dataclass(frozen=True)
class Config:
    """A parsed, validated `.conducto.cfg`."""

    filename: str
    sections: tuple[Section, ...] = field(default=())

    def plan(self, event: str, values: Mapping[str, str]) -> list[Step]:
        """Every section of `event` in file order, whether its filter matches, and what runs."""
        if event not in EVENTS:
            raise ConfigError(f"unknown event {event!r}{_hint(event, EVENTS)}")
        steps = []
        for s in self.sections:
            if s.event != event:
                continue
            ok = s.filter is None or s.filter.matches(values)
            steps.append(Step(s, ok, shown(s.command, values) if ok else ""))
        return steps


def _hint(word: str, choices: Iterable[str]) -> str:
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1)
    return (
        f" (did you mean {close[0]!r}?)" if close else ""
    ) + f"; use one of: {', '.join(choices)}"


def _key_lines(text: str, optionxform: Any) -> dict[tuple[str, str], int]:
    """(section, key) -> line, and (section, "") -> its header line: configparser keeps none."""
    lines: dict[tuple[str, str], int] = {}
    section, in_value = _TOP, False
    for n, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if raw[0].isspace() and in_value:
            continue  # a continuation line of a multi-line value
        if m := configparser.RawConfigParser.SECTCRE.match(stripped):
            section, in_value = m.group("header"), False
            lines.setdefault((section, ""), n)
        elif m := configparser.RawConfigParser.OPTCRE.match(stripped):
            lines.setdefault((section, optionxform(m.group("option").strip())), n)
            in_value = True
    return lines


def parse(text: str, filename: str = ".conducto.cfg", extra: Iterable[str] = ()) -> Config:
    """Read and validate a `.conducto.cfg`; `extra` names variables given as `--key=value`."""
    parser = configparser.ConfigParser(interpolation=None, default_section="\0none")
    try:
        parser.read_string(f"[{_TOP}]\n{text}", source=filename)
    except configparser.DuplicateSectionError as e:
        at = (e.lineno or 1) - 1
        raise ConfigError(f"section [{e.section}] appears twice", filename, at) from None
    except configparser.DuplicateOptionError as e:
        raise ConfigError(
            f"key `{e.option}` appears twice in [{e.section}]", filename, (e.lineno or 1) - 1
        ) from None
    except configparser.ParsingError as e:
        at = e.errors[0][0] - 1
        line = text.splitlines()[at - 1].strip()
        raise ConfigError(
            f"cannot read line {line!r}: expected `key = value` or `[event label]`", filename, at
        ) from None
    lines = _key_lines(text, parser.optionxform)
    known = (*VARIABLES, *extra)
    sections, seen = [], set()
    for header in parser.sections():
        keys = dict(parser[header])
        if header == _TOP and not keys:
            continue
        where = _where(lines, header)
        if header == _TOP:
            event, label = "push", ""
        else:
            event, _, label = header.strip().partition(" ")
            label = " ".join(label.split())
            if event not in EVENTS:
                raise ConfigError(
                    f"unknown event {event!r}{_hint(event, EVENTS)}", filename, where("")
                )
            if (event, label) in seen:
                raise ConfigError(f"section [{header}] appears twice", filename, where(""))
            seen.add((event, label))
        sections.append(_section(event, label, keys, known, filename, where, header == _TOP))
    return Config(filename, tuple(sections))


def _where(lines: dict[tuple[str, str], int], header: str) -> Callable[[str], int]:
    """The line of a key of this section, or of its header for "" (the first key, at the top)."""
    own = [n for (h, k), n in lines.items() if h == header]
    first = lines.get((header, ""), min(own, default=1))
    return lambda key: lines.get((header, key), first) if key else first


def _section(
    event: str,
    label: str,
    keys: dict[str, str],
    known: tuple[str, ...],
    filename: str,
    where: Callable[[str], int],
    top: bool = False,
) -> Section:
    """Validate one section's keys in file order; the first problem is the one reported."""

    def fail(message: str, key: str = "") -> ConfigError:
        return ConfigError(message, filename, where(key))

    name = f"[{event} {label}]" if label else f"[{event}]"
    name = "the keys before any section (a [push])" if top else name
    for key, value in sorted(keys.items(), key=lambda kv: where(kv[0])):
        if key in CODE_KEYS:
            raise fail(
                f"`{key}` in {name}: the code is the event's own checkout, copied into the "
                "image of the pipeline the command starts (as Conducto did); leave it out",
                key,
            )
        if key not in KEYS:
            raise fail(f"unknown key `{key}` in {name}{_hint(key, KEYS)}", key)
        for var in names(value):
            if var not in known and key != "filter":
                raise fail(f"unknown variable {{{var}}} in `{key}`; known: {', '.join(known)}", key)
    command = keys.get("command")
    if command is None:
        raise fail(f"{name} has no `command`")
    if not command.strip():
        raise fail("`command` is empty", "command")
    try:
        run = script(command)
    except ValueError as e:
        raise fail(f"`command` cannot be parsed by a shell: {e}", "command") from None
    flt = None
    if "filter" in keys:
        try:
            flt = parse_filter(keys["filter"], known)
        except FilterError as e:
            extra = f"; known: {', '.join(known)}" if "unknown variable" in str(e) else ""
            raise fail(f"bad filter {keys['filter']!r}: {e}{extra}", "filter") from None
    duplicate = keys.get("duplicate", "SUPPRESS_NEW").strip().upper()
    if duplicate not in DUPLICATES:
        raise fail(
            f"bad `duplicate` {keys['duplicate']!r}; use one of: {', '.join(DUPLICATES)}",
            "duplicate",
        )
    image = _image({k: v for k, v in keys.items() if k not in (*KEYS[:3], "trusted_authors")}, fail)
    trusted = tuple(keys.get("trusted_authors", "").replace(",", " ").split())
    return Section(event, label, command, run, flt, duplicate, image, where(""), trusted)


def _image(keys: dict[str, str], fail: Callable[..., ConfigError]) -> dict[str, Any]:
    """Image keys converted by kind (text, true/false, lists, KEY=VALUE lists), aliases folded."""
    image: dict[str, Any] = {}
    for key, raw in keys.items():
        canon = ALIASES.get(key, key)
        if canon in image:
            raise fail(f"`{key}` and `{canon}` are the same key; keep one", key)
        kind, value = IMAGE_KEYS[canon], raw.strip()
        if kind == _BOOL:
            states = configparser.ConfigParser.BOOLEAN_STATES
            if value.lower() not in states:
                raise fail(f"`{key}` must be true or false, not {value!r}", key)
            image[canon] = states[value.lower()]
        elif kind in (_LIST, _MAP):
            try:
                items = shlex.split(value)
            except ValueError as e:
                raise fail(f"`{key}`: {e}", key) from None
            if kind == _LIST:
                image[canon] = items
            elif bad := [item for item in items if "=" not in item]:
                raise fail(f"`{key}` takes KEY=VALUE items, not {bad[0]!r}", key)
            else:
                image[canon] = dict(item.split("=", 1) for item in items)
        else:
            image[canon] = value
    for group in _EXCLUSIVE:
        both = [k for k in group if image.get(k)]
        if len(both) > 1:
            raise fail(f"`{both[0]}` and `{both[1]}` cannot both be set", both[1])
    if image.get("copy_branch") and not (image.get("copy_url") or image.get("copy_repo")):
        raise fail("`copy_branch` needs `copy_url` or `copy_repo`", "copy_branch")
    return image
