"""`conducto-nb debug clean`: a sub-command of its own, so the main CLI only adds it; the
Docker SDK is imported only when it runs."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from ..errors import PipelineError

__all__ = ["debug_app"]

_console = Console(highlight=False, soft_wrap=True)

debug_app = typer.Typer(help="Debug containers (%co_debug).", no_args_is_help=True)


@debug_app.command("clean")
def debug_clean(
    everything: Annotated[
        bool, typer.Option("--all", help="also those of kernels that are still running")
    ] = False,
) -> None:
    """Remove debug containers whose kernel is gone (with --all, every one)."""
    from .container import clean

    try:
        removed = clean(everything)
    except PipelineError as e:
        _console.print(f"[red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from None
    _console.print(f"removed {len(removed)} debug container(s)")
