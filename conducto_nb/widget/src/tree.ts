// The decoded tree and its states: what every other module reads.
import table from "../static/states.json";
import type { DiffMsg, TreeMsg } from "./protocol";

export const STATE_ORDER: string[] = table.order;
export const COLOURS: Record<string, string> = table.colours;
export const INK: Record<string, string> = table.ink;
const STATE_OF: Record<string, string> = {};
for (const [state, letter] of Object.entries(table.codes)) STATE_OF[letter] = state;

/** The letter of a state name. */
export function codeOf(state: string): string {
  return (table.codes as Record<string, string>)[state] ?? "p";
}

/** "done", "error"... for a state letter (skipped or not). */
export function stateOf(letter: string): string {
  return STATE_OF[letter.toLowerCase()] ?? "pending";
}

export function isSkipped(letter: string): boolean {
  return letter !== letter.toLowerCase();
}

export function labelOf(letter: string): string {
  const state = stateOf(letter);
  return isSkipped(letter) ? `${state}-skipped` : state;
}

export class Tree {
  readonly n: number;
  readonly base: string;
  readonly names: string[];
  readonly kinds: string;
  readonly parent: Int32Array;
  readonly kids: number[][];
  readonly end: Int32Array; // node i's subtree is [i, end[i])
  readonly paths: string[];
  readonly index = new Map<string, number>();
  readonly titles = new Map<number, string>();
  readonly group: number;
  readonly budget: number;
  states: string[];
  seq: number;

  constructor(msg: TreeMsg) {
    const n = msg.kinds.length;
    this.n = n;
    this.base = msg.base;
    this.kinds = msg.kinds;
    this.group = msg.group;
    this.budget = msg.budget;
    this.names = msg.names.split("/");
    this.parent = new Int32Array(n).fill(-1);
    this.kids = new Array<number[]>(n);
    this.end = new Int32Array(n);
    this.paths = new Array<string>(n);
    const open: number[] = []; // containers still taking children, innermost last
    const left: number[] = new Array<number>(n).fill(0);
    let c = 0;
    for (let i = 0; i < n; i++) {
      this.kids[i] = [];
      if (i > 0) {
        while (open.length && left[open[open.length - 1]] === 0) open.pop();
        const p = open[open.length - 1];
        this.parent[i] = p;
        this.kids[p].push(i);
        left[p]--;
        const prefix = this.paths[p] === "/" ? "" : this.paths[p];
        this.paths[i] = `${prefix}/${this.names[i]}`;
      } else {
        this.paths[0] = msg.base;
      }
      this.index.set(this.paths[i], i);
      if (this.kinds[i] !== "E") {
        left[i] = msg.nkids[c++] ?? 0;
        open.push(i);
      }
    }
    for (let i = n - 1; i >= 0; i--) {
      const k = this.kids[i];
      this.end[i] = k.length ? this.end[k[k.length - 1]] : i + 1;
    }
    for (const [i, title] of Object.entries(msg.titles)) this.titles.set(Number(i), title);
    this.states = msg.states.length === n ? msg.states.split("") : new Array<string>(n).fill("p");
    this.seq = msg.seq;
  }

  /** Apply a diff newer than what the states hold; false when it was old news. */
  apply(diff: DiffMsg): boolean {
    if (diff.seq <= this.seq) return false;
    this.seq = diff.seq;
    for (const [path, letter] of Object.entries(diff.s)) {
      const i = this.index.get(path);
      if (i !== undefined) this.states[i] = letter;
    }
    return true;
  }

  label(i: number): string {
    return this.titles.get(i) ?? (i === 0 ? this.base : this.names[i]);
  }

  /** Execs in [lo, hi) per state. */
  counts(lo = 0, hi = this.n): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = lo; i < hi; i++) {
      if (this.kinds[i] === "E") {
        const s = stateOf(this.states[i]);
        out[s] = (out[s] ?? 0) + 1;
      }
    }
    return out;
  }

  /** The state a group of siblings shows, derived as a parent derives its own. */
  groupState(members: number[]): string {
    const seen = new Set<string>();
    for (const i of members) {
      if (!isSkipped(this.states[i])) seen.add(stateOf(this.states[i]));
    }
    if (seen.has("running")) return "running";
    if (seen.has("queued")) return "queued";
    if (seen.has("error") || seen.has("worker_error") || seen.has("killed")) return "error";
    if (seen.has("pending") || seen.has("blocked")) return "pending";
    return "done";
  }

  /** Whether any Exec at or below node `i` failed, or waits to run (skipped ones left out). */
  below(i: number): { failed: boolean; pending: boolean } {
    const out = { failed: false, pending: false };
    for (let j = i; j < this.end[i]; j++) {
      const letter = this.states[j];
      if (this.kinds[j] !== "E" || isSkipped(letter)) continue;
      const state = stateOf(letter);
      if (FAILED.has(state)) out.failed = true;
      else if (state === "pending" || state === "blocked") out.pending = true;
    }
    return out;
  }

  /** The first Exec, in the order of the tree, whose last attempt failed (skipped ones left
   * out): where a CI user looks first. */
  firstFailure(): number | undefined {
    for (let i = 0; i < this.n; i++) {
      const letter = this.states[i];
      if (this.kinds[i] === "E" && !isSkipped(letter) && FAILED.has(stateOf(letter))) return i;
    }
    return undefined;
  }
}

const FAILED = new Set(["error", "worker_error", "killed"]);

/** How `n` children show: one by one (null) or as ranges of at most `group` boxes, each a
 * power of `group` long (conducto_nb/widget/encode.py: groups). */
export function groups(n: number, group: number): [number, number][] | null {
  if (n <= group) return null;
  let size = group;
  while (Math.ceil(n / size) > group) size *= group;
  const out: [number, number][] = [];
  for (let a = 0; a < n; a += size) out.push([a, Math.min(a + size, n)]);
  return out;
}
