// Which of a panel's actions make sense for a node in its current state, and why the others do
// not: a failed node leads with rerun and modify, kill only while something runs, unskip only
// on a skipped node. The kernel still checks every action; this only keeps buttons honest.

/** What the panel knows of a node's subtree, from the live states. */
export interface Below {
  failed: boolean; // an Exec at or below it failed (and is not skipped)
  pending: boolean; // an Exec at or below it waits to run (pending or blocked, not skipped)
}

const ACTIVE = new Set(["queued", "running"]);
const FAILED = new Set(["error", "worker_error", "killed"]);

/** Why `action` cannot be taken now, or null when it can. */
export function whyNot(action: string, state: string, skipped: boolean, below: Below, editable?: boolean): string | null {
  const active = ACTIVE.has(state);
  switch (action) {
    case "run":
      if (skipped) return "it is skipped: unskip it first";
      return below.pending ? null : "nothing here waits to run (rerun redoes failures)";
    case "rerun":
      if (skipped) return "it is skipped: unskip it first";
      return below.failed || FAILED.has(state) ? null : "nothing here failed";
    case "reset":
    case "skip":
      if (action === "skip" && skipped) return "it is skipped already";
      return active ? "it is running: kill it first" : null;
    case "unskip":
      return skipped ? null : "it is not skipped";
    case "kill":
      return active ? null : "nothing runs here";
    case "modify":
      if (editable === false) return "a Python callable cannot be edited as text";
      return active ? "it is running: kill it first" : null;
    case "debug":
      if (editable === undefined) return "debug one Exec: open a step's panel";
      if (editable === false) return "a Python callable: call it in a cell to debug it";
      return null;
    default:
      return null;
  }
}

/** The actions in the order to show them: on a failure, the ones that fix it first. */
export function ordered(actions: string[], state: string, below: Below): string[] {
  if (!(FAILED.has(state) || below.failed)) return actions;
  const lead = ["rerun", "modify"].filter((a) => actions.includes(a));
  return [...lead, ...actions.filter((a) => !lead.includes(a))];
}
