// What the pipelines plugin provides to the others (status bar, palette commands).
import { Token } from "@lumino/coreutils";
import type { PipelinesModel } from "./model";

export interface IConductoPipelines {
  readonly model: PipelinesModel;
  /** Open (or show again) the graph tab of a pipeline. */
  open(id: string): void;
  /** The pipeline of the graph tab in front, if one is. */
  current(): string | null;
}

export const IConductoPipelines = new Token<IConductoPipelines>(
  "conducto-nb-lab:pipelines",
  "Every recorded conducto_nb pipeline, polled, and their graph tabs.",
);

/** Command ids, namespaced. */
export const CommandIDs = {
  openPanel: "conducto-nb:open-panel",
  openPipeline: "conducto-nb:open-pipeline",
  rerunFailed: "conducto-nb:rerun-failed",
  stop: "conducto-nb:stop-pipeline",
  debugNode: "conducto-nb:debug-node",
} as const;
