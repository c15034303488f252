// Draws a layout as SVG, and recolours it in place when states change (no new layout).
import { BOX_H, HEAD, type Item, type Layout } from "./layout";
import { COLOURS, INK, STATE_ORDER, type Tree, codeOf, isSkipped, labelOf, stateOf } from "./tree";

const NS = "http://www.w3.org/2000/svg";
const CHAR_W = 6.4; // px per character at the 11px font, to cut labels before they overflow

interface Drawn {
  item: Item;
  g: SVGGElement;
  rect: SVGRectElement;
  sub: SVGTextElement | null;
  bar: SVGGElement | null;
}

export function el<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  parent?: Element,
): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

/** What a summary names first: what needs eyes (failures, work in progress), then the rest. */
function rank(state: string): number {
  return ["error", "worker_error", "killed", "running", "queued", "pending", "done"].indexOf(state);
}

export function fit(text: string, px: number): string {
  const max = Math.max(3, Math.floor(px / CHAR_W));
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export class GraphSvg {
  readonly svg: SVGSVGElement;
  private drawn: Drawn[] = [];
  private selected: string | null = null;

  constructor(private readonly uid: string) {
    this.svg = el("svg", { class: "co-svg" });
  }

  draw(tree: Tree, lay: Layout): void {
    const svg = this.svg;
    svg.replaceChildren();
    const pad = 4;
    svg.setAttribute("width", String(lay.w + 2 * pad));
    svg.setAttribute("height", String(lay.h + 2 * pad));
    svg.setAttribute("viewBox", `${-pad} ${-pad} ${lay.w + 2 * pad} ${lay.h + 2 * pad}`);
    const defs = el("defs", {}, svg);
    const marker = el("marker", {
      id: `co-arrow-${this.uid}`,
      viewBox: "0 0 10 10",
      refX: 9,
      refY: 5,
      markerWidth: 7,
      markerHeight: 7,
      orient: "auto",
    }, defs);
    el("path", { d: "M0,0 L10,5 L0,10 z", class: "co-arrowhead" }, marker);
    this.drawn = lay.items.map((it) => this.item(tree, it));
    for (const e of lay.edges) {
      el("path", {
        d: `M${e.x1 + 2},${e.y} L${e.x2 - 2},${e.y}`,
        class: "co-edge",
        "marker-end": `url(#co-arrow-${this.uid})`,
      }, svg);
    }
    this.recolour(tree);
  }

  private item(tree: Tree, it: Item): Drawn {
    const g = el("g", { class: `co-item co-${it.t}`, "data-key": it.key, "data-t": it.t }, this.svg);
    if (it.t !== "group" && it.t !== "range") g.setAttribute("data-path", tree.paths[it.i]);
    const cluster = it.t === "cluster" || it.t === "range";
    const rect = el("rect", { x: it.x, y: it.y, width: it.w, height: it.h, rx: cluster ? 8 : 5 }, g);
    let sub: SVGTextElement | null = null;
    let bar: SVGGElement | null = null;
    if (cluster) {
      const kind = it.t === "range" ? "group" : { S: "Serial", P: "Parallel", L: "Lazy" }[tree.kinds[it.i]] ?? "";
      const name = it.t === "range" ? this.rangeName(tree, it) : tree.label(it.i);
      const label = el("text", { x: it.x + 8, y: it.y + 13, class: "co-cluster-label" }, g);
      label.textContent = fit(`${name} · ${kind}`, it.w - 28);
      const toggle = el("text", { x: it.x + it.w - 14, y: it.y + 13, class: "co-toggle", "data-toggle": it.key }, g);
      toggle.textContent = "−";
      el("line", { x1: it.x, x2: it.x + it.w, y1: it.y + HEAD, y2: it.y + HEAD, class: "co-cluster-rule" }, g);
    } else if (it.t === "exec") {
      const t = el("text", { x: it.x + it.w / 2, y: it.y + it.h / 2 + 4, class: "co-label" }, g);
      t.textContent = fit(tree.label(it.i), it.w - 10);
    } else {
      const name = it.t === "group" ? this.rangeName(tree, it) : tree.label(it.i);
      const t = el("text", { x: it.x + it.w / 2, y: it.y + 14, class: "co-label" }, g);
      t.textContent = fit(`${name} ▸`, it.w - 10);
      sub = el("text", { x: it.x + it.w / 2, y: it.y + 27, class: "co-sub" }, g);
      bar = el("g", { class: "co-bar" }, g);
    }
    const title = el("title", {}, g);
    title.textContent = it.t === "group" || it.t === "range" ? this.rangeName(tree, it) : tree.paths[it.i];
    return { item: it, g, rect, sub, bar };
  }

  private rangeName(tree: Tree, it: Item): string {
    const kids = tree.kids[it.i];
    return `${tree.names[kids[it.a]]} … ${tree.names[kids[it.b - 1]]}`;
  }

  /** Colours, summaries and bars from the current states. */
  recolour(tree: Tree): void {
    for (const d of this.drawn) {
      const it = d.item;
      const ranged = it.t === "group" || it.t === "range";
      const members = ranged ? tree.kids[it.i].slice(it.a, it.b) : [];
      const state = ranged ? tree.groupState(members) : stateOf(tree.states[it.i]);
      const letter = ranged ? codeOf(state) : tree.states[it.i];
      const colour = COLOURS[state];
      d.g.setAttribute("data-state", letter);
      d.g.classList.toggle("co-skipped", !ranged && isSkipped(letter));
      d.g.classList.toggle("co-selected", !ranged && tree.paths[it.i] === this.selected);
      const text = d.g.querySelectorAll<SVGTextElement>(".co-label, .co-sub");
      if (it.t === "cluster" || it.t === "range") {
        d.rect.setAttribute("stroke", colour);
        d.rect.setAttribute("fill", colour);
      } else {
        d.rect.setAttribute("fill", colour);
        for (const t of text) t.setAttribute("fill", INK[state]);
      }
      if (!ranged) d.g.querySelector("title")!.textContent = `${tree.paths[it.i]} (${labelOf(letter)})`;
      if (d.sub && d.bar) {
        const lo = ranged ? members[0] : it.i;
        const hi = ranged ? tree.end[members[members.length - 1]] : tree.end[it.i];
        this.summary(d, tree.counts(lo, hi), ranged ? it.b - it.a : hi - lo - 1);
      }
    }
  }

  private summary(d: Drawn, counts: Record<string, number>, n: number): void {
    const it = d.item;
    const some = STATE_ORDER.filter((s) => counts[s]).sort((a, b) => rank(a) - rank(b));
    const shown = some.map((s) => `${counts[s]} ${s.replace("_", " ")}`).join(", ");
    d.sub!.textContent = fit(`${n} · ${shown}`, it.w - 10);
    const total = STATE_ORDER.reduce((a, s) => a + (counts[s] ?? 0), 0) || 1;
    const bar = d.bar!;
    bar.replaceChildren();
    let x = it.x + 6;
    const width = it.w - 12;
    for (const s of STATE_ORDER) {
      const w = ((counts[s] ?? 0) / total) * width;
      if (w <= 0) continue;
      el("rect", { x, y: it.y + BOX_H - 9, width: w, height: 4, fill: COLOURS[s], class: "co-seg" }, bar);
      x += w;
    }
  }

  select(path: string | null, tree: Tree): void {
    this.selected = path;
    for (const d of this.drawn) {
      const ranged = d.item.t === "group" || d.item.t === "range";
      d.g.classList.toggle("co-selected", !ranged && tree.paths[d.item.i] === path);
    }
  }
}
