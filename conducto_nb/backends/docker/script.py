"""The scripts of the in-container worker protocol (worker.py says how it goes): the
worker shell's set-up, one job's script with its marked end lines, and the kill.

Everything here is POSIX sh that busybox ash and Debian's dash both run, with shell builtins
where a fork would cost (the OOM counter is read with `read`, not `cat`).

A callable job goes to the container's warm Python (boot.py's `serve`), which the shell
starts at the first one: two fifos (made in /dev/shm, else $TMPDIR or /tmp) that the server and
the shell open as fds 8 and 9, then unlinked. The shell writes the job's request line to fd 8
and reads the child's pid, then its exit code, from fd 9: builtins only, so a callable costs a
fork of a Python that has imported cloudpickle (made before the job comes), not a new
interpreter. Whenever the warm Python cannot take a job (none can start, it declines the job's
env, it died), the job runs as before in a fresh `python3 -c "$__co_boot" MARK` with its
pickle in a here-document; a dead one is started again at the next callable.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from ..base import Job
from ..simple_command import simple_words

__all__ = ["INIT", "KILL_ALL", "init_script", "job_script"]

BOOT = (Path(__file__).with_name("boot.py")).read_text()
#: Whether callables go to the warm Python; False runs each in a fresh python3 (for benches).
WARM_PYTHON = True

#: Sent once when the container starts. `__co_oom` sets `__co_n` to the cgroup's OOM kill count
#: (v1: memory.oom_control; v2: memory.events), without forking. `__co_pycall` hands the job in
#: `$__co_j $__co_x` to the warm Python (started if need be, started again if it died) and sets
#: `__co_p` to its pid, or fails: run it the old way (for good once a new one failed).
#: `__co_pywait` sets `__co_r` to its exit code, as `wait` would. `__co_sp` is the warm Python's
#: pid (the kill spares it); `__co_sx` is set when none can start.
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
__co_sp= __co_sx= __co_sf= __co_sk=0 __co_id=
__co_pystart() {
  for __co_d in /dev/shm "${TMPDIR:-/tmp}" /tmp; do
    [ -d "$__co_d" ] && [ -w "$__co_d" ] || continue
    __co_sk=$((__co_sk + 1)); __co_q=$__co_d/.conducto_nb-$__co_id-$__co_sk
    mkfifo -m 600 "$__co_q.q" "$__co_q.a" 2>/dev/null || continue
    python3 -u -c "$__co_boot" --serve "$__co_q.q" "$__co_q.a" \\
      </dev/null 8<"$__co_q.q" 9>"$__co_q.a" &
    __co_sp=$! __co_sf=1
    exec 8>"$__co_q.q" 9<"$__co_q.a"
    return 0
  done
  __co_sx=1
  return 1
}
__co_pystop() { exec 8>&- 9<&-; __co_sp=; }
__co_pycall() {
  for __co_t in 1 2; do
    [ -z "$__co_sx" ] || return 1
    [ -n "$__co_sp" ] || __co_pystart || return 1
    trap '' PIPE
    if printf '%s %s\\n' "$__co_j" "$__co_x" >&8 2>/dev/null && read -r __co_p <&9; then
      trap - PIPE
      __co_sf=
      [ "$__co_p" != - ]
      return
    fi
    trap - PIPE
    if [ -n "$__co_sf" ]; then __co_sx=1; fi
    __co_pystop
  done
  return 1
}
__co_pywait() {
  read -r __co_r <&9 && return
  kill -KILL "$__co_p" 2>/dev/null
  __co_r=137
  __co_pystop
}
""".replace("@BOOT@", "'" + BOOT.replace("'", "'\\''") + "'")


#: Run by `docker exec` to stop the running job: every process of the container but its init,
#: the worker shell, its warm Python and this one (one job at a time: the rest is the job's),
#: no fork needed. `worker` is the shell's pid, or "SHELL|PYTHON".
KILL_ALL = (
    # It ignores TERM itself: the worker's `kill -TERM -1` once the job's process has died
    # must not stop this sweep before it reaches the job's other processes.
    "trap '' TERM; "
    "for d in /proc/[0-9]*; do p=${{d#/proc/}}; case $p in 1|{worker}|$$) ;; "
    "*) kill -{signal} $p 2>/dev/null ;; esac; done"
)


def init_script(token: str) -> str:
    """INIT for one container; `token` keeps its fifo names apart from any other's."""
    return INIT + f"__co_id={token}\n"


#: A job's processes go before the worker shell when the container runs out of memory: the
#: kernel kills what it must to get under `mem` (not always only one process), and the
#: worker has to outlive the job to report it. Raising one's own score needs no privilege.
_OOM_FIRST = "echo 500 >/proc/self/oom_score_adj 2>/dev/null; "


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def job_script(mark: str, job: Job, python: str = "python3") -> bytes:
    """The script that runs `job` in the worker shell and ends with the marked end lines."""
    env = {k: v for k, v in job.env.items() if k.isidentifier()}
    exports = _OOM_FIRST + "".join(f"export {k}={_quote(v)}; " for k, v in env.items())
    wait = "wait $__co_p; __co_r=$?\n"
    if job.command.is_call:
        kind = "G" if job.generates else "C"
        payload = base64.b64encode(job.command.pickled()).decode()
        fresh = f'( {exports}exec {python} -c "$__co_boot" {mark} ) 8>&- 9<&- <<__co_END &\n'
        fresh += f"{kind}\n$__co_x\n__co_END\n__co_p=$!"
        request = f"{mark} {kind} {base64.b64encode(json.dumps(env).encode()).decode()}"
        if WARM_PYTHON:
            start = f"__co_j='{request}' __co_x='{payload}'\n"
            start += f"if __co_pycall; then __co_w=; else\n{fresh} __co_w=1\nfi\n__co_x=\n"
            wait = f'if [ -n "$__co_w" ]; then {wait}else __co_pywait; fi\n'
        else:
            start = f"__co_x='{payload}'\n{fresh}\n__co_x=\n"
    else:
        assert job.command.shell is not None
        run = f"exec sh -c {_quote(job.command.shell)}"
        words = simple_words(job.command.shell)
        if words is not None and "/" not in words[0] and not words[0].startswith("__co_"):
            # No shell started where it would only run the program (found on PATH first:
            # what is not there still gets the shell's own message).
            run = f"command -v {words[0]} >/dev/null && exec {' '.join(words)}; {run}"
        start = f"( {exports}{run} ) </dev/null 8>&- 9<&- &\n"
        start += "__co_p=$!\n"
    return (
        "__co_oom; __co_a=$__co_n\n"
        + start
        + f"printf '%s P %s %s %s\\n' {mark} $__co_p $$ $__co_sp\n"
        + wait
        # A pooled container runs one job at a time: whatever is left is that job's and is
        # stopped. A reuse group's steps build state together: a server one starts stays up.
        + ("" if job.reuse_group else "kill -TERM -1 2>/dev/null\n")
        + "__co_oom\n"
        f"printf '%s E %s %s\\n' {mark} $__co_r $((__co_n - __co_a))\n"
        f"printf '%s E %s %s\\n' {mark} $__co_r $((__co_n - __co_a)) >&2\n"
    ).encode()
