// Every recorded pipeline as the side panel, the status bar and the palette see it: one poll
// of the server for all of them, every POLL_MS while the page is visible.
import { Signal, type ISignal } from "@lumino/signaling";
import { requestAPI } from "./request";

/** How often the list is read again: live changes show within this (and the request's time). */
export const POLL_MS = 1000;

/** One pipeline as conducto_nb/lab/views.py `pipeline_summary` describes it. */
export interface PipelineSummary {
  id: string;
  name: string;
  state: string; // a node state, or "interrupted" (its owner died while it ran)
  created: number;
  started: number | null;
  ended: number | null;
  duration: number | null;
  counts: Record<string, number>; // Execs per state
  failed: number;
  backend: string;
  owner_alive: boolean;
  owner_pid: number | null;
  in_this_lab: boolean; // a kernel of this server runs it: its own cell shows how it ends
}

export class PipelinesModel {
  pipelines: PipelineSummary[] = [];
  error: string | null = null;
  loaded = false;
  private readonly changedSignal = new Signal<this, void>(this);
  private timer: number | undefined;
  private inFlight = false;

  get changed(): ISignal<this, void> {
    return this.changedSignal;
  }

  start(): void {
    if (this.timer !== undefined) return;
    void this.refresh();
    this.timer = window.setInterval(() => void this.refresh(), POLL_MS);
  }

  dispose(): void {
    window.clearInterval(this.timer);
    this.timer = undefined;
  }

  find(id: string): PipelineSummary | undefined {
    return this.pipelines.find((p) => p.id === id);
  }

  /** Read the list now (a poll, or after an action). */
  async refresh(): Promise<void> {
    if (this.inFlight || document.hidden) return;
    this.inFlight = true;
    try {
      this.pipelines = await requestAPI<PipelineSummary[]>("pipelines");
      this.error = null;
    } catch (error) {
      this.error = String((error as Error).message ?? error);
    } finally {
      this.inFlight = false;
      this.loaded = true;
      this.changedSignal.emit();
    }
  }
}
