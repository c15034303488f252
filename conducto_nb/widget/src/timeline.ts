// The run as time: one row per Exec that ran, a bar per attempt (the wait in its queue, light,
// then the run in its state's colour), on one time axis; so "why was this slow" has an answer.
// A click on a row opens its node's panel. Asked for again every second while the run is live.
import { h } from "./dom";
import type { TimelineMsg } from "./protocol";
import { el } from "./render";
import { COLOURS } from "./tree";

const LABEL_W = 200;
const PLOT_W = 640;
const ROW_H = 18;
const AXIS_H = 18;

export class Timeline {
  readonly el: HTMLDivElement;

  constructor(private readonly onNode: (path: string) => void) {
    this.el = h("div", "co-timeline");
    this.el.hidden = true;
  }

  draw(msg: TimelineMsg, live: boolean): void {
    const box = this.el;
    box.replaceChildren();
    const rows = msg.rows;
    if (!rows.length) {
      h("div", "co-note", box, "nothing has run yet");
      return;
    }
    const end = (r: TimelineMsg["rows"][number]) => r[4] ?? (live ? msg.now : r[3]);
    const t0 = Math.min(...rows.map((r) => r[2] ?? r[3]));
    const t1 = Math.max(t0 + 0.001, ...rows.map(end));
    const x = (t: number) => LABEL_W + ((t - t0) / (t1 - t0)) * PLOT_W;
    const paths = [...new Set(rows.map((r) => r[0]))];
    const svg = el("svg", { class: "co-tl-svg", width: LABEL_W + PLOT_W + 8, height: AXIS_H + paths.length * ROW_H + 4 });
    this.axis(svg, t1 - t0);
    paths.forEach((path, n) => {
      const y = AXIS_H + n * ROW_H;
      const row = el("g", { class: "co-tl-row", "data-path": path }, svg);
      row.addEventListener("click", () => this.onNode(path));
      el("rect", { x: 0, y, width: LABEL_W + PLOT_W, height: ROW_H, class: "co-tl-band" }, row);
      const label = el("text", { x: 4, y: y + 13, class: "co-tl-label" }, row);
      label.textContent = path.length > 30 ? `…${path.slice(-29)}` : path;
      el("title", {}, label).textContent = path;
      for (const r of rows.filter((r) => r[0] === path)) {
        const [, attempt, queued, started, , state] = r;
        const stop = end(r);
        if (queued !== null && started > queued) {
          el("rect", { x: x(queued), y: y + 5, width: Math.max(1, x(started) - x(queued)), height: ROW_H - 10, class: "co-tl-wait" }, row);
        }
        const bar = el("rect", { x: x(started), y: y + 3, width: Math.max(2, x(stop) - x(started)), height: ROW_H - 6, class: "co-tl-run", fill: COLOURS[state ?? "running"] ?? COLOURS.running, "data-state": state ?? "running" }, row);
        const waited = queued === null ? "" : `, waited ${(started - queued).toFixed(2)} s`;
        el("title", {}, bar).textContent = `${path} attempt ${attempt}: ${state ?? "running"}, ran ${(stop - started).toFixed(2)} s${waited}`;
      }
    });
    box.appendChild(svg);
  }

  private axis(svg: SVGSVGElement, span: number): void {
    for (const f of [0, 0.25, 0.5, 0.75, 1]) {
      const x = LABEL_W + f * PLOT_W;
      el("line", { x1: x, x2: x, y1: AXIS_H - 4, y2: 10_000, class: "co-tl-tick" }, svg);
      const t = el("text", { x: Math.min(x, LABEL_W + PLOT_W - 30), y: AXIS_H - 6, class: "co-tl-axis" }, svg);
      t.textContent = `${(f * span).toFixed(span < 10 ? 1 : 0)} s`;
    }
  }
}
