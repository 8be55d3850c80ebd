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

/** What each edge type demands implies these weaker ones (afterok: the parent ran and ended). */
const IMPLIES: Record<EdgeType, EdgeType[]> = {
  afterok: ["afterok", "after", "afterany"],
  after: ["after", "afterany"],
  afternotok: ["afternotok", "afterany"],
  afterany: ["afterany"],
};

/**
 * One job named twice against the same other job (`afterok:12,afterany:12`, or two before-types
 * on one job): a pair of jobs holds one edge, so the two types become the one that asks for
 * both, or undefined when no single type does (`afterok` with `afternotok` can never both hold).
 * Keeping the first type instead would silently drop what the second asked for.
 */
export function combineEdgeTypes(a: EdgeType, b: EdgeType): EdgeType | undefined {
  if (IMPLIES[a].includes(b)) return a;
  if (IMPLIES[b].includes(a)) return b;
  return undefined;
}
