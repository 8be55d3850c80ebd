/**
 * qrun [-H host] job: an operator or manager starts a queued job now. As in PBS, scheduling
 * policy is bypassed (queue and server run limits, job order, a stopped queue or scheduling
 * off), the nodes' resources are not: the job is placed by the same pure planner as a cycle,
 * over the nodes of its partition (only `host` with -H) and the jobs running there, then claimed
 * with the same conditional write, so a cycle racing it cannot start it twice.
 */
import { InvalidStateError, NotFoundError, RejectedError, UnauthorizedError } from "../errors.js";
import type { SiteContext } from "../server/context.js";
import { sendEvents } from "../server/messages.js";
import { keyOfId } from "../server/mutate.js";
import { nodeInfo, nodePartition } from "../server/objects.js";
import type { Actor } from "../server/ops.js";
import { loadServerState } from "../server/server-state.js";
import { claim, dispatch, poweredOnAt } from "./cycle.js";
import { toCandidate, toRunning } from "./inputs.js";
import { planCycle } from "./plan.js";

export async function runJobNow(ctx: SiteContext, id: string, actor: Actor, host?: string): Promise<void> {
  // PBS: qrun needs operator or manager privilege, even for one's own job
  if (!actor.operator && !actor.manager) throw new UnauthorizedError(`Unauthorized Request  ${id}`);
  const job = await ctx.store.getJob(keyOfId(id, ctx.site.short));
  if (!job) throw new NotFoundError(`Unknown Job Id ${id}`);
  if (job.state !== "Q") throw new InvalidStateError(`Request invalid for state of job ${job.id}`);
  if (job.array)
    throw new RejectedError(
      "NotSupported",
      `qrun of an array job is not supported: ${job.id} (its subjobs start through the scheduler)`,
    );
  const st = await loadServerState(ctx);
  let nodes = [...st.nodes.values()].filter((n) => nodePartition(n) === job.partition);
  if (host !== undefined) {
    const named = st.nodes.get(host);
    if (!named) throw new RejectedError("UnknownNode", `Unknown node  ${host}`);
    if (nodePartition(named) !== job.partition)
      throw new RejectedError(
        "ResourcesUnavailable",
        `Resource temporarily unavailable ${job.id}: node ${host} does not serve queue ${job.queue}`,
      );
    nodes = [named];
  }
  const now = ctx.clock.now();
  const running = (await ctx.store.queryRunning(job.partition)).map((j) => toRunning(j, now));
  const plan = planCycle({
    now,
    nodes: nodes.map(nodeInfo),
    running,
    candidates: [toCandidate(job, job.key)],
    queues: [{ name: job.queue, priority: 0, started: true }],
    backfill: false,
    backfillDepth: 0,
  });
  const decision = plan.start[0];
  if (!decision) {
    const why = (plan.waiting[job.key] ?? "").replace(/^Not Running: /, "");
    throw new RejectedError(
      "ResourcesUnavailable",
      `Resource temporarily unavailable ${job.id}${why ? `: ${why}` : ""}`,
      409,
    );
  }
  const started = await claim(ctx, job, decision, now, poweredOnAt(st));
  if (!started)
    throw new InvalidStateError(`Request invalid for state of job ${job.id}: it changed meanwhile`);
  await dispatch(ctx, started);
  if (started.hasDeps) await sendEvents(ctx, [{ type: "started", jobKey: started.key }]);
}
