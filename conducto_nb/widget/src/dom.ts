// Small DOM helpers the panels share.

/** A new element with a class, appended to `parent`, holding `text`. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls: string,
  parent?: HTMLElement,
  text?: string,
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

/** A kernel timestamp (seconds) as the browser's local time of day. */
export function time(t: number | null): string {
  return t === null ? "" : new Date(t * 1000).toLocaleTimeString();
}

/** A button that reads as a link: it opens another panel. */
export function link(parent: HTMLElement, text: string, title: string, go: () => void): HTMLButtonElement {
  const b = h("button", "co-link", parent, text);
  b.title = title;
  b.onclick = go;
  return b;
}
