// The graph component: header, the pipeline's images, graph and panel (a node's or an
// image's), fed by the protocol's messages and talking back through one `send`. It knows
// nothing of anywidget, so the lab extension reuses it.
import { HeaderBar } from "./header";
import { ImagePanel } from "./imagepanel";
import { ImageStrip } from "./images";
import { Expansion, layout } from "./layout";
import { Panel } from "./panel";
import type { OutgoingMsg } from "./protocol";
import { GraphSvg } from "./render";
import type { Change, Store } from "./store";
import { Timeline } from "./timeline";
import { type Tree, stateOf } from "./tree";

/** What survives the view being drawn again (update_display re-renders an output). */
export interface UiState {
  selected: string | null; // the node whose panel is open
  image: string | null; // or the image whose panel is open
  user: Map<string, boolean>;
  shownFailure?: boolean; // the first failure's panel was opened for the user once
  timeline?: boolean; // the timeline shows instead of the graph
}

export class GraphView {
  private tree: Tree;
  private readonly header: HeaderBar;
  private readonly svg: GraphSvg;
  private readonly panel: Panel;
  private readonly imagePanel: ImagePanel;
  private readonly strip: ImageStrip;
  private readonly timeline: Timeline;
  private timelineTimer: number | undefined;
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
    this.header = new HeaderBar(
      send,
      (path) => this.select(path),
      () => this.toggleTimeline(),
    );
    this.timeline = new Timeline((path) => this.select(path));
    this.scroll = document.createElement("div");
    this.scroll.className = "co-scroll";
    this.svg = new GraphSvg(store.header.uid);
    this.scroll.appendChild(this.svg.svg);
    this.panel = new Panel(
      send,
      () => this.select(null),
      () => this.store.images,
      (key) => this.selectImage(key),
      (path) => this.select(path),
    );
    this.imagePanel = new ImagePanel(
      this.panel.el,
      (path) => this.select(path),
      () => this.selectImage(null),
    );
    this.strip = new ImageStrip((key) => this.selectImage(key));
    this.strip.update(store.images, null);
    el.replaceChildren(this.header.el, this.strip.el, this.scroll, this.timeline.el, this.panel.el);
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
    } else if (ui.image) {
      const key = ui.image;
      ui.image = null;
      this.selectImage(key);
    }
    this.showFailure(); // a run shown after it failed
    if (ui.timeline) this.showTimeline(true); // drawn again (update_display) while it showed
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
      this.showFailure(); // the run just ended
      // The run moved on (or ended: no more asking each second): the timeline shown follows.
      if (this.ui.timeline) this.send({ type: "timeline" });
    } else if (c.what === "images") {
      const images = this.store.images;
      this.strip.update(images, this.ui.image);
      this.imagePanel.setImage(images.find((i) => i.key === this.ui.image));
      if (this.ui.selected !== null) this.panel.setImages();
    } else if (c.msg.type === "detail") {
      this.panel.onDetail(c.msg);
    } else if (c.msg.type === "out") {
      this.panel.onOut(c.msg);
    } else if (c.msg.type === "image") {
      this.imagePanel.onDetail(c.msg);
    } else if (c.msg.type === "ilog") {
      this.imagePanel.onLog(c.msg);
    } else if (c.msg.type === "timeline") {
      if (!this.timeline.el.hidden) this.timeline.draw(c.msg, this.store.header.live);
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
    if (i !== undefined) this.panel.setState(tree.states[i], tree.below(i));
    this.showFailure();
  }

  /** Once a run has ended in error, open its first failure's panel, unless the user has a
   * panel open or has been shown it already. */
  private showFailure(): void {
    const tree = this.tree;
    const header = this.store.header;
    if (this.ui.shownFailure || header.kind === "node" || header.live) return;
    if (stateOf(tree.states[0] ?? "p") !== "error") return;
    const failed = tree.firstFailure();
    if (failed === undefined) return;
    this.ui.shownFailure = true;
    if (this.ui.selected === null && this.ui.image === null) this.select(tree.paths[failed]);
  }

  select(path: string | null): void {
    if (path !== null && path === this.ui.selected) return; // its panel is open already
    this.unselect();
    this.ui.selected = path;
    if (path === null) {
      this.panel.close();
    } else {
      this.panel.open(path);
      const i = this.tree.index.get(path);
      if (i !== undefined) this.panel.setState(this.tree.states[i], this.tree.below(i));
      this.send({ type: "watch", path });
    }
    this.svg.select(path, this.tree);
  }

  /** Open an image's panel (in place of a node's), or close it. */
  selectImage(key: string | null): void {
    this.unselect();
    this.svg.select(null, this.tree);
    this.ui.image = key;
    if (key === null) {
      this.panel.close();
    } else {
      this.panel.release();
      this.imagePanel.open(key, this.store.images.find((i) => i.key === key));
      this.send({ type: "watch_image", key });
    }
    this.strip.update(this.store.images, key);
  }

  /** Whatever panel is open stops being watched. */
  private unselect(): void {
    if (this.ui.selected !== null) this.send({ type: "unwatch", path: this.ui.selected });
    if (this.ui.image !== null) {
      this.send({ type: "unwatch_image", key: this.ui.image });
      this.imagePanel.release();
      this.strip.update(this.store.images, null);
    }
    this.ui.selected = null;
    this.ui.image = null;
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

  /** Show the timeline instead of the graph, or back; while it shows, ask for it every second
   * as long as the run is live. */
  private toggleTimeline(): void {
    this.showTimeline(!this.ui.timeline);
  }

  private showTimeline(on: boolean): void {
    this.ui.timeline = on;
    this.timeline.el.hidden = !on;
    this.scroll.hidden = on;
    this.header.showingTimeline(on);
    window.clearInterval(this.timelineTimer);
    this.timelineTimer = undefined;
    if (!on) return;
    // A view drawn again (the output re-rendered as the run ends) shows the last answer at
    // once, not an empty box until the new one comes.
    if (this.store.timeline) this.timeline.draw(this.store.timeline, this.store.header.live);
    this.send({ type: "timeline" });
    this.timelineTimer = window.setInterval(() => {
      if (this.store.header.live) this.send({ type: "timeline" });
    }, 1000);
  }

  destroy(): void {
    this.destroyed = true;
    window.clearInterval(this.timelineTimer);
    this.unsubscribe();
    if (this.ui.selected !== null) this.send({ type: "unwatch", path: this.ui.selected });
    if (this.ui.image !== null) this.send({ type: "unwatch_image", key: this.ui.image });
    this.header.destroy();
    window.clearTimeout(this.frame);
  }
}
