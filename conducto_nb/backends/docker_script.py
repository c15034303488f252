"""The scripts of the in-container worker protocol (docker_worker.py says how it goes): the
worker shell's set-up, one job's script with its marked end lines, and the kill.

Everything here is POSIX sh that busybox ash and Debian's dash both run, with shell builtins
where a fork would cost (the OOM counter is read with `read`, not `cat`).
"""

from __future__ import annotations

import base64
from pathlib import Path

from .base import Job

__all__ = ["INIT", "KILL_ALL", "job_script"]

BOOT = (Path(__file__).with_name("docker_boot.py")).read_text()

#: Sent once when the container starts. `__co_oom` sets `__co_n` to the cgroup's OOM kill count
#: (v1: memory.oom_control; v2: memory.events), without forking.
INIT = """\
__co_f=
for __co_x in /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events; do
  if [ -r "$__co_x" ]; then __co_f=$__co_x; break; fi
done
__co_oom() {
  __co_n=0
  if [ -n "$__co_f" ]; then
    while read -r __co_k __co_v; do
      if [ "$__co_k" = oom_kill ]; then __co_n=$__co_v; fi
    done < "$__co_f"
  fi
}
__co_boot=@BOOT@
""".replace("@BOOT@", "'" + BOOT.replace("'", "'\\''") + "'")


#: Run by `docker exec` to stop the running job: every process of the container but its init,
#: the worker shell and this one (one job at a time: the rest is the job's), no fork needed.
KILL_ALL = (
    "for d in /proc/[0-9]*; do p=${{d#/proc/}}; case $p in 1|{worker}|$$) ;; "
    "*) kill -{signal} $p 2>/dev/null ;; esac; done"
)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def job_script(mark: str, job: Job, python: str = "python3") -> bytes:
    """The script that runs `job` in the worker shell and ends with the marked end lines."""
    exports = "".join(f"export {k}={_quote(v)}; " for k, v in job.env.items() if k.isidentifier())
    if job.command.is_call:
        kind = "G" if job.generates else "C"
        body = kind + "\n" + base64.encodebytes(job.command.pickled()).decode()
        end = f"__co_END_{mark}"
        call = f'exec {python} -c "$__co_boot" {mark}'
        start = f"( {exports}{call} ) <<'{end}' &\n{body}{end}\n"
    else:
        assert job.command.shell is not None
        start = f"( {exports}exec sh -c {_quote(job.command.shell)} ) </dev/null &\n"
    return (
        "__co_oom; __co_a=$__co_n\n"
        + start
        + f"__co_p=$!; printf '%s P %s %s\\n' {mark} $__co_p $$\n"
        "wait $__co_p; __co_r=$?\n"
        # A pooled container runs one job at a time: whatever is left is that job's and is
        # stopped. A reuse group's steps build state together: a server one starts stays up.
         + ("" if job.reuse_group else "kill -TERM -1 2>/dev/null\n") + "__co_oom\n"
        f"printf '%s E %s %s\\n' {mark} $__co_r $((__co_n - __co_a))\n"
        f"printf '%s E %s %s\\n' {mark} $__co_r $((__co_n - __co_a)) >&2\n"
    ).encode()
