// Which containers show open, and where every box goes. A series-parallel tree needs no
// general graph layout: a Serial lays its children left to right, tops aligned, with straight
// arrows between them near the top; a Parallel stacks them, in columns of at most WRAP when
// it has more (so a wide one stays in view, its failures too); an open container is a cluster
// around its children. Deterministic: the same tree and expansion give the same picture.
import { Tree, groups } from "./tree";

export const EXEC_W = 128;
export const EXEC_H = 24;
export const BOX_W = 156;
export const BOX_H = 40;
const PAD = 8;
export const HEAD = 18; // a cluster's label line
const GAP_SERIAL = 26; // room for an arrow
const GAP_PARALLEL = 6;
const GAP_COLUMN = 10;
export const WRAP = 12; // a Parallel's children per column

/** exec: an Exec; box: a closed (or empty) container; group: a closed range of a
 * container's children [a, b); cluster: an open container; range: an open range. */
export interface Item {
  t: "exec" | "box" | "group" | "cluster" | "range";
  key: string;
  i: number;
  a: number;
  b: number;
  kids: Item[];
  serial: boolean;
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Edge {
  x1: number;
  x2: number;
  y: number;
}

export interface Layout {
  items: Item[]; // containers before what they contain
  edges: Edge[];
  w: number;
  h: number;
}

export function rangeKey(tree: Tree, i: number, a: number, b: number): string {
  return `${tree.paths[i]}#${a}-${b}`;
}

/** Containers opened by the budget rule, breadth first from `starts` (already shown); a
 * `force`d start opens whatever it costs. The same rule as encode.py's `expanded`. */
export function autoOpen(tree: Tree, starts: number[], budget: number, force: boolean): string[] {
  const out: string[] = [];
  const queue = [...starts];
  let shown = starts.length;
  for (let q = 0; q < queue.length; q++) {
    const i = queue[q];
    const kids = tree.kids[i];
    if (tree.kinds[i] === "E" || kids.length === 0) continue;
    const ranges = groups(kids.length, tree.group);
    const cost = ranges ? ranges.length : kids.length;
    if (!(force && q === 0) && shown + cost > budget) continue;
    out.push(tree.paths[i]);
    shown += cost;
    if (!ranges) queue.push(...kids);
  }
  return out;
}

/** What the user opened or closed, over what the budget rule opened. */
export class Expansion {
  user = new Map<string, boolean>();
  private auto = new Set<string>();

  reset(tree: Tree): void {
    this.auto = new Set(autoOpen(tree, [0], tree.budget, true));
  }

  isOpen(key: string): boolean {
    return this.user.get(key) ?? this.auto.has(key);
  }

  /** Open a container, and below it what the budget allows. */
  openNode(tree: Tree, i: number): void {
    for (const key of autoOpen(tree, [i], tree.budget, true)) this.user.set(key, true);
  }

  /** Open a range of `i`'s children, and below them what the budget allows. */
  openRange(tree: Tree, i: number, a: number, b: number): void {
    this.user.set(rangeKey(tree, i, a, b), true);
    if (groups(b - a, tree.group)) return;
    const members = tree.kids[i].slice(a, b);
    for (const key of autoOpen(tree, members, tree.budget, false)) this.user.set(key, true);
  }

  close(key: string): void {
    this.user.set(key, false);
  }
}

export function layout(tree: Tree, open: Expansion): Layout {
  const items: Item[] = [];
  const edges: Edge[] = [];
  const item = (t: Item["t"], key: string, i: number, a = 0, b = 0): Item => {
    const it: Item = { t, key, i, a, b, kids: [], serial: tree.kinds[i] !== "P", x: 0, y: 0, w: 0, h: 0 };
    items.push(it);
    return it;
  };
  const node = (i: number): Item => {
    const path = tree.paths[i];
    if (tree.kinds[i] === "E") return item("exec", path, i);
    const n = tree.kids[i].length;
    if (n === 0 || !open.isOpen(path)) return item("box", path, i);
    const cluster = item("cluster", path, i, 0, n);
    cluster.kids = range(i, 0, n);
    return cluster;
  };
  const range = (i: number, a: number, b: number): Item[] => {
    const ranges = groups(b - a, tree.group);
    if (!ranges) return tree.kids[i].slice(a, b).map(node);
    return ranges.map(([x, y]) => {
      const key = rangeKey(tree, i, a + x, a + y);
      if (!open.isOpen(key)) return item("group", key, i, a + x, a + y);
      const r = item("range", key, i, a + x, a + y);
      r.kids = range(i, a + x, a + y);
      return r;
    });
  };
  const root = node(0);
  measure(root);
  place(root, 0, 0, edges);
  return { items, edges, w: root.w, h: root.h };
}

function measure(it: Item): void {
  if (it.t === "exec") [it.w, it.h] = [EXEC_W, EXEC_H];
  else if (it.t === "box" || it.t === "group") [it.w, it.h] = [BOX_W, BOX_H];
  else {
    for (const k of it.kids) measure(k);
    const ws = it.kids.map((k) => k.w);
    const hs = it.kids.map((k) => k.h);
    const gaps = Math.max(0, it.kids.length - 1);
    if (it.serial) {
      it.w = 2 * PAD + sum(ws) + GAP_SERIAL * gaps;
      it.h = HEAD + 2 * PAD + Math.max(0, ...hs);
    } else {
      const cols = columns(it.kids);
      const colW = cols.map((c) => Math.max(...c.map((k) => k.w)));
      const colH = cols.map((c) => sum(c.map((k) => k.h)) + GAP_PARALLEL * (c.length - 1));
      it.w = 2 * PAD + Math.max(HEAD * 4, sum(colW) + GAP_COLUMN * Math.max(0, cols.length - 1));
      it.h = HEAD + 2 * PAD + Math.max(0, ...colH);
    }
  }
}

/** A Parallel's children in columns of at most WRAP, in order. */
function columns(kids: Item[]): Item[][] {
  const out: Item[][] = [];
  for (let n = 0; n < kids.length; n += WRAP) out.push(kids.slice(n, n + WRAP));
  return out;
}

function place(it: Item, x: number, y: number, edges: Edge[]): void {
  it.x = x;
  it.y = y;
  if (it.t !== "cluster" && it.t !== "range") return;
  const top = y + HEAD + PAD;
  if (it.serial) {
    const line = top + EXEC_H / 2; // tops aligned: the arrows meet each step near its top
    let cx = x + PAD;
    it.kids.forEach((k, n) => {
      place(k, cx, top, edges);
      if (n > 0) edges.push({ x1: cx - GAP_SERIAL, x2: cx, y: line });
      cx += k.w + GAP_SERIAL;
    });
  } else {
    let cx = x + PAD;
    for (const col of columns(it.kids)) {
      let cy = top;
      for (const k of col) {
        place(k, cx, cy, edges);
        cy += k.h + GAP_PARALLEL;
      }
      cx += Math.max(...col.map((k) => k.w)) + GAP_COLUMN;
    }
  }
}

function sum(xs: number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}
