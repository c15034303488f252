"""`conducto-nb`: run pipeline scripts with a live tree of states, and look at or act on any
pipeline in the store, whichever process started it."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.table import Table
from rich.text import Text

from .backends.choice import backend_named
from .debug.commands import debug_app
from .errors import PipelineError
from .events.webhook.commands import webhook_app
from .model.params import reuse_root
from .model.states import NodeStatus, State
from .run.launch import start
from .run.results import NodeResult
from .run.runs import Run, load
from .terminal import console, images_table, run_with_view, styled, tree_view, watch

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Run and inspect conducto_nb pipelines."
)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="FILE.py or FILE.py:FUNC")],
    backend: Annotated[
        str | None,
        typer.Option(help="local, docker or dask (default: docker where a daemon answers)"),
    ] = None,
    dask: Annotated[
        str | None, typer.Option(help="run on the Dask cluster at this scheduler address")
    ] = None,
    detach: Annotated[
        bool, typer.Option("--detach", help="run in a background process and return at once")
    ] = False,
) -> None:
    """Run a pipeline script; options after the target go to its function (--branch=main)."""
    from .main import load_named_pipeline

    if dask:
        os.environ["CONDUCTO_NB_DASK_SCHEDULER"] = dask  # a detached owner inherits it
        backend = "dask"
    try:
        root, name = load_named_pipeline(target, ctx.args)
        backend_named(backend)  # an unknown name is an error here, not in a detached process
        if detach:
            handle = start(root, backend=backend, detach=True, name=name)
            console.print(
                f"pipeline {handle.id} runs in the background; "
                f"watch it with: conducto-nb show {handle.id}"
            )
            raise typer.Exit(0)
        code = run_with_view(root, backend, name)
    except PipelineError as e:
        _fail(e)
    raise typer.Exit(code)


def _fail(error: PipelineError) -> NoReturn:
    """One line that says what is wrong, exit 2: no traceback for bad input or a bad store."""
    console.print(f"[red]error:[/] {error}", highlight=False, soft_wrap=True)
    raise typer.Exit(2) from None


@app.command("ls")
def list_pipelines() -> None:
    """Pipelines in the store, newest first."""
    from .store.pipelines import Store

    try:
        store = Store()
    except PipelineError as e:  # a store that cannot be read: say so in one line
        _fail(e)
    try:
        table = Table("id", "name", "state", "created", "owner")
        for p in store.list_pipelines():
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(p.created))
            status = styled(NodeStatus(State(p.state)))
            if p.state in ("queued", "running") and not p.owner_alive:
                # its owner died mid-run (the lease says so): nothing runs any more
                status = Text("interrupted", style="dark_orange")
            table.add_row(p.id, p.name, status, when, "running here" if p.owner_alive else "")
        console.print(table)
    except PipelineError as e:
        _fail(e)
    finally:
        store.close()


@app.command()
def show(
    pipeline_id: str,
    path: Annotated[str | None, typer.Argument()] = None,
    html: Annotated[Path | None, typer.Option(help="a co.Notebook's run, rendered")] = None,
    ipynb: Annotated[Path | None, typer.Option(help="a co.Notebook's executed .ipynb")] = None,
) -> None:
    """A pipeline's tree of states, or one node's parameters, attempts and output; for a
    co.Notebook, --html / --ipynb write its executed notebook."""
    handle = _load(pipeline_id)
    if path is None:
        console.print(tree_view(handle))
        if (table := images_table(handle)) is not None:
            console.print(table)
        return
    try:
        result = handle[path]
        node = handle.tree[path]
    except KeyError:
        console.print(f"[red]error:[/] {pipeline_id} has no node {path}")
        raise typer.Exit(2) from None
    console.print(Text.assemble(path, "  ", styled(result.status)))
    if (failure := result.held_back_by) is not None:
        console.print(
            f"held back by the failure at {failure}: `conducto-nb rerun {pipeline_id} {failure}`"
            " runs it again, then this",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    console.print(repr(node.params), markup=False, highlight=False)
    for att in result.attempts:
        took = f" in {att.duration:.1f}s" if att.duration is not None else ""
        console.print(
            f"attempt {att.attempt}: {att.state or 'running'} exit {att.exit_code}{took}"
            + (f" — {att.message}" if att.message else ""),
            highlight=False,
        )
    for fired in result.callbacks:
        if fired.ok is None:
            continue  # a notification being sent: its answer follows
        mark = "" if fired.ok else " (failed)"
        console.print(
            f"callback on {fired.event}: {fired.label}{mark}: {fired.message}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if result.attempts and result.attempts[-1].result is not None:
        console.print(f"returned: {result.attempts[-1].result}", markup=False, highlight=False)
    for stream in ("stdout", "stderr"):
        text = getattr(result, stream)
        if text:
            console.rule(stream)
            console.print(text, markup=False, highlight=False, end="")
    _show_notebook(result, html, ipynb)


def _show_notebook(result: NodeResult, html: Path | None, ipynb: Path | None) -> None:
    """A co.Notebook's executed notebook: said, and written where asked."""
    executed = result.notebook
    if executed is None:
        if html or ipynb:
            console.print(f"[red]error:[/] {result.path} has no executed notebook")
            raise typer.Exit(2)
        return
    console.rule("notebook")
    console.print(f"executed notebook: {executed.code_cells} code cells", highlight=False)
    if html is not None:
        html.write_text(executed.html(), encoding="utf-8")
        console.print(f"rendered to {html}", markup=False, highlight=False)
    if ipynb is not None:
        console.print(f"saved to {executed.save(ipynb)}", markup=False, highlight=False)
    if html is None and ipynb is None:
        console.print("--html FILE renders it, --ipynb FILE saves it", highlight=False)


@app.command()
def images(
    pipeline_id: str,
    number: Annotated[int | None, typer.Argument(help="an image's # in the list")] = None,
) -> None:
    """A pipeline's co.Images with their build states, or one image's build log."""
    handle = _load(pipeline_id)
    table = images_table(handle)
    if table is None:
        console.print(f"pipeline {pipeline_id} uses no co.Image")
        return
    if number is None:
        console.print(table)
        return
    found = handle.images
    if not 1 <= number <= len(found):
        console.print(f"[red]error:[/] {pipeline_id} has images 1 to {len(found)}, not {number}")
        raise typer.Exit(2)
    img = found[number - 1]
    console.print(Text.assemble(img.label, "  ", img.state.value), highlight=False)
    if img.message:
        console.print(img.message, markup=False, highlight=False)
    console.print(img.log or "(nothing logged)", markup=False, highlight=False, end="")


def _act(
    action: str, pipeline_id: str, path: str, detach: bool = False, rebuild: bool = False
) -> None:
    """Act on a pipeline wherever it runs. If its owner died, this process adopts it and
    shows it until it ends (Ctrl-C kills it), or with `detach` a background process does."""
    from .run.detaching import spawn_detached
    from .run.runs import shared_store

    handle = _load(pipeline_id)
    if path in handle.tree:
        group = reuse_root(handle.tree[path])
        if group is not None and group.path != path:
            console.print(
                f"{path} shares one container with the rest of {group.path} "
                f"(container_reuse_context=NEW): {action} acts on all of {group.path}",
                highlight=False,
            )
    owner = shared_store().load(pipeline_id)
    if detach and not owner.owner_alive and action not in ("kill", "stop"):
        extra = ["--rebuild-images"] if rebuild else []
        pid = spawn_detached(pipeline_id, ["--action", action, "--path", path, *extra])
        console.print(
            f"{action} {pipeline_id} {path}: its owner had died; process {pid} adopts it and "
            f"runs it in the background. Watch it with: conducto-nb show {pipeline_id}",
            highlight=False,
            soft_wrap=True,
        )
        return
    try:
        if rebuild:
            handle.rebuild_images()
        getattr(handle, action)(path)
    except PipelineError as e:
        console.print(f"[red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from None
    if handle.owned_here:  # adopted: the process that ran it died, so it runs here now
        console.print(
            f"{action} {pipeline_id} {path}: its owner had died; it runs here until it ends "
            "(Ctrl-C kills it; --detach runs it in the background)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(watch(handle))
    where = f" (run by process {owner.owner.pid})" if owner.owner_alive and owner.owner else ""
    console.print(f"{action} {pipeline_id} {path}: ok{where}", highlight=False)


_DETACH = typer.Option(
    "--detach", help="if its owner died, run it in a background process, not this one"
)


@app.command()
def rerun(
    pipeline_id: str,
    path: Annotated[str, typer.Argument()] = "/",
    detach: Annotated[bool, _DETACH] = False,
    rebuild_images: Annotated[
        bool,
        typer.Option(
            "--rebuild-images",
            help="build the run's images again from their sources now (else: as it ran)",
        ),
    ] = False,
) -> None:
    """Rerun what failed or was killed below PATH, with the code and images it ran."""
    _act("rerun", pipeline_id, path, detach, rebuild_images)


@app.command()
def kill(pipeline_id: str, path: Annotated[str, typer.Argument()] = "/") -> None:
    """Kill what runs below PATH."""
    _act("kill", pipeline_id, path)


_DURATION = re.compile(r"^(\d+)([smhdw])$")


@app.command()
def gc(older_than: Annotated[str, typer.Option(help="e.g. 7d, 12h, 30m")] = "7d") -> None:
    """Delete pipelines (and their logs) older than this whose owner is gone."""
    from .run.forget import remove_pipeline_files
    from .store.pipelines import Store

    m = _DURATION.match(older_than)
    if not m:
        console.print(f"[red]error:[/] --older-than {older_than!r}: use a number and s/m/h/d/w")
        raise typer.Exit(2)
    seconds = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
    try:
        with Store() as store:
            deleted = store.gc(seconds)
    except PipelineError as e:
        _fail(e)
    for pipeline_id in deleted:  # their files go with them
        remove_pipeline_files(pipeline_id)
    console.print(
        f"deleted {len(deleted)} pipeline(s)" + (f": {', '.join(deleted)}" if deleted else "")
    )


_EVENT_OPTIONS = {"allow_extra_args": True, "ignore_unknown_options": True}


@app.command(".conducto.cfg", context_settings=_EVENT_OPTIONS)
@app.command("cfg", context_settings=_EVENT_OPTIONS, hidden=True)
def conducto_cfg(
    ctx: typer.Context,
    event: Annotated[
        str, typer.Argument(help="push, pr, pr_close, create-branch, delete-branch, create-tag...")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print what would run, run nothing")
    ] = False,
    repo_dir: Annotated[
        str, typer.Option("-C", "--repo-dir", help="the repository (default: here)")
    ] = ".",
    default_branch: Annotated[
        str | None,
        typer.Option(
            "--default-branch",
            help="read .conducto.cfg from this branch (default: origin/HEAD, main, master)",
        ),
    ] = None,
) -> None:
    """Simulate a git event: run what the default branch's .conducto.cfg says for it.

    Values: --branch, --sha, --repo, --pr, --base-branch, --tag, --author and any --key=value
    (for {key}); sha, repo and author default to the branch head's. Each command runs in a
    clean worktree of that commit; the exit code is the first failing command's. `cfg` is an
    alias of `.conducto.cfg`.
    """
    from .events.simulate import event_options, simulate

    try:
        code = simulate(
            event,
            event_options(ctx.args),
            repo=repo_dir,
            dry_run=dry_run,
            default_branch=default_branch,
        )
    except PipelineError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


docker_app = typer.Typer(help="The Docker backend's containers.", no_args_is_help=True)
app.add_typer(docker_app, name="docker")


@docker_app.command("clean")
def docker_clean() -> None:
    """Remove containers of pipelines whose owning process is gone (orphans of a crash)."""
    from .backends.docker.backend import clean_orphans
    from .run.runs import shared_store

    try:
        removed = clean_orphans(shared_store())
    except PipelineError as e:
        console.print(f"[red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"removed {len(removed)} orphaned container(s)")


app.add_typer(debug_app, name="debug")
app.add_typer(webhook_app, name="webhook")


def _load(pipeline_id: str) -> Run:
    try:
        return load(pipeline_id)
    except PipelineError as e:
        console.print(f"[red]error:[/] {e}", highlight=False)
        raise typer.Exit(2) from None


def main() -> None:  # pragma: no cover - the console script
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
