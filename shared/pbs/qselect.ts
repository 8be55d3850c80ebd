/**
 * qselect's criteria (OpenPBS qselect.c): parsed from its options and matched against a job's
 * PBS attributes (the qstat -f shapes). Pure: the command fetches the jobs, this decides.
 */
import { PbsParseError } from "../errors.js";
import { parseSize } from "./size.js";
import { parseWalltime } from "./walltime.js";

/** PBS's relational operators in `-l res.op.value`. */
const OPS = ["eq", "ne", "ge", "gt", "le", "lt"] as const;
export type SelectOp = (typeof OPS)[number];

export interface ResourceCriterion {
  name: string;
  op: SelectOp;
  value: string;
}

export interface SelectCriteria {
  /** -q: the queue part of the destination (the server part picks whom to ask) */
  queue?: string;
  /** -u: user[@host] list */
  users?: { user: string; host?: string }[];
  /** -s: state letters */
  states?: string;
  /** -N */
  name?: string;
  /** -A */
  account?: string;
  /** -l */
  resources?: ResourceCriterion[];
  /** -h: hold types; "n" = none */
  holds?: string;
  /** -r y|n */
  rerunnable?: boolean;
  /** -x: finished and moved jobs too; -H: only those */
  history?: "include" | "only";
  /** -J: array jobs only */
  arraysOnly?: boolean;
  /** -t: subjobs too */
  subjobs?: boolean;
}

/** A job as the API shows it: its ID and attributes. */
export interface SelectableJob {
  id: string;
  attributes: Record<string, unknown>;
}

/** `ncpus.gt.4,walltime.le.1:00:00` -> criteria; PBS's message for a malformed one. */
export function parseResourceCriteria(text: string): ResourceCriterion[] {
  return text.split(",").map((item) => {
    const m = /^([A-Za-z_][A-Za-z0-9_-]*)\.(eq|ne|ge|gt|le|lt)\.(.+)$/.exec(item.trim());
    if (!m)
      throw new PbsParseError(
        `illegal -l value: ${item} (expected resource.op.value, op one of ${OPS.join(", ")})`,
      );
    return { name: m[1], op: m[2] as SelectOp, value: m[3] };
  });
}

/** `-u bob,carol@host` -> users. */
export function parseUserList(text: string): { user: string; host?: string }[] {
  return text.split(",").map((u) => {
    const [user, host] = u.trim().split("@");
    if (!user) throw new PbsParseError(`illegal -u value: ${text}`);
    return host ? { user, host } : { user };
  });
}

const FINISHED_STATES = "FMX";

/** PBS compares sizes as sizes, times as times, numbers as numbers, anything else as text. */
function compareValues(have: string, want: string): number | undefined {
  const num = /^[+-]?\d+(\.\d+)?$/;
  if (num.test(have) && num.test(want)) return Number(have) - Number(want);
  if (/^\d+(\.\d+)?[kmgtp]?[bw]$/i.test(have) && /^\d+(\.\d+)?[kmgtp]?[bw]$/i.test(want))
    return parseSize(have) - parseSize(want);
  if (/^[\d:.]+$/.test(have) && /^[\d:.]+$/.test(want) && (have.includes(":") || want.includes(":")))
    return parseWalltime(have) - parseWalltime(want);
  return undefined;
}

function resourceMatches(rl: Record<string, unknown>, c: ResourceCriterion): boolean {
  const raw = rl[c.name];
  if (raw === undefined) return false;
  const have = String(raw);
  const cmp = compareValues(have, c.value);
  if (cmp === undefined) {
    // text: only equality means anything
    if (c.op === "eq") return have === c.value;
    if (c.op === "ne") return have !== c.value;
    return false;
  }
  switch (c.op) {
    case "eq":
      return cmp === 0;
    case "ne":
      return cmp !== 0;
    case "ge":
      return cmp >= 0;
    case "gt":
      return cmp > 0;
    case "le":
      return cmp <= 0;
    case "lt":
      return cmp < 0;
  }
}

/** Whether `job` meets every criterion given. */
export function selectMatches(job: SelectableJob, c: SelectCriteria): boolean {
  const a = job.attributes;
  const state = String(a.job_state ?? "");
  const finished = FINISHED_STATES.includes(state);
  if (finished && c.history === undefined) return false;
  if (!finished && c.history === "only") return false;
  const isSub = a.array_id !== undefined;
  if (isSub && !c.subjobs) return false;
  if (c.arraysOnly && a.array !== "True" && !isSub) return false;
  if (c.queue !== undefined && a.queue !== c.queue) return false;
  if (c.states !== undefined && !c.states.includes(state)) return false;
  if (c.name !== undefined && a.Job_Name !== c.name) return false;
  if (c.account !== undefined && a.Account_Name !== c.account) return false;
  if (c.users) {
    const [user, host] = String(a.Job_Owner ?? "").split("@");
    if (!c.users.some((u) => u.user === user && (u.host === undefined || u.host === host))) return false;
  }
  if (c.holds !== undefined) {
    const holds = String(a.Hold_Types ?? "n");
    if (![...c.holds].some((h) => holds.includes(h))) return false;
  }
  if (c.rerunnable !== undefined && (a.Rerunable === "True") !== c.rerunnable) return false;
  if (c.resources) {
    const rl = (a.Resource_List ?? {}) as Record<string, unknown>;
    if (!c.resources.every((r) => resourceMatches(rl, r))) return false;
  }
  return true;
}
