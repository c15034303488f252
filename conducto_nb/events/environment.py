"""The environment a `.conducto.cfg` command runs with, and the names that may not share it.

Values reach a command only through its environment (`{branch}` in the command text is a
reference to `CONDUCTO_BRANCH`: variables.py), so two values must never land in one variable:
`--Branch=-x` would set `CONDUCTO_BRANCH`, the variable `{branch}` reads, past the check that
refuses a branch starting with `-`. `check_values` refuses that, and ref values git would
refuse, before git or a command sees any value. Apart from the values, the environment is the
user's own, PATH included (`python` and `pip` are theirs; this tool's bin folder is appended
only where `conducto-nb` is not on PATH at all); git variables a hook may have set are dropped.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from ..errors import PipelineError
from .cfg import IMAGE_ENV, VARIABLES, Step
from .variables import env_name, ref_problem

__all__ = ["WORKDIR_ENV", "base_env", "check_values", "command_env"]

_GIT_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR")  # from a hook, say

#: Read by `start()`: the checkout whose files the work folder of each pipeline the command
#: launches starts with (a copy: the checkout goes when the command ends, the run stays).
WORKDIR_ENV = "CONDUCTO_NB_WORKDIR"


def base_env() -> dict[str, str]:
    """This process's environment without the git variables a hook may have set."""
    return {k: v for k, v in os.environ.items() if k not in _GIT_ENV}


def check_values(given: Mapping[str, str]) -> None:
    """Refuse a ref value git would refuse, and a `--key=value` whose environment variable is
    another's: `--Branch` would set CONDUCTO_BRANCH, what `{branch}` reads, and
    `--nb-workdir` one this tool sets."""
    taken = {env_name(name): name for name in VARIABLES} | {
        "CONDUCTO_EVENT": "the event",
        WORKDIR_ENV: "the work folder",
        IMAGE_ENV: "the image keys",
    }
    for name, value in given.items():
        if why := ref_problem(name, value):
            raise PipelineError(why)
        other = taken.setdefault(env_name(name), name)
        if other != name:
            what = f"--{other}" if other in given or other in VARIABLES else other
            raise PipelineError(
                f"--{name} would set {env_name(name)}, which is {what}'s (names ignore case)"
            )


def command_env(step: Step, event: str, values: Mapping[str, str]) -> dict[str, str]:
    """The environment the command runs with: ours, CONDUCTO_* values, its image keys."""
    env = base_env()
    env.pop(IMAGE_ENV, None)
    tool = Path(sys.executable).parent
    if not shutil.which("conducto-nb", path=env.get("PATH")) and (tool / "conducto-nb").exists():
        # the user's python and pip stay first; this only lets `conducto-nb` be found
        env["PATH"] = os.pathsep.join((env.get("PATH", os.defpath), str(tool)))
    env |= {env_name(name): value for name, value in values.items()}
    env["CONDUCTO_EVENT"] = event
    image = step.section.image_json(values)
    if image:
        env[IMAGE_ENV] = image
    return env
