// The "Pipelines" side panel: every recorded pipeline, newest first, with its state, counts
// of its steps' states, start and duration; a filter by state; a click opens its graph tab.
import { Widget } from "@lumino/widgets";
import type { PipelineSummary, PipelinesModel } from "./model";

/** The filter's choices; "" shows every pipeline. */
const FILTERS = ["", "running", "queued", "pending", "done", "error", "killed", "interrupted"];

export class PipelinesPanel extends Widget {
  private readonly list: HTMLUListElement;
  private readonly filter: HTMLSelectElement;
  private readonly message: HTMLDivElement;

  constructor(
    private readonly model: PipelinesModel,
    private readonly open: (id: string) => void,
  ) {
    super();
    this.id = "conducto-nb-pipelines";
    this.addClass("co-lab-pipelines");
    this.title.caption = "Pipelines";
    const head = document.createElement("div");
    head.className = "co-lab-head";
    const label = document.createElement("label");
    label.textContent = "Pipelines ";
    this.filter = document.createElement("select");
    this.filter.className = "co-lab-filter";
    this.filter.title = "show only pipelines in this state";
    for (const state of FILTERS) {
      const option = document.createElement("option");
      option.value = state;
      option.textContent = state || "all states";
      this.filter.appendChild(option);
    }
    this.filter.addEventListener("change", () => this.render());
    label.appendChild(this.filter);
    head.appendChild(label);
    this.message = document.createElement("div");
    this.message.className = "co-lab-message";
    this.list = document.createElement("ul");
    this.list.className = "co-lab-list";
    this.list.addEventListener("click", (e) => {
      const item = (e.target as HTMLElement).closest<HTMLElement>("[data-pipeline]");
      if (item?.dataset.pipeline) this.open(item.dataset.pipeline);
    });
    this.node.append(head, this.message, this.list);
    model.changed.connect(() => this.render());
    this.render();
  }

  private render(): void {
    const model = this.model;
    const wanted = this.filter.value;
    const shown = model.pipelines.filter((p) => !wanted || p.state === wanted);
    if (model.error) this.message.textContent = `cannot read the pipelines: ${model.error}`;
    else if (!model.loaded) this.message.textContent = "reading the pipelines…";
    else if (!shown.length)
      this.message.textContent = wanted ? `no pipeline is ${wanted}` : "no pipeline has run yet";
    else this.message.textContent = "";
    this.list.replaceChildren(...shown.map(item));
  }
}

function item(p: PipelineSummary): HTMLLIElement {
  const li = document.createElement("li");
  li.className = "co-lab-item";
  li.dataset.pipeline = p.id;
  li.dataset.state = p.state;
  li.title = `${p.id}: open its graph`;
  const top = document.createElement("div");
  top.className = "co-lab-item-top";
  const name = span("co-lab-name", p.name);
  const state = span(`co-lab-state co-lab-state-${p.state}`, p.state);
  top.append(name, state);
  const counts = document.createElement("div");
  counts.className = "co-lab-counts";
  for (const [s, n] of Object.entries(p.counts).sort()) {
    counts.appendChild(span(`co-lab-count co-lab-state-${s}`, `${n} ${s}`));
  }
  const when = document.createElement("div");
  when.className = "co-lab-when";
  const started = p.started ?? p.created;
  when.textContent = `${p.id} · ${new Date(started * 1000).toLocaleString()}`;
  if (p.duration !== null) when.textContent += ` · ${duration(p.duration)}`;
  li.append(top, counts, when);
  return li;
}

function span(className: string, text: string): HTMLSpanElement {
  const s = document.createElement("span");
  s.className = className;
  s.textContent = text;
  return s;
}

/** 4.2s, 3m 05s, 2h 01m. */
export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m ${String(Math.floor(seconds % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}
