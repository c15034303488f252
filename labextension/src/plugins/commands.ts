// Palette commands on a pipeline: rerun its failed nodes, stop it, and "Debug node", which
// opens a terminal already inside the node's debug container (the server starts the session
// through conducto_nb.debug, the %co_debug magic's Python API, and says how to enter it).
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from "@jupyterlab/application";
import { ICommandPalette, InputDialog, Notification } from "@jupyterlab/apputils";
import type { ReadonlyPartialJSONObject } from "@lumino/coreutils";
import type { Widget } from "@lumino/widgets";
import { act } from "../graphtab";
import { pipelinePath, requestAPI } from "../request";
import { CommandIDs, IConductoPipelines } from "../tokens";

const CATEGORY = "Pipelines";

/** The part of a terminal tab this uses. */
interface TerminalTab extends Widget {
  content: { session: { send(message: { type: "stdin"; content: string[] }): void } };
}

export const commandsPlugin: JupyterFrontEndPlugin<void> = {
  id: "conducto-nb-lab:commands",
  description: "Palette commands: rerun failed nodes, stop a pipeline, debug a node.",
  autoStart: true,
  requires: [IConductoPipelines],
  optional: [ICommandPalette],
  activate: (app: JupyterFrontEnd, pipelines: IConductoPipelines, palette: ICommandPalette | null) => {
    /** The pipeline asked for: the args', the graph tab in front's, or the user's choice. */
    const which = async (args: ReadonlyPartialJSONObject, active: boolean): Promise<string | null> => {
      if (typeof args.id === "string") return args.id;
      const current = pipelines.current();
      if (current) return current;
      await pipelines.model.refresh();
      const choices = pipelines.model.pipelines.filter((p) => !active || ["queued", "running"].includes(p.state));
      if (!choices.length) {
        Notification.info(active ? "no pipeline is running" : "no pipeline has run yet", { autoClose: 4000 });
        return null;
      }
      const labels = choices.map((p) => `${p.id} ${p.name} (${p.state})`);
      const answer = await InputDialog.getItem({ title: "Which pipeline?", items: labels });
      if (!answer.button.accept || answer.value === null) return null;
      return choices[labels.indexOf(answer.value)]?.id ?? null;
    };

    const run = async (what: string, id: string, body: { action: string; path: string }): Promise<void> => {
      try {
        await act(id, body);
        Notification.success(`${what} ${id}: ok`, { autoClose: 4000 });
      } catch (error) {
        Notification.error(`${what} ${id}: ${(error as Error).message}`, { autoClose: 8000 });
      }
      await pipelines.model.refresh();
    };

    app.commands.addCommand(CommandIDs.rerunFailed, {
      label: "Pipelines: Rerun Failed Nodes of a Pipeline",
      caption: "rerun what failed or was killed, with the code it ran",
      execute: async (args) => {
        const id = await which(args, false);
        if (id) await run("rerun", id, { action: "rerun", path: String(args.path ?? "/") });
      },
    });
    app.commands.addCommand(CommandIDs.stop, {
      label: "Pipelines: Stop a Pipeline",
      caption: "kill everything the pipeline runs",
      execute: async (args) => {
        const id = await which(args, true);
        if (id) await run("stop", id, { action: "stop", path: "/" });
      },
    });
    app.commands.addCommand(CommandIDs.debugNode, {
      label: "Pipelines: Debug Node",
      caption: "a terminal inside the node's debug container",
      execute: async (args) => {
        const id = String(args.id ?? pipelines.current() ?? "");
        const path = String(args.path ?? "");
        if (!id || !path) {
          Notification.warning("Debug node: open a pipeline and use a node panel's debug button", { autoClose: 5000 });
          return;
        }
        const started = await requestAPI<{ entering: string; where: string; note?: string }>(
          pipelinePath(id, "debug"),
          { path },
        );
        const terminal = (await app.commands.execute("terminal:create-new")) as TerminalTab;
        terminal.content.session.send({ type: "stdin", content: [`${started.entering}\r`] });
        const note = started.note ? ` (${started.note})` : "";
        Notification.info(`debug ${path} of ${id}: ${started.where}${note}`, { autoClose: 8000 });
      },
    });
    for (const command of [CommandIDs.openPanel, CommandIDs.rerunFailed, CommandIDs.stop]) {
      palette?.addItem({ command, category: CATEGORY });
    }
  },
};
