// A status-bar item: how many pipelines run and how many of their nodes failed; a click
// opens the Pipelines panel.
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from "@jupyterlab/application";
import { IStatusBar } from "@jupyterlab/statusbar";
import { Widget } from "@lumino/widgets";
import { CommandIDs, IConductoPipelines } from "../tokens";

export const statusPlugin: JupyterFrontEndPlugin<void> = {
  id: "conducto-nb-lab:status",
  description: "Running pipelines and failed nodes in the status bar.",
  autoStart: true,
  requires: [IConductoPipelines],
  optional: [IStatusBar],
  activate: (app: JupyterFrontEnd, pipelines: IConductoPipelines, statusBar: IStatusBar | null) => {
    if (!statusBar) return;
    const item = new Widget();
    item.addClass("co-lab-status");
    item.node.title = "conducto_nb pipelines: open the Pipelines panel";
    item.node.addEventListener("click", () => void app.commands.execute(CommandIDs.openPanel));
    const render = (): void => {
      const all = pipelines.model.pipelines;
      const running = all.filter((p) => p.state === "running" || p.state === "queued").length;
      const failed = all.filter((p) => p.owner_alive).reduce((n, p) => n + p.failed, 0);
      item.node.textContent = `Pipelines: ${running} running, ${failed} failed`;
      item.node.dataset.running = String(running);
      item.node.dataset.failed = String(failed);
    };
    pipelines.model.changed.connect(render);
    render();
    statusBar.registerStatusItem(statusPlugin.id, { item, align: "left", rank: 50 });
  },
};
