/**
 * The server's side of `-W stagein/stageout`: what it accepts at qsub and qalter. The MOM does
 * the copies (shared/exec/stage.ts); the server only refuses what no MOM of this site could do,
 * so a job never waits for a copy that cannot happen.
 */
import * as os from "node:os";
import { PBS_EXIT, RejectedError } from "../errors.js";
import { parseStageList, remoteStageHost, type StageKind } from "../pbs/stage.js";
import type { SiteContext } from "./context.js";

const KINDS: StageKind[] = ["stagein", "stageout"];

/** The stage lists among `-W` attributes, whatever case the client wrote their names in. */
export function stageAttributes(
  attributes: Record<string, string> | undefined,
): Partial<Record<StageKind, string>> {
  const out: Partial<Record<StageKind, string>> = {};
  for (const [k, v] of Object.entries(attributes ?? {})) {
    const l = k.toLowerCase();
    if (l === "stagein" || l === "stageout") out[l] = v;
  }
  return out;
}

/**
 * `attributes` with the stage lists under PBS's lower-case names (the MOM and qstat read those),
 * after checking that this site can carry them out: its MOMs must share file systems with the
 * submit host (not so for ECS tasks), and the storage host must be this one (no rcp/scp).
 */
export function checkStaging(
  ctx: SiteContext,
  attributes: Record<string, string> | undefined,
): Record<string, string> | undefined {
  const stage = stageAttributes(attributes);
  if (!stage.stagein && !stage.stageout) return attributes;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(attributes ?? {}))
    if (!KINDS.includes(k.toLowerCase() as StageKind)) out[k] = v;
  const hostname = os.hostname();
  for (const kind of KINDS) {
    const text = stage[kind];
    if (text === undefined) continue;
    if (ctx.executor.refusesStaging)
      throw new RejectedError(
        "StagingUnsupported",
        `-W ${kind}: ${ctx.executor.refusesStaging}`,
        400,
        PBS_EXIT.BADATVAL,
      );
    const why = remoteStageHost(parseStageList(text, kind), kind, hostname);
    if (why) throw new RejectedError("StagingUnsupported", why, 400, PBS_EXIT.BADATVAL);
    out[kind] = text;
  }
  return out;
}
