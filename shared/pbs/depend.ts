/**
 * Job dependencies (`-W depend=afterok:123.casper:124,afterany:125`): types separated by
 * commas, job IDs by colons; `on:N` declares that N `before*` dependencies will follow.
 */
import { PbsParseError } from "../errors.js";
import { parseJobId } from "./jobid.js";
import type { Dependency, DependType } from "./types.js";

export const DEPEND_TYPES: readonly DependType[] = [
  "after",
  "afterok",
  "afternotok",
  "afterany",
  "before",
  "beforeok",
  "beforenotok",
  "beforeany",
  "on",
];

/** At most this many job IDs in one dependency list. */
export const MAX_DEPEND_JOBS = 100;

/** Parse a dependency list. Types are case-insensitive and returned lowercase; job IDs as written. */
export function parseDepend(text: string): Dependency[] {
  const t = text.trim();
  if (t === "") throw new PbsParseError("illegal -W value: depend is empty (expected type:jobid[:jobid...])");
  const deps: Dependency[] = [];
  let total = 0;
  for (const item of t.split(",")) {
    if (item.trim() === "") {
      throw new PbsParseError(`illegal -W value: depend=${text} has an empty entry (stray comma?)`);
    }
    const parts = item.trim().split(":");
    const type = parts[0].toLowerCase() as DependType;
    // OpenPBS knows runone (of a group of jobs only the first to start runs; the others are
    // deleted, "Job deleted, a dependent job ran"): named as such, not as an unknown type
    if ((type as string) === "runone") {
      throw new PbsParseError(
        `illegal -W value: depend=runone is not supported by metaqueue (PBS runs one job of the group and deletes the others): ${text}`,
      );
    }
    if (!DEPEND_TYPES.includes(type)) {
      throw new PbsParseError(
        `illegal -W value: unknown dependency type "${parts[0]}" in depend=${text} (expected one of ${DEPEND_TYPES.join(", ")})`,
      );
    }
    const args = parts.slice(1);
    if (args.length === 0 || args.some((a) => a === "")) {
      throw new PbsParseError(
        `illegal -W value: depend=${text}: "${item}" needs ${type === "on" ? "a count" : "job IDs"}`,
      );
    }
    if (type === "on") {
      if (args.length !== 1 || !/^\d+$/.test(args[0]) || Number(args[0]) < 1) {
        throw new PbsParseError(
          `illegal -W value: depend=${text}: "on" takes one positive integer count (on:N)`,
        );
      }
      deps.push({ type, jobs: [], count: Number(args[0]) });
      continue;
    }
    for (const a of args) {
      let ok = true;
      try {
        // a job, an array or one subjob: PBS takes no subjob range in a dependency
        ok = !parseJobId(a).arrayIndex?.includes("-");
      } catch {
        ok = false;
      }
      if (!ok)
        throw new PbsParseError(`illegal -W value: depend=${text}: illegally formed job identifier: ${a}`);
    }
    total += args.length;
    if (total > MAX_DEPEND_JOBS) {
      throw new PbsParseError(
        `illegal -W value: depend lists more than ${MAX_DEPEND_JOBS} job IDs (the limit is ${MAX_DEPEND_JOBS})`,
      );
    }
    deps.push({ type, jobs: args });
  }
  return deps;
}

/** Canonical text: `afterok:1.a:2.a,on:2`. */
export function formatDepend(deps: Dependency[]): string {
  return deps.map((d) => (d.type === "on" ? `on:${d.count ?? 0}` : [d.type, ...d.jobs].join(":"))).join(",");
}
