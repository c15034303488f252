// Output with Markdown blocks: text a command prints between <ConductoMarkdown> and
// </ConductoMarkdown> shows rendered (as in Conducto). The kernel renders each block in its
// safe mode (conducto_nb/widget/markdown.py) and sends [source, html] pairs; a block whose
// HTML has not come (still streaming) shows as its source.
const OPEN = "<ConductoMarkdown>";
const CLOSE = "</ConductoMarkdown>";

export interface Segment {
  markdown: boolean;
  text: string;
}

/** Output split into plain and Markdown parts; a block not closed yet runs to the end. */
export function segments(text: string): Segment[] {
  const out: Segment[] = [];
  let at = 0;
  while (at < text.length) {
    const open = text.indexOf(OPEN, at);
    if (open < 0) {
      out.push({ markdown: false, text: text.slice(at) });
      break;
    }
    if (open > at) out.push({ markdown: false, text: text.slice(at, open) });
    const start = open + OPEN.length;
    const close = text.indexOf(CLOSE, start);
    out.push({ markdown: true, text: text.slice(start, close < 0 ? text.length : close) });
    at = close < 0 ? text.length : close + CLOSE.length;
  }
  return out;
}

/** The output of one stream into `into`: <pre> for text, the HTML for Markdown blocks (the
 * blank lines around a block, which a command prints to start its tag on a line of its own,
 * make no empty box). */
export function renderOutput(into: HTMLElement, text: string, html: Map<string, string>): void {
  into.replaceChildren();
  const all = segments(text);
  const blocks = all.some((seg) => seg.markdown);
  for (const seg of all) {
    if (blocks && !seg.markdown && seg.text.trim() === "") continue;
    const done = seg.markdown ? html.get(seg.text) : undefined;
    if (done !== undefined) {
      const div = document.createElement("div");
      div.className = "co-md";
      div.innerHTML = done;
      into.appendChild(div);
    } else {
      const pre = document.createElement("pre");
      pre.textContent = seg.text;
      into.appendChild(pre);
    }
  }
}

/** Add streamed text: appended to the last <pre> when no Markdown is involved. */
export function appendOutput(into: HTMLElement, whole: string, added: string, html: Map<string, string>): void {
  const last = into.lastElementChild;
  if (!whole.includes(OPEN) && last instanceof HTMLPreElement) {
    last.appendChild(document.createTextNode(added));
  } else {
    renderOutput(into, whole, html);
  }
}
