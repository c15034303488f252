// The graph component: header, graph and panel, fed by the protocol's messages and talking
// back through one `send`. It knows nothing of anywidget, so the lab extension reuses it.
import { HeaderBar } from "./header";
import { Expansion, layout } from "./layout";
import { Panel } from "./panel";
import type { OutgoingMsg } from "./protocol";
import { GraphSvg } from "./render";
import type { Change, Store } from "./store";
import type { Tree } from "./tree";

/** What survives the view being drawn again (update_display re-renders an output). */
export interface UiState {
  selected: string | null;
  user: Map<string, boolean>;
}

export class GraphView {
  private tree: Tree;
  private readonly header: HeaderBar;
  private readonly svg: GraphSvg;
  private readonly panel: Panel;
  private readonly scroll: HTMLDivElement;
  private readonly expansion = new Expansion();
  private frame: number | undefined;
  private destroyed = false;
  private readonly unsubscribe: () => void;

  constructor(
    readonly el: HTMLElement,
    private readonly store: Store,
    private readonly send: (m: OutgoingMsg) => void,
    private readonly ui: UiState,
  ) {
    el.classList.add("co-graph");
    this.header = new HeaderBar(send);
    this.scroll = document.createElement("div");
    this.scroll.className = "co-scroll";
    this.svg = new GraphSvg(store.header.uid);
    this.scroll.appendChild(this.svg.svg);
    this.panel = new Panel(send, () => this.select(null));
    el.replaceChildren(this.header.el, this.scroll, this.panel.el);
    this.expansion.user = ui.user;
    this.scroll.addEventListener("click", (e) => this.onClick(e));
    this.tree = store.tree;
    this.expansion.reset(this.tree);
    this.draw();
    this.header.setHeader(store.header, this.tree);
    this.unsubscribe = store.subscribe((c) => this.onChange(c));
    if (ui.selected) {
      const path = ui.selected;
      ui.selected = null;
      this.select(path);
    }
  }

  private onChange(c: Change): void {
    if (c.what === "tree") {
      this.tree = this.store.tree;
      this.expansion.reset(this.tree);
      this.draw();
    } else if (c.what === "states") {
      this.soon();
    } else if (c.what === "header") {
      this.header.setHeader(this.store.header, this.tree);
    } else if (c.msg.type === "detail") {
      this.panel.onDetail(c.msg);
    } else if (c.msg.type === "out") {
      this.panel.onOut(c.msg);
    } else {
      this.panel.onActed(c.msg);
    }
  }

  private draw(): void {
    const tree = this.tree;
    this.svg.draw(tree, layout(tree, this.expansion));
    this.svg.select(this.ui.selected, tree);
    this.header.update(tree);
    this.el.dataset.nodes = String(tree.n);
  }

  /** Recolour on the next frame: many diffs in a frame cost one pass. */
  private soon(): void {
    if (this.frame !== undefined) return;
    const run = () => {
      window.clearTimeout(this.frame);
      this.frame = undefined;
      if (!this.destroyed) this.recolour();
    };
    requestAnimationFrame(run);
    this.frame = window.setTimeout(run, 100); // frames stop in a hidden tab
  }

  private recolour(): void {
    const tree = this.tree;
    this.svg.recolour(tree);
    this.header.update(tree);
    this.el.dataset.seq = String(tree.seq);
    const i = this.ui.selected === null ? undefined : tree.index.get(this.ui.selected);
    if (i !== undefined) this.panel.setState(tree.states[i]);
  }

  select(path: string | null): void {
    if (this.ui.selected !== null) this.send({ type: "unwatch", path: this.ui.selected });
    this.ui.selected = path;
    if (path === null) {
      this.panel.close();
    } else {
      this.panel.open(path);
      const i = this.tree.index.get(path);
      if (i !== undefined) this.panel.setState(this.tree.states[i]);
      this.send({ type: "watch", path });
    }
    this.svg.select(path, this.tree);
  }

  private onClick(e: Event): void {
    const tree = this.tree;
    const target = e.target as Element | null;
    if (!target) return;
    const toggle = target.closest("[data-toggle]");
    if (toggle) {
      this.expansion.close(toggle.getAttribute("data-toggle")!);
      this.draw();
      return;
    }
    const g = target.closest("[data-key]");
    if (!g) return;
    const t = g.getAttribute("data-t");
    const path = g.getAttribute("data-path");
    const i = path === null ? undefined : tree.index.get(path);
    if (t === "group") {
      const key = g.getAttribute("data-key") ?? "";
      const cut = key.lastIndexOf("#");
      const p = key.slice(0, cut);
      const [a, b] = key.slice(cut + 1).split("-").map(Number);
      const owner = tree.index.get(p);
      if (owner !== undefined) this.expansion.openRange(tree, owner, a, b);
      this.draw();
    } else if (t === "box" && i !== undefined && tree.kids[i].length > 0) {
      this.expansion.openNode(tree, i);
      this.draw();
    } else if (path !== null) {
      this.select(path);
    }
  }

  destroy(): void {
    this.destroyed = true;
    this.unsubscribe();
    if (this.ui.selected !== null) this.send({ type: "unwatch", path: this.ui.selected });
    this.header.destroy();
    window.clearTimeout(this.frame);
  }
}
