// One pipeline in a main-area tab: the notebook widget's own graph component (GraphView and
// Store from conducto_nb/widget/src), fed by polling the server instead of a kernel's traits,
// its messages answered by REST calls. One component, two feeds.
import { MainAreaWidget } from "@jupyterlab/apputils";
import { Widget } from "@lumino/widgets";
import type { DetailMsg, HeaderMsg, ImageMsg, InMsg, OutgoingMsg, TreeMsg } from "../../conducto_nb/widget/src/protocol";
import { Store } from "../../conducto_nb/widget/src/store";
import { GraphView } from "../../conducto_nb/widget/src/view";
import { POLL_MS } from "./model";
import { pipelinePath, requestAPI } from "./request";

/** What GET pipelines/<id> answers: the widget's three traits. */
interface GraphMsg {
  tree: TreeMsg;
  header: HeaderMsg;
  images: ImageMsg[];
}

/** The structure of a tree, apart from its states: a change means drawing it anew. */
function shape(t: TreeMsg): string {
  return JSON.stringify([t.base, t.names, t.kinds, t.nkids, t.titles]);
}

export class GraphContent extends Widget {
  private store: Store | null = null;
  private view: GraphView | null = null;
  private timer: number | undefined;
  private watching: string | null = null;
  private watchingImage: string | null = null;
  private lastDetail = "";
  private lastShape = "";
  private lastHeader = "";
  private lastImages = "";

  constructor(
    readonly pipelineId: string,
    private readonly debug: (id: string, path: string) => Promise<void>,
  ) {
    super();
    this.addClass("co-lab-graph");
    this.node.dataset.pipeline = pipelineId;
    void this.poll();
    this.timer = window.setInterval(() => void this.poll(), POLL_MS);
  }

  dispose(): void {
    window.clearInterval(this.timer);
    this.view?.destroy();
    super.dispose();
  }

  private async poll(): Promise<void> {
    if (document.hidden && this.store) return;
    let msg: GraphMsg;
    try {
      msg = await requestAPI<GraphMsg>(pipelinePath(this.pipelineId));
    } catch (error) {
      if (!this.store) this.node.textContent = `cannot show ${this.pipelineId}: ${(error as Error).message}`;
      return;
    }
    if (this.isDisposed) return;
    this.update_(msg);
    if (this.watching !== null) await this.detail(this.watching);
    if (this.watchingImage !== null) await this.imageDetail(this.watchingImage);
  }

  private update_(msg: GraphMsg): void {
    const images = JSON.stringify(msg.images);
    const header = JSON.stringify({ ...msg.header, now: 0 });
    if (!this.store) {
      this.store = new Store(msg.tree, msg.header, msg.images);
      const ui = { selected: null, image: null, user: new Map<string, boolean>() };
      const el = document.createElement("div"); // the component's own element, as in a cell
      this.node.replaceChildren(el);
      this.view = new GraphView(el, this.store, (m) => void this.send(m), ui);
    } else if (shape(msg.tree) !== this.lastShape) {
      this.store.setTree(msg.tree);
    } else {
      const tree = this.store.tree;
      const s: Record<string, string> = {};
      msg.tree.states.split("").forEach((letter, i) => {
        if (tree.states[i] !== letter) s[tree.paths[i]] = letter;
      });
      if (Object.keys(s).length) this.store.applyDiff({ seq: tree.seq + 1, s });
    }
    if (header !== this.lastHeader) this.store.setHeader(msg.header);
    if (images !== this.lastImages) this.store.setImages(msg.images);
    this.lastShape = shape(msg.tree);
    this.lastHeader = header;
    this.lastImages = images;
    this.node.dataset.state = msg.tree.states[0] ?? "";
  }

  private async detail(path: string): Promise<void> {
    try {
      const d = await requestAPI<DetailMsg>(pipelinePath(this.pipelineId, `detail?path=${encodeURIComponent(path)}`));
      const text = JSON.stringify(d);
      if (text !== this.lastDetail && this.watching === path) {
        this.lastDetail = text;
        this.message(d);
      }
    } catch (error) {
      this.message({ type: "detail", path, missing: true });
      console.warn(`conducto-nb: ${path}: ${(error as Error).message}`);
    }
  }

  private async imageDetail(key: string): Promise<void> {
    const d = await requestAPI<InMsg>(pipelinePath(this.pipelineId, `image?key=${encodeURIComponent(key)}`));
    if (this.watchingImage === key) this.message(d);
  }

  private message(msg: InMsg): void {
    this.store?.message(msg);
  }

  /** The graph's messages, as the kernel would answer them. */
  private async send(m: OutgoingMsg): Promise<void> {
    if (m.type === "watch") {
      this.watching = m.path;
      this.lastDetail = "";
      await this.detail(m.path);
    } else if (m.type === "unwatch") {
      if (this.watching === m.path) this.watching = null;
    } else if (m.type === "watch_image") {
      this.watchingImage = m.key;
      await this.imageDetail(m.key);
    } else if (m.type === "unwatch_image") {
      if (this.watchingImage === m.key) this.watchingImage = null;
    } else if (m.type === "timeline") {
      this.message(await requestAPI<InMsg>(pipelinePath(this.pipelineId, "timeline")));
    } else if (m.type === "act" && m.action === "debug") {
      await this.acted("debug", m.path, () => this.debug(this.pipelineId, m.path));
    } else {
      const body = m.type === "modify" ? { ...m, action: "modify" } : m;
      await this.acted(body.action, m.path, () => act(this.pipelineId, body));
    }
  }

  private async acted(action: string, path: string, run: () => Promise<unknown>): Promise<void> {
    try {
      await run();
      this.message({ type: "acted", action, path, ok: true });
    } catch (error) {
      this.message({ type: "acted", action, path, ok: false, error: (error as Error).message });
    }
    await this.poll();
  }
}

/** POST an action (rerun, kill, stop...) on a pipeline's node. */
export function act(id: string, body: { action: string; path: string; [k: string]: unknown }): Promise<unknown> {
  return requestAPI(pipelinePath(id, "act"), body);
}

/** A main-area tab showing one pipeline. */
export function graphTab(id: string, name: string, debug: (id: string, path: string) => Promise<void>): MainAreaWidget<GraphContent> {
  const content = new GraphContent(id, debug);
  const tab = new MainAreaWidget({ content });
  tab.id = `conducto-nb-pipeline-${id}`;
  tab.title.label = `${name} (${id})`;
  tab.title.caption = `pipeline ${id}`;
  tab.title.closable = true;
  return tab;
}
