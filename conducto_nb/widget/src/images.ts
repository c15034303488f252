// The pipeline's co.Images under the header: a chip per image, coloured as a node in the
// matching state would be (building as running, and pulsing; unused greyed out), with its
// label and how many nodes need it. A click opens the image's panel.
import { h } from "./dom";
import type { ImageMsg, ImageState } from "./protocol";
import { fit } from "./render";
import { COLOURS, INK } from "./tree";

/** The node state whose colours an image state takes. */
const LOOK: Record<ImageState, string> = {
  pending: "pending",
  building: "running",
  done: "done",
  error: "error",
  unused: "pending",
};

const LABEL_PX = 260; // a chip's label is cut beyond this (the whole label is its title)

/** Colour `el` for an image state; CSS animates `building` and greys `unused`. */
export function paint(el: HTMLElement, state: ImageState): void {
  const look = LOOK[state] ?? "pending";
  el.style.background = COLOURS[look];
  el.style.color = INK[look];
  el.dataset.state = state;
}

/** Its state, with how far it is while it builds ("building 3/7"). */
export function stateText(image: ImageMsg): string {
  return image.step ? `${image.state} ${image.step}` : image.state;
}

export function nodesText(n: number): string {
  return n === 1 ? "1 node" : `${n} nodes`;
}

export class ImageStrip {
  readonly el: HTMLDivElement;
  private drawn = "";

  constructor(private readonly pick: (key: string) => void) {
    this.el = h("div", "co-images");
    this.el.hidden = true;
  }

  /** Redraw when the images or the selection changed (a few chips: drawn whole). */
  update(images: ImageMsg[], selected: string | null): void {
    const sig = JSON.stringify([images, selected]);
    if (sig === this.drawn) return;
    this.drawn = sig;
    const el = this.el;
    el.hidden = images.length === 0;
    el.replaceChildren();
    if (!images.length) return;
    h("span", "co-images-title", el, images.length === 1 ? "image" : "images");
    for (const image of images) {
      const chip = h("button", "co-image", el);
      chip.dataset.key = image.key;
      paint(chip, image.state);
      chip.classList.toggle("co-selected-image", image.key === selected);
      h("span", "co-image-label", chip, fit(image.label, LABEL_PX));
      h("span", "co-image-count", chip, ` · ${stateText(image)} · ${nodesText(image.n)}`);
      chip.title = `${image.label}: ${stateText(image)}${image.message ? ` (${image.message})` : ""}`;
      chip.onclick = () => this.pick(image.key);
    }
  }
}
