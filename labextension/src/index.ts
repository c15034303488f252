// conducto_nb in JupyterLab: what an output widget cannot do (shared/DESIGN.md, "lab").
import { commandsPlugin } from "./plugins/commands";
import { pipelinesPlugin } from "./plugins/pipelines";
import { statusPlugin } from "./plugins/status";

export default [pipelinesPlugin, commandsPlugin, statusPlugin];
