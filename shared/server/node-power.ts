/**
 * Node power with I/O (issue 12): a partition's cycle applies the pure decisions of
 * shared/scheduler/power.ts, a MOM's hello brings a provisioning node up, and the tick asks for
 * the cycle of a partition whose node is due (idle past idleOff, or past its boot timeout).
 *
 * Every power change is a conditional write of the node object (its `ver`), after a fresh read
 * that checks the state it leaves: sleep -> provisioning (power-on), provisioning -> up (hello),
 * up -> sleep (power-off), provisioning -> sleep (boot timeout). A qmgr change of the same node
 * or a hello racing a power-off loses or wins cleanly, and the loser re-reads.
 *
 * Power-off runs only in the cycle of the node's partition, and jobs are placed only by that
 * cycle (one at a time per partition: the scheduler queue's message group) or by qrun, which
 * takes only nodes taking work: so no job can be placed on a node between the cycle's "idle"
 * and its write of `sleep`, and once `sleep` is written the node takes nothing.
 */
import type { PowerInfo, PowerPlan, PowerState } from "../scheduler/power.js";
import { planPower } from "../scheduler/power.js";
import type { Allocation, CandidateJob, NodeInfo } from "../scheduler/types.js";
import type { SiteContext } from "./context.js";
import { nodePower } from "./objects.js";
import type { ServerObject } from "./records.js";
import { retryConflicts } from "./retry.js";
import { invalidateServerState } from "./server-state.js";

const BOOT_TIMEOUT_COMMENT = "node did not come up";

/**
 * Change a pool node's power record when its fresh state is one of `from` and `when` holds:
 * false when it is not (someone else moved it first), true once written.
 */
async function setPower(
  ctx: SiteContext,
  node: string,
  from: readonly PowerState[],
  change: (attrs: ServerObject["attrs"], p: PowerInfo) => ServerObject["attrs"],
  when: (p: PowerInfo) => boolean = () => true,
): Promise<boolean> {
  const written = await retryConflicts(`node ${node}`, 5, async () => {
    const n = (await ctx.store.getServerObjects()).find((o) => o.kind === "node" && o.name === node);
    const p = n && nodePower(n);
    if (!n || !p || !from.includes(p.state) || !when(p)) return false;
    await ctx.store.putServerObject({ ...n, attrs: change({ ...n.attrs }, p) }, n.ver);
    return true;
  });
  if (written) invalidateServerState(ctx);
  return written;
}

function without(attrs: ServerObject["attrs"], ...names: string[]): ServerObject["attrs"] {
  for (const k of names) delete attrs[k];
  return attrs;
}

/** The power decisions of one cycle, applied: the partition's cycle calls it after its dispatches. */
export async function cyclePower(
  ctx: SiteContext,
  input: {
    now: number;
    nodes: NodeInfo[];
    objects: ServerObject[];
    busy: Allocation[][];
    candidates: CandidateJob[];
    waiting: Record<string, string>;
  },
): Promise<PowerPlan | undefined> {
  if (!ctx.pools?.size || !ctx.executor.powerOn) return undefined;
  const power = new Map<string, PowerInfo>();
  for (const o of input.objects) {
    const p = nodePower(o);
    if (p) power.set(o.name, p);
  }
  if (power.size === 0) return undefined;
  // only jobs short of resources wake nodes: not those held by limits, never-run or the top job
  const waiting = input.candidates.filter((c) =>
    input.waiting[c.id]?.startsWith("Not Running: Insufficient amount of resource"),
  );
  const plan = planPower({
    now: input.now,
    nodes: input.nodes,
    power,
    pools: ctx.pools,
    busy: input.busy,
    waiting,
  });
  await applyPower(ctx, plan, power);
  return plan;
}

async function applyPower(ctx: SiteContext, plan: PowerPlan, seen: Map<string, PowerInfo>): Promise<void> {
  const now = ctx.clock.now();
  const warn = (what: string) => (err: unknown) => ctx.log.warn(`power: ${what}: ${(err as Error).message}`);
  for (const node of plan.markBusy)
    await setPower(ctx, node, ["up"], (a) => without(a, "idle_since")).catch(warn(`${node} busy`));
  for (const node of plan.markIdle)
    await setPower(
      ctx,
      node,
      ["up"],
      (a) => ({ ...a, idle_since: now }),
      (p) => p.idleSince === undefined,
    ).catch(warn(`${node} idle`));
  for (const node of plan.powerOn) await powerOn(ctx, node, now).catch(warn(`power-on of ${node}`));
  for (const node of plan.powerOff)
    await powerOff(ctx, node, now, seen.get(node)?.idleSince).catch(warn(`power-off of ${node}`));
  for (const node of plan.bootTimedOut)
    await bootTimedOut(ctx, node, now, seen.get(node)?.since).catch(warn(`boot timeout of ${node}`));
}

async function powerOn(ctx: SiteContext, node: string, now: number): Promise<void> {
  const ok = await setPower(ctx, node, ["sleep"], (a) => ({
    ...without(a, "idle_since"),
    power_state: "provisioning",
    power_since: now,
    power_on_at: now,
  }));
  if (!ok) return;
  ctx.metrics?.count("NodesPoweredOn", 1);
  ctx.log.info(`power: ${node} powering on`);
  try {
    await ctx.executor.powerOn?.(node, now);
  } catch (err) {
    // never started: back to sleep at once, rather than wait out the boot timeout
    await setPower(ctx, node, ["provisioning"], (a) => ({
      ...a,
      power_state: "sleep",
      power_since: ctx.clock.now(),
      boot_failed_at: ctx.clock.now(),
      comment: `${BOOT_TIMEOUT_COMMENT}: power-on failed: ${(err as Error).message}`,
    }));
    throw err;
  }
}

async function powerOff(ctx: SiteContext, node: string, now: number, idleSince?: number): Promise<void> {
  // only if still idle since the time the decision saw (a cycle's busy mark wins)
  const ok = await setPower(
    ctx,
    node,
    ["up"],
    (a) => ({ ...without(a, "idle_since"), power_state: "sleep", power_since: now }),
    (p) => p.idleSince === idleSince,
  );
  if (!ok) return;
  try {
    await ctx.executor.powerOff?.(node);
  } catch (err) {
    // its MOM still runs something the store does not know of: keep the node up, idle from now
    // (the store knows no job on it, so no job end will bring its cycle: the tick asks again
    // after idleOff, and the MOM is asked again then)
    const at = ctx.clock.now();
    await setPower(ctx, node, ["sleep"], (a) => ({
      ...a,
      power_state: "up",
      power_since: at,
      idle_since: at,
    }));
    throw err;
  }
  ctx.metrics?.count("NodesPoweredOff", 1);
  ctx.log.info(`power: ${node} powered off (idle)`);
}

async function bootTimedOut(ctx: SiteContext, node: string, now: number, since?: number): Promise<void> {
  const secs = since === undefined ? "?" : Math.round((now - since) / 1000);
  const ok = await setPower(
    ctx,
    node,
    ["provisioning"],
    (a) => ({
      ...a,
      power_state: "sleep",
      power_since: now,
      boot_failed_at: now,
      comment: `${BOOT_TIMEOUT_COMMENT} within ${secs} s of its power-on: back to sleep`,
    }),
    (p) => p.since === since,
  );
  if (!ok) return;
  ctx.metrics?.count("NodeBootTimeouts", 1);
  ctx.log.warn(`power: ${node} did not come up in ${secs} s: back to sleep`);
  // whatever half-started MOM there is must not say hello later and run jobs on a sleeping node
  await ctx.executor.powerOff?.(node);
}

/**
 * A MOM of `node` said hello: a provisioning pool node is up now (and loses a boot-timeout
 * comment). A hello from a sleeping node's MOM changes nothing: it is one being stopped
 * (power-off) or a stale report, and the node must not look up with no MOM behind it.
 */
export async function helloPower(ctx: SiteContext, node: string): Promise<void> {
  if (!ctx.pools?.size) return; // a site without pools reads nothing more per hello
  await setPower(ctx, node, ["provisioning"], (a) => {
    const attrs = without(a, "idle_since", "boot_failed_at");
    if (String(attrs.comment ?? "").startsWith(BOOT_TIMEOUT_COMMENT)) delete attrs.comment;
    return { ...attrs, power_state: "up", power_since: ctx.clock.now() };
  });
}

/** Pool nodes that need a MOM now (the runtime's start): those recorded up or provisioning. */
export function nodesToRun(objects: Iterable<ServerObject>): string[] {
  const out: string[] = [];
  for (const o of objects) {
    if (o.kind !== "node") continue;
    const p = nodePower(o);
    if (p?.state !== "sleep") out.push(o.name);
  }
  return out;
}
