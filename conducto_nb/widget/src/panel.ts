// The panel of the selected node: path, doc, command, parameters (own or inherited), state,
// attempts, output streaming in, and the actions; "modify" edits the command or env and reruns.
// It names the co.Images the node needs (saying when it waits for one to build, from live
// states) and the NEW reuse subtree its actions act on as a whole.
import { type Below, ordered, whyNot } from "./actions";
import { h, link, time } from "./dom";
import { paint } from "./images";
import { appendOutput, renderOutput } from "./markdown";
import type { ActedMsg, AttemptMsg, CallbackMsg, DetailMsg, ImageMsg, OutMsg, OutgoingMsg, ParamMsg } from "./protocol";
import { COLOURS, INK, isSkipped, labelOf, stateOf } from "./tree";

const ACTION_TITLES: Record<string, string> = {
  run: "run this node and what is below it",
  rerun: "reset what failed or was killed below, and run it again",
  reset: "back to pending",
  skip: "leave it out of runs",
  unskip: "take it back into runs",
  kill: "kill what runs below",
  modify: "edit the command or env, then rerun",
  debug: "open a debug session for this node",
};

export class Panel {
  readonly el: HTMLDivElement;
  path: string | null = null;
  private detail: DetailMsg | null = null;
  private attempt = 0;
  private text = { stdout: "", stderr: "" };
  private outEls: Record<"stdout" | "stderr", HTMLElement | null> = { stdout: null, stderr: null };
  private status: HTMLElement | null = null;
  private html = new Map<string, string>(); // Markdown blocks of the output: source -> HTML
  private letter = "p";
  private below: Below = { failed: false, pending: true };
  private imageNote: HTMLElement | null = null;

  constructor(
    private readonly send: (m: OutgoingMsg) => void,
    private readonly onClose: () => void,
    private readonly images: () => ImageMsg[],
    private readonly onImage: (key: string) => void,
    private readonly onNode: (path: string) => void,
  ) {
    this.el = h("div", "co-panel");
    this.el.hidden = true;
  }

  open(path: string): void {
    this.path = path;
    this.detail = null;
    this.imageNote = null;
    this.el.hidden = false;
    this.el.replaceChildren();
    this.head(path, "p");
    h("div", "co-loading", this.el, "loading… (a busy cell may hold this until it ends)");
  }

  close(): void {
    this.release();
    this.el.hidden = true;
    this.el.replaceChildren();
  }

  /** The panel element is no longer this one's (an image's panel took it). */
  release(): void {
    this.path = null;
    this.detail = null;
    this.imageNote = null;
  }

  onDetail(d: DetailMsg): void {
    if (d.path !== this.path) return;
    this.detail = d;
    this.text = { stdout: d.stdout ?? "", stderr: d.stderr ?? "" };
    this.html = new Map(d.md ?? []);
    const atts = d.attempts ?? [];
    this.attempt = atts.length ? atts[atts.length - 1].attempt : 0;
    this.drawDetail(d);
  }

  onOut(m: OutMsg): void {
    if (m.path !== this.path || !this.detail) return;
    if (m.attempt !== this.attempt && this.attempt !== 0) return; // a new attempt's detail follows
    this.text[m.stream] += m.text;
    for (const [source, html] of m.md ?? []) this.html.set(source, html);
    const into = this.outEls[m.stream];
    if (into) {
      const box = into.parentElement;
      const atBottom = !box || box.scrollHeight - box.scrollTop - box.clientHeight < 30;
      into.parentElement!.hidden = false;
      appendOutput(into, this.text[m.stream], m.text, this.html);
      if (box && atBottom) box.scrollTop = box.scrollHeight;
    }
  }

  onActed(m: ActedMsg): void {
    if (!this.status || m.path !== this.path) return;
    const done = m.note ? `${m.action}: ${m.note}` : `${m.action}: sent`;
    this.status.textContent = m.ok ? done : `${m.action} failed: ${m.error ?? ""}`;
    this.status.classList.toggle("co-error-text", !m.ok);
  }

  /** The node's state changed: the chip and the buttons follow without asking the kernel. */
  setState(letter: string, below?: Below): void {
    if (this.path === null) return;
    if (below) this.below = below;
    const chip = this.el.querySelector<HTMLElement>(".co-chip");
    if (!chip) return;
    const changed = letter !== this.letter;
    this.letter = letter;
    this.enableActions();
    const state = stateOf(letter);
    chip.textContent = labelOf(letter);
    chip.style.background = COLOURS[state];
    chip.style.color = INK[state];
    if (changed) this.drawImages();
  }

  /** The images' states changed: whether the node waits for one may have too. */
  setImages(): void {
    this.drawImages();
  }

  /** The images the node needs, each a link to its panel; "waiting for image X to build" while
   * the node is queued behind it (a failed build: the node's stderr says why). */
  private drawImages(): void {
    const note = this.imageNote;
    const keys = this.detail?.images ?? [];
    if (!note || !keys.length) return;
    note.replaceChildren();
    const images = this.images();
    for (const key of keys) {
      const image = images.find((i) => i.key === key);
      if (!image) continue;
      const row = h("div", "co-image-row", note);
      const waiting = stateOf(this.letter) === "queued" && ["pending", "building"].includes(image.state);
      row.classList.toggle("co-waiting", waiting);
      row.append(waiting ? "waiting for image " : "image ");
      link(row, image.label, "open the image's panel", () => this.onImage(key));
      row.append(waiting ? " to build " : " ");
      paint(h("span", "co-image-chip", row, image.state), image.state);
    }
  }

  private head(path: string, letter: string): void {
    const head = h("div", "co-panel-head", this.el);
    h("code", "co-path", head, path);
    h("span", "co-chip", head);
    const close = h("button", "co-close", head, "×");
    close.title = "close";
    close.onclick = () => this.onClose();
    this.setState(letter);
  }

  private drawDetail(d: DetailMsg): void {
    const el = this.el;
    el.replaceChildren();
    this.head(d.path, this.letter); // the live state (a diff may have come after the detail)
    if (d.missing) {
      h("div", "co-note", el, "this node is no longer in the tree");
      return;
    }
    el.querySelector(".co-path")!.insertAdjacentText("afterend", ` ${d.kind ?? ""}`);
    this.actions(d);
    if (d.reuse_root) {
      const root = d.reuse_root;
      const text = `runs in one container with the rest of ${root} (container_reuse_context=NEW): actions act on all of ${root}`;
      h("div", "co-note co-reuse", el, text);
    }
    if (d.blocked_by) {
      // Blocked: say by what, and lead to it (fixing and rerunning it resumes this node).
      const note = h("div", "co-note co-blocked-note", el, "blocked: held back by the failure at ");
      const failed = d.first_failure ?? d.blocked_by;
      link(note, failed, "open the failed node", () => this.onNode(failed));
      note.append(" — rerun it (or modify it) and this goes on after it");
    }
    this.status = h("div", "co-status", el);
    this.imageNote = h("div", "co-image-note", el);
    this.drawImages();
    if (d.doc_html) h("div", "co-md co-doc", el).innerHTML = d.doc_html; // rendered safe
    if (d.command !== undefined) {
      h("div", "co-label-row", el, "command");
      h("pre", "co-command", el, d.command);
    }
    this.params(d.params ?? []);
    const atts = d.attempts ?? [];
    const last = atts.length ? atts[atts.length - 1] : undefined;
    if (last?.result !== undefined && last.result !== null) {
      h("div", "co-label-row", el, "returned");
      h("pre", "co-result", el, last.result);
    }
    if (d.notebook_ipynb !== undefined) this.notebook(d);
    this.attempts(d.attempts ?? []);
    this.callbacks(d.callbacks ?? []);
    for (const stream of ["stdout", "stderr"] as const) {
      const box = h("div", `co-out co-${stream}`, el);
      h("div", "co-label-row", box, stream);
      const into = h("div", "co-out-text", box);
      renderOutput(into, this.text[stream], this.html);
      box.hidden = !this.text[stream] && d.kind !== "Exec";
      this.outEls[stream] = into;
    }
  }

  /** A co.Notebook's executed notebook: rendered in a sandboxed frame (its scripts never run
   * here), with a link that saves the .ipynb. */
  private notebook(d: DetailMsg): void {
    const box = h("div", "co-notebook", this.el);
    h("div", "co-label-row", box, "executed notebook");
    const name = d.notebook_name ?? "executed.ipynb";
    const save = h("a", "co-link co-notebook-save", h("div", "", box), `save ${name}`);
    save.download = name;
    save.href = URL.createObjectURL(new Blob([d.notebook_ipynb ?? ""], { type: "application/x-ipynb+json" }));
    if (d.notebook_error) h("div", "co-note co-error-text", box, d.notebook_error);
    if (!d.notebook_html) return;
    const frame = h("iframe", "co-notebook-frame", box);
    frame.setAttribute("sandbox", "");
    frame.title = `executed notebook ${d.path}`;
    frame.srcdoc = d.notebook_html;
  }

  private actions(d: DetailMsg): void {
    const row = h("div", "co-actions", this.el);
    const acts = (d.actions ?? []).filter((a) => a !== "modify" || d.editable !== undefined);
    for (const action of ordered(acts, stateOf(this.letter), this.below)) {
      const b = h("button", `co-act co-act-${action}`, row, action);
      b.dataset.action = action;
      b.onclick = () => {
        if (b.getAttribute("aria-disabled") === "true") return; // its title says why
        if (action === "modify") this.modifyForm(d);
        else this.send({ type: "act", action, path: d.path });
        if (this.status && action !== "modify") this.status.textContent = `${action}…`;
      };
    }
    this.enableActions();
  }

  /** Each button enabled or not for the live state; a disabled one says why on hover (it
   * stays focusable, so the reason can be read). */
  private enableActions(): void {
    const state = stateOf(this.letter);
    const skipped = isSkipped(this.letter);
    for (const b of this.el.querySelectorAll<HTMLButtonElement>(".co-actions .co-act")) {
      const action = b.dataset.action ?? "";
      const why = whyNot(action, state, skipped, this.below, this.detail?.editable);
      b.setAttribute("aria-disabled", String(why !== null));
      b.classList.toggle("co-disabled", why !== null);
      b.title = why === null ? (ACTION_TITLES[action] ?? action) : `${action}: ${why}`;
    }
  }

  private modifyForm(d: DetailMsg): void {
    if (this.el.querySelector(".co-modify")) return;
    const form = h("div", "co-modify", undefined);
    this.status!.after(form);
    h("div", "co-label-row", form, d.editable ? "command" : "command (a Python callable: not editable)");
    const cmd = h("textarea", "co-modify-command", form);
    cmd.value = d.command ?? "";
    cmd.rows = Math.min(8, Math.max(2, cmd.value.split("\n").length));
    cmd.disabled = !d.editable;
    h("div", "co-label-row", form, "own env (JSON; merged over what it inherits)");
    const env = h("textarea", "co-modify-env", form);
    env.value = JSON.stringify(d.own_env ?? {}, null, 1);
    env.rows = 3;
    const save = h("button", "co-modify-save", form, "save and rerun");
    const cancel = h("button", "co-modify-cancel", form, "cancel");
    save.onclick = () => {
      const command = d.editable && cmd.value !== d.command ? cmd.value : null;
      const envText = env.value.trim() === JSON.stringify(d.own_env ?? {}, null, 1).trim() ? null : env.value;
      this.send({ type: "modify", path: d.path, command, env: envText });
      this.status!.textContent = "modify…";
      form.remove();
    };
    cancel.onclick = () => form.remove();
  }

  private params(rows: ParamMsg[]): void {
    if (!rows.length) return;
    const details = h("details", "co-params", this.el);
    h("summary", "", details, "parameters");
    const table = h("table", "", details);
    for (const p of rows) {
      const tr = h("tr", p.own ? "co-own" : "co-inherited", table);
      h("td", "", tr, p.name);
      h("td", "co-value", tr, JSON.stringify(p.value));
      const src = p.own ? "own" : p.source === "default" ? "default" : `inherited from ${p.source}`;
      h("td", "co-source", tr, src);
    }
  }

  private callbacks(fired: CallbackMsg[]): void {
    if (!fired.length) return;
    h("div", "co-label-row", this.el, "callbacks");
    const table = h("table", "co-callbacks", this.el);
    for (const c of fired) {
      const tr = h("tr", c.ok ? "" : "co-callback-failed", table);
      for (const cell of [time(c.fired), `on ${c.event}`, c.label, c.message]) h("td", "", tr, cell);
    }
  }

  private attempts(atts: AttemptMsg[]): void {
    if (!atts.length) return;
    const table = h("table", "co-attempts", this.el);
    const head = h("tr", "", table);
    for (const c of ["attempt", "state", "exit code", "started", "took", ""]) h("th", "", head, c);
    for (const a of atts) {
      const tr = h("tr", "", table);
      const took = a.started !== null && a.ended !== null ? `${(a.ended - a.started).toFixed(2)} s` : "";
      const cells = [String(a.attempt), a.state ?? "running", a.exit_code === null ? "" : String(a.exit_code)];
      for (const c of [...cells, time(a.started), took, a.message ?? ""]) h("td", "", tr, c);
    }
  }
}
