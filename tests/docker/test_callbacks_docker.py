"""Memory callbacks against a real out-of-memory kill: a container whose job needs more than
its `mem` is killed by the kernel, and the callback reruns it with twice the memory."""

from __future__ import annotations

from backend_kit import BUSYBOX

import conducto_nb as co
from conducto_nb.model.states import State

NEEDS_100_MB = "head -c 100m /dev/zero | tail > /dev/null && echo fits"


def test_retry_with_double_mem_gets_past_an_out_of_memory_kill() -> None:
    node = co.Exec(NEEDS_100_MB, image=BUSYBOX, mem=0.04)
    node.on_error(co.callback.retry_with_double_mem(4))
    run = node.run(backend="docker")
    assert run.state is State.DONE, run.pretty()
    attempts = run["/"].attempts
    assert attempts[0].message == "out of memory (mem=0.04 GB)"
    assert run["/"].stdout == "fits\n"
    assert run.tree.mem == 0.04 * 2 ** (len(attempts) - 1)


def test_handle_memory_errors_stops_at_its_upper_limit() -> None:
    node = co.Exec(NEEDS_100_MB, image=BUSYBOX, mem=0.02)
    node.on_error(co.callback.handle_memory_errors(mem_limits=(0.01, 0.05)))
    run = node.run(backend="docker")
    assert run.state is State.ERROR
    said = [f.message for f in run["/"].callbacks if f.ok is not None]
    assert said == [
        "out of memory: retried with mem=0.04 GB (was 0.02)",
        "mem=0.08 GB would pass the limit of 0.05 GB: not retried",
    ]
