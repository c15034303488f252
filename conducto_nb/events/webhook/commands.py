"""`conducto-nb webhook serve` and `conducto-nb webhook ls`: a sub-command of its own, so the
main CLI only adds it; aiohttp is imported only when a receiver starts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from ...errors import PipelineError

__all__ = ["webhook_app"]

webhook_app = typer.Typer(
    help="Receive GitHub webhook deliveries and run what .conducto.cfg says.",
    no_args_is_help=True,
)
_console = Console(highlight=False, soft_wrap=True)


def _fail(error: PipelineError) -> NoReturn:
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(2) from None


@webhook_app.command("serve")
def serve_command(
    repo: Annotated[str, typer.Option(help="the git repository whose .conducto.cfg runs")],
    secret_file: Annotated[
        str, typer.Option(help="a file holding the webhook's secret (as set on GitHub)")
    ],
    host: Annotated[str, typer.Option(help="the address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="the port (0: any free one)")] = 8000,
    path_prefix: Annotated[
        str, typer.Option(help="the path a reverse proxy forwards, e.g. /hooks/ci")
    ] = "",
    trusted_authors: Annotated[
        str, typer.Option(help="GitHub logins whose fork pull requests get secrets: a,b")
    ] = "",
) -> None:
    """Receive deliveries until Ctrl-C; the cfg is read from the default branch each time."""
    from ..simulate import _git, load_config
    from .server import serve
    from .signature import read_secret

    try:
        if not 0 <= port <= 65535:
            raise PipelineError(f"--port {port}: a port is a number from 0 to 65535")
        top = _git(Path(repo), "rev-parse", "--show-toplevel", check=False)
        if not Path(repo).is_dir() or not top:
            raise PipelineError(f"--repo {repo!r} is not a git repository")
        secret = read_secret(secret_file)
        load_config(Path(top))  # a broken cfg is said now, not at the first delivery
        allowed = [a for a in trusted_authors.replace(",", " ").split() if a]
        serve(
            Path(top),
            secret,
            host=host,
            port=port,
            path_prefix=path_prefix,
            trusted_authors=allowed,
            say=lambda line: print(line, flush=True),
        )
    except PipelineError as e:
        _fail(e)


@webhook_app.command("ls")
def list_deliveries(
    limit: Annotated[int, typer.Option(help="how many, newest first")] = 50,
) -> None:
    """Deliveries received, what each became and the pipelines it started."""
    from ...store.pipelines import Store

    try:
        with Store() as store:
            found = store.deliveries(limit)
    except PipelineError as e:
        _fail(e)
    table = Table("delivery", "received", "event", "target", "state", "pipelines", "detail")
    for d in found:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d.received))
        v = d.values
        target = f"#{v['pr']}" if v.get("pr") else v.get("tag") or v.get("branch") or ""
        event = f"{d.github_event} → {d.event}" if d.event else d.github_event
        event += "" if d.trusted else " (untrusted)"
        table.add_row(d.id, when, event, target, d.state, " ".join(d.pipelines), d.detail)
    _console.print(table)
