/** How a dependency edge stands given the parent's state (pure). */
import type { JobRecord } from "./job.js";

export type EdgeOutcome = "satisfied" | "unsatisfiable" | "pending";

/** The after-types an edge can carry (before-types are stored as the matching after-type). */
export type EdgeType = "after" | "afterok" | "afternotok" | "afterany";

export function beforeToAfter(t: string): EdgeType {
  return (t.replace(/^before/, "after") || "afterany") as EdgeType;
}

/** A parent that ended without running (deleted while queued) counts as "not ok". */
export function edgeOutcome(
  type: string,
  parent: Pick<JobRecord, "state" | "stime" | "exitStatus" | "obittime">,
): EdgeOutcome {
  // A moved job (M) has ended once its executing site reported the end (obittime set).
  const ended =
    parent.state === "F" || parent.state === "X" || (parent.state === "M" && parent.obittime !== undefined);
  const ok = ended && parent.exitStatus === 0;
  switch (type) {
    case "after":
      if (parent.stime !== undefined && ["R", "E", "F", "X", "B", "M"].includes(parent.state))
        return "satisfied";
      return ended ? "unsatisfiable" : "pending";
    case "afterok":
      return ended ? (ok ? "satisfied" : "unsatisfiable") : "pending";
    case "afternotok":
      return ended ? (ok ? "unsatisfiable" : "satisfied") : "pending";
    case "afterany":
      return ended ? "satisfied" : "pending";
    default:
      return "pending";
  }
}
