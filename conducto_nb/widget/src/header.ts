// The header bar: what is shown, the root's state, the first failure (a link to it), a count
// per state (which is the legend too: each state that occurs, with its colour) and the elapsed
// time, ticking while live.
import { link } from "./dom";
import type { HeaderMsg, OutgoingMsg } from "./protocol";
import { COLOURS, INK, STATE_ORDER, type Tree, labelOf, stateOf } from "./tree";

export class HeaderBar {
  readonly el: HTMLDivElement;
  private title: HTMLSpanElement;
  private chip: HTMLSpanElement;
  private failure: HTMLSpanElement;
  private legend: HTMLSpanElement;
  private clock: HTMLSpanElement;
  private button: HTMLButtonElement;
  private timeline: HTMLButtonElement;
  private msg: HeaderMsg | null = null;
  private offset = 0; // kernel clock minus browser clock, seconds
  private timer: number | undefined;

  constructor(
    private readonly send: (m: OutgoingMsg) => void,
    private readonly onNode: (path: string) => void,
    onTimeline: () => void,
  ) {
    const el = (this.el = document.createElement("div"));
    el.className = "co-header";
    this.title = this.span("co-title");
    this.chip = this.span("co-chip co-root-state");
    this.failure = this.span("co-first-failure");
    this.legend = this.span("co-legend");
    this.clock = this.span("co-clock");
    this.button = document.createElement("button");
    this.button.className = "co-act co-start";
    this.button.textContent = "▶ run";
    this.button.title = "start this pipeline in the background";
    this.button.onclick = () => this.send({ type: "act", action: "run", path: "/" });
    el.appendChild(this.button);
    this.timeline = document.createElement("button");
    this.timeline.className = "co-act co-timeline-toggle";
    this.timeline.textContent = "timeline";
    this.timeline.title = "each node's attempts on one time axis: what waited, what ran, how long";
    this.timeline.onclick = onTimeline;
    el.appendChild(this.timeline);
  }

  private span(cls: string): HTMLSpanElement {
    const s = document.createElement("span");
    s.className = cls;
    this.el.appendChild(s);
    return s;
  }

  setHeader(msg: HeaderMsg, tree: Tree): void {
    this.msg = msg;
    this.offset = msg.now - Date.now() / 1000;
    this.button.hidden = msg.kind !== "node";
    this.timeline.hidden = msg.kind === "node";
    const base = tree.base;
    this.title.textContent =
      msg.kind === "node" ? `${base} · not run yet` : `run ${msg.id ?? ""}${msg.kind === "store" ? " · read from the store" : ""}`;
    window.clearInterval(this.timer);
    this.timer = msg.live ? window.setInterval(() => this.tick(), 1000) : undefined;
    this.tick();
  }

  update(tree: Tree): void {
    const letter = tree.states[0] ?? "p";
    const state = stateOf(letter);
    this.chip.textContent = labelOf(letter);
    this.chip.style.background = COLOURS[state];
    this.chip.style.color = INK[state];
    const failed = tree.firstFailure();
    const path = failed === undefined ? null : tree.paths[failed];
    if (path !== (this.failure.dataset.path ?? null)) {
      this.failure.replaceChildren();
      if (path === null) delete this.failure.dataset.path;
      else {
        this.failure.dataset.path = path;
        this.failure.append("first failure: ");
        link(this.failure, path, "open the first node that failed", () => this.onNode(path));
      }
    }
    const counts = tree.counts();
    this.legend.replaceChildren();
    for (const s of STATE_ORDER) {
      if (!counts[s]) continue; // only the states that occur
      const item = document.createElement("span");
      item.className = "co-count";
      item.dataset.state = s;
      const dot = document.createElement("i");
      dot.style.background = COLOURS[s];
      item.append(dot, `${s.replace("_", " ")} ${counts[s] ?? 0}`);
      this.legend.appendChild(item);
    }
  }

  private tick(): void {
    const m = this.msg;
    if (!m || m.started === null) {
      this.clock.textContent = "";
      return;
    }
    const now = m.live ? Date.now() / 1000 + this.offset : m.now;
    // The time something ran: a wait before a rerun is not counted.
    const ran = m.busy === undefined ? (m.ended ?? now) - m.started : m.busy + (m.since ? now - m.since : 0);
    this.clock.textContent = `elapsed ${formatSeconds(Math.max(0, ran))}`;
    this.clock.title = "time during which something ran (each attempt's own time is in its node's panel)";
  }

  /** The timeline is shown (the button reads "graph" to go back) or not. */
  showingTimeline(on: boolean): void {
    this.timeline.textContent = on ? "graph" : "timeline";
  }

  destroy(): void {
    window.clearInterval(this.timer);
  }
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
