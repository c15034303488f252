// The Pipelines side panel and the graph tabs it opens; a notification when a pipeline this
// page saw running ends (a webhook delivery's, a detached run's, a colleague's kernel's), but
// not one a kernel of this server runs: its notebook's cell shows that already.
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from "@jupyterlab/application";
import { ILayoutRestorer } from "@jupyterlab/application";
import { MainAreaWidget, Notification, WidgetTracker } from "@jupyterlab/apputils";
import { LabIcon } from "@jupyterlab/ui-components";
import { graphTab, type GraphContent } from "../graphtab";
import { PipelinesModel } from "../model";
import { PipelinesPanel } from "../panel";
import { CommandIDs, IConductoPipelines } from "../tokens";

const ICON = new LabIcon({
  name: "conducto-nb:pipelines",
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<rect x="2" y="3" width="8" height="5" rx="1"/><rect x="14" y="3" width="8" height="5" rx="1"/>' +
    '<rect x="8" y="16" width="8" height="5" rx="1"/><path d="M6 8v4h12V8h-1.5v2.5h-9V8zM11.25 12h1.5v4h-1.5z"/>' +
    "</g></svg>",
});

const ACTIVE = new Set(["queued", "running"]);

export const pipelinesPlugin: JupyterFrontEndPlugin<IConductoPipelines> = {
  id: "conducto-nb-lab:pipelines",
  description: "The Pipelines side panel and each pipeline's graph tab.",
  autoStart: true,
  provides: IConductoPipelines,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null): IConductoPipelines => {
    const model = new PipelinesModel();
    const tracker = new WidgetTracker<MainAreaWidget<GraphContent>>({ namespace: "conducto-nb" });
    const debug = (id: string, path: string): Promise<void> =>
      app.commands.execute(CommandIDs.debugNode, { id, path }) as Promise<void>;

    const open = (id: string): void => {
      const found = tracker.find((w) => w.content.pipelineId === id);
      if (found) {
        app.shell.activateById(found.id);
        return;
      }
      const tab = graphTab(id, model.find(id)?.name ?? id, debug);
      void tracker.add(tab);
      app.shell.add(tab, "main");
      app.shell.activateById(tab.id);
    };

    const panel = new PipelinesPanel(model, open);
    panel.title.icon = ICON;
    app.shell.add(panel, "left", { rank: 600 });
    restorer?.add(panel, panel.id);
    if (restorer) {
      void restorer.restore(tracker, {
        command: CommandIDs.openPipeline,
        args: (w) => ({ id: w.content.pipelineId }),
        name: (w) => w.content.pipelineId,
      });
    }

    app.commands.addCommand(CommandIDs.openPanel, {
      label: "Pipelines: Open the Pipelines Panel",
      caption: "every recorded conducto_nb pipeline",
      execute: () => app.shell.activateById(panel.id),
    });
    app.commands.addCommand(CommandIDs.openPipeline, {
      label: (args) => `Pipelines: Open ${String(args.id ?? "a Pipeline")}`,
      execute: (args) => open(String(args.id)),
    });

    const seen = new Map<string, string>();
    model.changed.connect(() => {
      for (const p of model.pipelines) {
        const before = seen.get(p.id);
        seen.set(p.id, p.state);
        if (before === undefined || !ACTIVE.has(before) || ACTIVE.has(p.state)) continue;
        if (p.in_this_lab) continue; // a notebook's here: its cell's graph already says so
        const text = `pipeline ${p.name} (${p.id}) ended ${p.state}`;
        const options = { autoClose: 8000, actions: [{ label: "Open", callback: () => open(p.id) }] };
        if (p.state === "done") Notification.success(text, options);
        else Notification.error(text, options);
      }
    });
    model.start();

    return {
      model,
      open,
      current: () => {
        const widget = app.shell.currentWidget;
        const tab = widget ? tracker.find((w) => w === widget) : undefined;
        return (tab ?? tracker.currentWidget)?.content.pipelineId ?? null;
      },
    };
  },
};
