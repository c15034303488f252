// The anywidget entry: `initialize` keeps one Store per model, fed by the model's traits and
// messages (conducto_nb/widget/model.py); `render` draws a view of that store.
import css from "./style.css";
import type { DiffMsg, HeaderMsg, ImageMsg, InMsg, OutgoingMsg, TreeMsg } from "./protocol";
import { Store } from "./store";
import { GraphView, type UiState } from "./view";

/** The part of anywidget's model this widget uses. */
interface Model {
  get(name: "tree"): TreeMsg;
  get(name: "diff"): DiffMsg;
  get(name: "header"): HeaderMsg;
  get(name: "images"): ImageMsg[] | undefined;
  on(event: string, callback: (...args: never[]) => void): void;
  off(event: string, callback: (...args: never[]) => void): void;
  send(content: OutgoingMsg): void;
}

// By the widget's uid: anywidget hands initialize and render different proxies of one model.
const stores = new Map<string, Store>();
const uiStates = new Map<string, UiState>(); // what survives a re-rendered output

function injectStyle(): void {
  const id = "conducto-nb-graph-style";
  if (document.getElementById(id)) return;
  const style = document.createElement("style");
  style.id = id;
  style.textContent = css;
  document.head.appendChild(style);
}

function storeOf(model: Model): Store {
  const header = model.get("header");
  let store = stores.get(header.uid);
  if (!store) {
    const t0 = performance.now();
    store = new Store(model.get("tree"), header, model.get("images"));
    store.since = t0;
    stores.set(header.uid, store);
    const s = store;
    model.on("change:tree", () => s.setTree(model.get("tree")));
    model.on("change:diff", () => s.applyDiff(model.get("diff")));
    model.on("change:header", () => s.setHeader(model.get("header")));
    model.on("change:images", () => s.setImages(model.get("images")));
    model.on("msg:custom", (msg: InMsg) => s.message(msg));
  }
  return store;
}

function initialize({ model }: { model: Model }): void {
  storeOf(model);
}

function render({ model, el }: { model: Model; el: HTMLElement }): () => void {
  const t0 = performance.now();
  injectStyle();
  const store = storeOf(model);
  // The first view counts from the model's arrival (decoding included), later ones from render.
  const since = store.since ?? t0;
  store.since = undefined;
  const uid = store.header.uid;
  let ui = uiStates.get(uid);
  if (!ui) uiStates.set(uid, (ui = { selected: null, image: null, user: new Map() }));
  const view = new GraphView(el, store, (m) => model.send(m), ui);
  el.dataset.drawMs = (performance.now() - since).toFixed(1);
  return () => view.destroy();
}

export default { initialize, render };
