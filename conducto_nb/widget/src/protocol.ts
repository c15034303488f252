// The messages between the kernel (conducto_nb/widget/model.py) and the graph component.
// The lab extension speaks the same protocol through its server, so nothing here is anywidget's.

/** The `tree` trait: the tree in preorder, columnar. */
export interface TreeMsg {
  rev: number;
  v: number;
  base: string; // the top node's path
  names: string; // names joined by "/" (which no name contains); the top one is ""
  kinds: string; // one letter a node: S serial, P parallel, L lazy, E exec
  nkids: number[]; // children counts of the non-Exec nodes, in order
  titles: Record<string, string>; // node index -> title, for the few that have one
  group: number; // more children than this show in groups
  budget: number; // boxes shown before subtrees start collapsed
  states: string; // one letter a node (see states.json); upper case when skipped
  seq: number; // the last diff these states include
}

/** The `diff` trait: states changed since diff seq-1, by path. */
export interface DiffMsg {
  seq: number;
  s: Record<string, string>;
}

/** The `header` trait. */
export interface HeaderMsg {
  uid: string;
  kind: "node" | "run" | "store";
  id: string | null;
  started: number | null;
  ended: number | null;
  busy?: number; // seconds something ran, attempts' overlapping times counted once
  since?: number | null; // when what runs now began running (to tick from)
  live: boolean;
  actions: string[];
  now: number; // the kernel's clock when sent (seconds)
}

/** Where a co.Image is (conducto_nb/model/states.py ImageState); unused: the backend runs none. */
export type ImageState = "pending" | "building" | "done" | "error" | "unused";

/** One entry of the `images` trait: a co.Image of the pipeline, in order of first use. */
export interface ImageMsg {
  key: string;
  label: string;
  state: ImageState;
  n: number; // how many Execs need it (which ones: in its panel's ImageDetailMsg)
  tag: string | null;
  message: string | null; // why it failed, or is unused
  started: number | null;
  ended: number | null;
  step: string | null; // how far its build is, as Docker counts steps ("3/7"), while it builds
}

export interface AttemptMsg {
  attempt: number;
  state: string | null;
  exit_code: number | null;
  started: number | null;
  ended: number | null;
  message: string | null;
  result?: string | null; // the repr of what a callable returned
}

export interface ParamMsg {
  name: string;
  value: unknown;
  source: string;
  own: boolean;
}

export interface DetailMsg {
  type: "detail";
  path: string;
  missing?: boolean;
  kind?: string;
  doc_html?: string | null; // rendered in the kernel (safe: raw HTML escaped)
  command?: string;
  editable?: boolean;
  own_env?: Record<string, unknown>;
  params?: ParamMsg[];
  state?: string;
  actions?: string[];
  attempts?: AttemptMsg[];
  callbacks?: CallbackMsg[]; // the callbacks that fired on it, in order
  stdout?: string;
  stderr?: string;
  md?: [string, string][]; // [source, html] of the Markdown blocks in the output
  images?: string[]; // keys of the co.Images it needs
  reuse_root?: string; // the NEW reuse subtree it is strictly inside: actions act on all of it
  blocked_by?: string | null; // the failed step that holds it back (it is blocked)
  first_failure?: string | null; // the first failed Exec at or below blocked_by
  notebook_html?: string | null; // a co.Notebook's executed notebook, rendered (nbconvert)
  notebook_ipynb?: string; // ... and as the .ipynb its save link gives
  notebook_name?: string;
  notebook_error?: string; // why it could not be rendered
}

/** A callback that fired on a node (on_error(co.callback.retry(3))...) and what it did. */
export interface CallbackMsg {
  event: string;
  label: string;
  fired: number;
  ok: boolean;
  message: string;
}

/** An image panel's content beyond the trait: the nodes that need it, the build log so far. */
export interface ImageDetailMsg {
  type: "image";
  key: string;
  missing?: boolean;
  nodes: string[];
  more: number; // nodes not listed
  log: string;
}

/** Build log appended since, for an image whose panel is open. */
export interface ImageLogMsg {
  type: "ilog";
  key: string;
  text: string;
}

export interface OutMsg {
  type: "out";
  path: string;
  attempt: number;
  stream: "stdout" | "stderr";
  text: string;
  md?: [string, string][];
}

export interface ActedMsg {
  type: "acted";
  action: string;
  path: string;
  ok: boolean;
  error?: string;
  note?: string; // what the action has to say (debug: the line that enters its container)
}

/** Every attempt of the run, in the order of the tree: [path, attempt, queued, started, ended,
 * state] (what runs has no end nor state). The answer to a `timeline` request. */
export interface TimelineMsg {
  type: "timeline";
  rows: [string, number, number | null, number, number | null, string | null][];
  now: number;
}

export type InMsg = DetailMsg | OutMsg | ActedMsg | ImageDetailMsg | ImageLogMsg | TimelineMsg;

export type OutgoingMsg =
  | { type: "watch"; path: string }
  | { type: "unwatch"; path: string }
  | { type: "watch_image"; key: string }
  | { type: "unwatch_image"; key: string }
  | { type: "act"; action: string; path: string }
  | { type: "timeline" }
  | { type: "modify"; path: string; command: string | null; env: string | null };
