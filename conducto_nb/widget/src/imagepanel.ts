// The panel of a selected co.Image, drawn into the node panel's element: label, state, tag,
// why it failed or is unused, its times, the nodes that need it (each opens its node's panel)
// and its build log, streamed in while the panel is open. State and times come from the
// `images` trait; the nodes and the log from the kernel's `image` and `ilog` messages.
import { h, link, time } from "./dom";
import { nodesText, paint, stateText } from "./images";
import type { ImageDetailMsg, ImageLogMsg, ImageMsg } from "./protocol";

export class ImagePanel {
  key: string | null = null;
  private image: ImageMsg | undefined;
  private detail: ImageDetailMsg | null = null;
  private log: HTMLPreElement | null = null;

  constructor(
    private readonly el: HTMLDivElement,
    private readonly onNode: (path: string) => void,
    private readonly onClose: () => void,
  ) {}

  open(key: string, image: ImageMsg | undefined): void {
    this.key = key;
    this.image = image;
    this.detail = null;
    this.el.hidden = false;
    this.draw();
  }

  /** The panel is no longer this one's (closed, or a node's panel took the element). */
  release(): void {
    this.key = null;
    this.detail = null;
    this.log = null;
  }

  /** The `images` trait changed: state, tag and times follow without asking the kernel. */
  setImage(image: ImageMsg | undefined): void {
    if (this.key === null || JSON.stringify(image) === JSON.stringify(this.image)) return;
    this.image = image;
    this.draw();
  }

  onDetail(d: ImageDetailMsg): void {
    if (d.key !== this.key) return;
    this.detail = d;
    this.draw();
  }

  onLog(m: ImageLogMsg): void {
    if (m.key !== this.key || !this.detail || !this.log) return;
    this.detail.log += m.text;
    const box = this.log.parentElement!;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 30;
    this.log.append(m.text);
    box.parentElement!.hidden = false;
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  private draw(): void {
    const el = this.el;
    const image = this.image;
    const d = this.detail;
    const old = this.log?.parentElement; // keep the log where the reader left it
    const scrolled = old ? [old.scrollTop, old.scrollHeight - old.scrollTop - old.clientHeight] : null;
    el.replaceChildren();
    const head = h("div", "co-panel-head", el);
    h("code", "co-path", head, image?.label ?? "image");
    head.append(" co.Image");
    const chip = h("span", "co-chip co-image-state", head, image?.state ?? "gone");
    if (image) paint(chip, image.state);
    const close = h("button", "co-close", head, "×");
    close.title = "close";
    close.onclick = () => this.onClose();
    if (!image || d?.missing) {
      h("div", "co-note", el, "this image is no longer used by the pipeline");
      this.log = null;
      return;
    }
    const rows: [string, string][] = [["state", stateText(image)]];
    if (image.tag) rows.push(["tag", image.tag]);
    if (image.message) rows.push([image.state === "error" ? "why" : "note", image.message]);
    if (image.started !== null) rows.push(["started", time(image.started)]);
    if (image.started !== null && image.ended !== null) {
      rows.push(["took", `${(image.ended - image.started).toFixed(2)} s`]);
    }
    const table = h("table", "co-image-facts", el);
    for (const [name, value] of rows) {
      const tr = h("tr", "", table);
      h("td", "", tr, name);
      h("td", name === "why" ? "co-error-text" : "", tr, value);
    }
    h("div", "co-label-row", el, `needed by ${nodesText(image.n)}`);
    const nodes = h("div", "co-image-nodes", el);
    if (!d) {
      h("span", "co-loading", nodes, "loading… (a busy cell may hold this until it ends)");
    } else {
      for (const path of d.nodes) link(nodes, path, `open ${path}`, () => this.onNode(path));
      if (d.more) h("span", "co-note", nodes, `and ${d.more} more`);
    }
    const logs = h("div", "", el); // the label stays in view while the log scrolls
    h("div", "co-label-row", logs, "build log");
    const box = h("div", "co-out co-image-log", logs);
    this.log = h("pre", "", box, d?.log ?? "");
    logs.hidden = !d?.log;
    if (scrolled && scrolled[1] >= 30) box.scrollTop = scrolled[0];
    else box.scrollTop = box.scrollHeight;
  }
}
