/**
 * Array subjobs as PBS names them (`12[3]`, `12[1-5]`). A subjob is a record of its own only
 * from its start (scheduler/cycle.ts claimSubjobs) or from its hand-over to a peer
 * (peers/subjob-transit.ts); before that it is an index its parent has
 * yet to start, and a subjob deleted before it started is an index the parent remembers in
 * `array.deleted`. These read both kinds as the jobs PBS shows: Q or H (with its array) for
 * one not started, X for one deleted before it started.
 */
import { type ArrayPart, inRange, parseArrayPart } from "../pbs/array.js";
import type { SiteContext } from "./context.js";
import { isFinished, type JobRecord } from "./job.js";

/** `12[3]` / `12[1-5]` (a key) -> the parent's key and what the brackets name; undefined otherwise. */
export function subjobRef(key: string): { parentKey: string; part: ArrayPart } | undefined {
  const m = /^(\d+)\[([^\]]+)\]$/.exec(key);
  return m ? { parentKey: m[1], part: parseArrayPart(m[2]) } : undefined;
}

/** Whether `index` is one the parent has not started yet. */
export function isUnstarted(parent: JobRecord, index: number): boolean {
  const a = parent.array;
  return !!a && a.indices.indexOf(index, a.next) >= 0;
}

/** The subjob `index` of `parent`, not started (Q, or H with its array) or deleted before it started (X). */
export function virtualSubjob(parent: JobRecord, index: number, state: "Q" | "X"): JobRecord {
  return {
    ...parent,
    id: `${parent.seq}[${index}].${parent.site}`,
    key: `${parent.key}[${index}]`,
    parentKey: parent.key,
    arrayIndex: index,
    array: undefined,
    hasDeps: undefined,
    state: state === "X" ? "X" : parent.state === "H" ? "H" : "Q",
    stime: undefined,
    hist: [],
  };
}

/**
 * The record of subjob `idx` of `parent` as it is first written (still in the parent's state:
 * the caller sets its start or its transit): a job of its own with the parent's attributes, its
 * index in its environment and output names. Written when it starts here (scheduler/cycle.ts
 * claimSubjobs) or when it is handed to a peer (peers/subjob-transit.ts).
 */
export function instantiateSubjob(parent: JobRecord, idx: number, now: number): JobRecord {
  return {
    ...parent,
    id: `${parent.seq}[${idx}].${parent.site}`,
    key: `${parent.key}[${idx}]`,
    state: "Q",
    parentKey: parent.key,
    arrayIndex: idx,
    array: undefined,
    hasDeps: undefined,
    depend: undefined,
    outPath: parent.outPath.replaceAll("^array_index^", String(idx)),
    errPath: parent.errPath.replaceAll("^array_index^", String(idx)),
    env: { ...parent.env, PBS_ARRAY_INDEX: String(idx), PBS_ARRAY_ID: parent.id },
    hist: [{ time: now, source: "S", message: `Subjob ${idx} of array ${parent.id} instantiated` }],
    runCount: 0,
    ver: 0,
  };
}

/**
 * The array with `picked` (indices it has not started) taken out of its unstarted part: they
 * move to the head of it and `next` passes them, so `indices.slice(next)` is still what is left
 * to start and `indices.length` (what the array ends on) is unchanged. `running` counts them:
 * it is the count of subjobs with a record not yet counted (subjobEnded), wherever they run.
 */
export function takeIndices(
  a: NonNullable<JobRecord["array"]>,
  picked: number[],
): NonNullable<JobRecord["array"]> {
  const take = new Set(picked);
  const rest = a.indices.slice(a.next).filter((i) => !take.has(i));
  const taken = a.indices.slice(a.next).filter((i) => take.has(i));
  return {
    ...a,
    indices: [...a.indices.slice(0, a.next), ...taken, ...rest],
    next: a.next + taken.length,
    running: a.running + taken.length,
  };
}

/**
 * The subjob `key` names (`12[3]`) when it has no record: not started, or deleted before it
 * started (shown while its array is listed: PBS keeps X subjobs with their array).
 */
export async function unrecordedSubjob(ctx: SiteContext, key: string): Promise<JobRecord | undefined> {
  const ref = subjobRef(key);
  if (ref?.part.kind !== "subjob") return undefined;
  const parent = await ctx.store.getJob(ref.parentKey, false);
  if (!parent?.array) return undefined;
  const index = ref.part.index;
  if (parent.array.deleted?.includes(index)) return virtualSubjob(parent, index, "X");
  if (isFinished(parent.state) || !isUnstarted(parent, index)) return undefined;
  return virtualSubjob(parent, index, "Q");
}

/**
 * Every subjob of an array, by index (those `keep` accepts): the started ones' records, the
 * ones not started yet, and the ones deleted before they started.
 */
export async function arraySubjobs(
  ctx: SiteContext,
  parent: JobRecord,
  keep: (index: number) => boolean = () => true,
): Promise<JobRecord[]> {
  const a = parent.array;
  if (!a) return [];
  const out: JobRecord[] = (await ctx.store.listSubjobs(parent)).filter((s) => keep(s.arrayIndex ?? -1));
  const seen = new Set(out.map((s) => s.arrayIndex));
  for (const i of a.deleted ?? []) if (keep(i) && !seen.has(i)) out.push(virtualSubjob(parent, i, "X"));
  if (!isFinished(parent.state))
    for (const i of a.indices.slice(a.next))
      if (keep(i) && !seen.has(i)) out.push(virtualSubjob(parent, i, "Q"));
  return out.sort((x, y) => (x.arrayIndex ?? 0) - (y.arrayIndex ?? 0));
}

/** A predicate over indices for what a subjob ID's brackets name. */
export function indexFilter(part: ArrayPart): (index: number) => boolean {
  if (part.kind === "subjob") return (i) => i === part.index;
  if (part.kind === "range") return (i) => inRange(part.range, i);
  return () => true;
}
