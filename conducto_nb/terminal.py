"""The terminal view of a run (`conducto-nb run`, `show`): a tree of coloured states, the
pipeline's co.Images with their build states, and a progress bar, live while it runs."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from .model.nodes import Node
from .model.states import FINISHED, ImageState, NodeStatus, State
from .run.launch import start
from .run.runs import Run

__all__ = ["console", "images_table", "one_line", "run_with_view", "styled", "tree_view"]

console = Console(stderr=False)

COLOURS = {
    State.PENDING: "grey62",
    State.BLOCKED: "grey50 italic",
    State.QUEUED: "yellow",
    State.RUNNING: "cyan",
    State.DONE: "green",
    State.ERROR: "red",
    State.WORKER_ERROR: "magenta",
    State.KILLED: "dark_orange",
}


def styled(status: NodeStatus) -> Text:
    return Text(status.label, style=COLOURS[status.state] + (" dim" if status.skipped else ""))


def one_line(command: str, width: int = 72) -> str:
    """A command as one short line: its first non-empty line, cut with an ellipsis."""
    lines = [line.strip() for line in command.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    more = len(lines) > 1 or len(first) > width
    return first[: width - 1] + "…" if more else first


IMAGE_COLOURS = {
    ImageState.PENDING: "grey62",
    ImageState.BUILDING: "cyan",
    ImageState.DONE: "green",
    ImageState.ERROR: "red",
    ImageState.UNUSED: "grey50",
}


def images_table(run: Run, live: bool = False) -> Table | None:
    """The run's co.Images: label, build state, tag and the nodes needing them; `live` adds a
    building image's last log line. None when the run uses no co.Image."""
    images = run.images
    if not images:
        return None
    table = Table("#", "image", "state", "tag", "needed by", title="images", title_justify="left")
    for n, img in enumerate(images, 1):
        word = f"{img.state.value} {img.step}" if img.step else img.state.value
        state = Text(word, style=IMAGE_COLOURS[img.state])
        if img.state is ImageState.ERROR and img.message:
            state.append(f"\n{one_line(img.message, 60)}", style="red dim")
        elif img.state is ImageState.BUILDING and live:
            recent = run.record.image_log(img.key, tail=2000)  # 8 times a second: not it all
            last = [line for line in recent.splitlines() if line.strip()][-1:]
            state.append(f"\n{one_line(last[0], 60)}" if last else "", style="dim")
        nodes = ", ".join(img.nodes[:3]) + (f" +{len(img.nodes) - 3}" if len(img.nodes) > 3 else "")
        table.add_row(str(n), img.label, state, img.tag or "", nodes)
    return table


def tree_view(run: Run) -> Tree:
    statuses = run.record.statuses()
    pending = NodeStatus()

    def add(parent: Tree | None, node: Node) -> Tree:
        status = statuses.get(node.path, pending)
        label = Text.assemble(node.path if node.parent is None else node.name, "  ", styled(status))
        if node.kind == "exec":
            attempts = run.record.attempts(node.path)
            took = attempts[-1].duration if attempts else None
            if took is not None:
                label.append(f"  {took:.1f}s", style="cyan")
            label.append(f"  {one_line(getattr(node, 'command', ''))}", style="dim")
        branch = Tree(label) if parent is None else parent.add(label)
        for child in node.children.values():
            add(branch, child)
        return branch

    return add(None, run.tree)


def run_with_view(root: Node, backend: str | None = None, name: str | None = None) -> int:
    """Run `root` showing a live tree and a progress bar; the exit code says how it ended."""
    run = start(root, backend=backend, name=name)
    console.print(f"pipeline {run.id} on the {run.backend} backend", highlight=False)
    return watch(run)


def watch(run: Run) -> int:
    """Show a run this process owns, live, until it is idle; the exit code says how it
    ended (0 done, 1 failed, 130 interrupted: Ctrl-C kills it)."""
    execs = [n.path for n in run.tree.walk() if n.kind == "exec"]
    progress = Progress(
        TextColumn(f"[bold]{run.id}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    task = progress.add_task("run", total=len(execs))

    def frame() -> Group:
        finished = sum(run.record.status(p).state in FINISHED for p in execs)
        progress.update(task, completed=finished, total=len(execs))
        images: list[RenderableType] = [t] if (t := images_table(run, live=True)) else []
        return Group(tree_view(run), *images, progress)

    try:
        with Live(frame(), console=console, refresh_per_second=8, transient=False) as live:
            while not run.record.wait_idle(0.125):
                live.update(frame())
                execs = [n.path for n in run.tree.walk() if n.kind == "exec"]
            live.update(frame())
        if not console.is_terminal:
            console.line()  # a non-terminal Live leaves its last line open
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: killing the pipeline[/]")
        run.stop()
        return 130
    _print_failures(run)
    state = run.state
    console.print(Text.assemble(f"pipeline {run.id}: ", styled(NodeStatus(state))))
    return 0 if state is State.DONE else 1


def _print_failures(run: Run) -> None:
    """Each failed Exec with the last lines it printed; nodes that failed the same way (the
    image they need did not build) share one tail, printed once below all their names."""
    tails: dict[tuple[str, ...], list[str]] = {}
    for path in run.failed():
        result = run[path]
        code = "" if result.exit_code is None else f" (exit {result.exit_code})"
        tail = tuple((result.stderr or result.stdout).strip().splitlines()[-10:])
        tails.setdefault(tail, []).append(f"{path} {result.status.label}{code}")
    for tail, nodes in tails.items():
        for node in nodes:
            console.print(Text(node, style="red"))
        for line in tail:
            console.print(f"  {line}", markup=False, highlight=False)
