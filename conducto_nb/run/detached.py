"""`python -m conducto_nb.run.detached ID`: the process a detached run lives in. It adopts the
stored pipeline its launcher recorded, runs it to the end, and exits (0 if it ended done).

With `--action rerun --path /test` it is the background owner of an action on a pipeline whose
owner died (`conducto-nb rerun --detach`): it adopts it (waiting for the old jobs to end, as
any adopter does), acts, and stays until the pipeline is idle. If another process adopted it
first, the action goes to that one and this process exits.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="conducto_nb.run.detached")
    parser.add_argument("pipeline_id")
    parser.add_argument("--backend", default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--action", default=None, help="act on a stored pipeline instead")
    parser.add_argument("--path", default="/")
    parser.add_argument("--rebuild-images", action="store_true")
    args = parser.parse_args(argv)

    from ..model.states import State
    from .adoption import adopt
    from .ownership import shared_writer
    from .runs import load

    if args.action is None:  # the launcher's own pipeline: it holds the lease for us
        run = adopt(args.pipeline_id, backend=args.backend, workdir=args.workdir, force=True)
        run.run("/")
    else:
        run = load(args.pipeline_id)
        if args.rebuild_images:
            run.rebuild_images()
        run = getattr(run, args.action)(args.path)
        if not run.owned_here:
            return 0  # its live owner carries the action out
    run.wait()
    shared_writer().flush()
    return 0 if run.state is State.DONE else 1


if __name__ == "__main__":
    sys.exit(main())
