// One per widget model, shared by all its views: the decoded tree with the diffs applied, the
// header, and the kernel's messages. A view drawn later (a re-rendered output, a second
// display) starts from the current states, not from the tree the widget was opened with.
import type { DiffMsg, HeaderMsg, ImageMsg, InMsg, TimelineMsg, TreeMsg } from "./protocol";
import { Tree } from "./tree";

export type Change =
  | { what: "tree" }
  | { what: "states" }
  | { what: "header" }
  | { what: "images" }
  | { what: "msg"; msg: InMsg };

export class Store {
  tree: Tree;
  header: HeaderMsg;
  images: ImageMsg[];
  since: number | undefined; // when the model arrived, until its first view is drawn
  timeline: TimelineMsg | undefined; // the last one: a view drawn later shows it at once
  private listeners = new Set<(c: Change) => void>();

  constructor(tree: TreeMsg, header: HeaderMsg, images: ImageMsg[] | undefined) {
    this.tree = new Tree(tree);
    this.header = header;
    this.images = images ?? [];
  }

  setImages(images: ImageMsg[] | undefined): void {
    this.images = images ?? [];
    this.emit({ what: "images" });
  }

  setTree(msg: TreeMsg): void {
    if (msg.rev === undefined || msg.kinds === undefined) return;
    this.tree = new Tree(msg);
    this.emit({ what: "tree" });
  }

  applyDiff(diff: DiffMsg): void {
    if (this.tree.apply(diff)) this.emit({ what: "states" });
  }

  setHeader(header: HeaderMsg): void {
    this.header = header;
    this.emit({ what: "header" });
  }

  message(msg: InMsg): void {
    if (msg.type === "timeline") this.timeline = msg;
    this.emit({ what: "msg", msg });
  }

  subscribe(listener: (c: Change) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(change: Change): void {
    for (const listener of this.listeners) listener(change);
  }
}
