"""`python -m conducto_nb.run.detached ID`: the process a detached run lives in. It adopts the
stored pipeline its launcher recorded, runs it to the end, and exits (0 if it ended done)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="conducto_nb.run.detached")
    parser.add_argument("pipeline_id")
    parser.add_argument("--backend", default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)

    from ..model.states import State
    from .launch import adopt, shared_writer

    run = adopt(args.pipeline_id, backend=args.backend, workdir=args.workdir, force=True)
    run.run("/")
    run.wait()
    shared_writer().flush()
    return 0 if run.state is State.DONE else 1


if __name__ == "__main__":
    sys.exit(main())
