/**
 * The dispatch channel of ECS pool nodes (issue 12): runs, kills and signals reach a node's
 * long-lived MOM as pushes on its WebSocket (shared/adapters/channel/push.ts), as the local
 * executor's do (local.ts). The MOM's id is the node's and its power-on time (nodeMomId), so a
 * claim made while the node is up names the MOM of its current power-on: the connection
 * registry is keyed by momId, and a MOM of an earlier power-on (a task not yet stopped, still
 * connected) is never pushed a run meant for the node's current one.
 */
import { RejectedError } from "../../errors.js";
import { DispatchError, type JobRunSpec, type KillReason } from "../../ports/index.js";
import { type MomPusher, MomUnreachableError } from "../channel/push.js";
import { type NodeDispatchChannel, nodeMomId } from "./ecs-nodes.js";

export function pushChannel(pusher: Pick<MomPusher, "push">): NodeDispatchChannel {
  return {
    // no power-on time (the node was never powered on by this site): no MOM to name, and
    // dispatch refuses the run as `later` (ecs-nodes.ts)
    momIdOf: (node, poweredOnAt) => (poweredOnAt === undefined ? undefined : nodeMomId(node, poweredOnAt)),

    async send(momId: string, spec: JobRunSpec): Promise<void> {
      try {
        await pusher.push(momId, { type: "run", spec });
      } catch (err) {
        // no live connection: the run was not handed over, the job is requeued (never runs twice)
        if (err instanceof MomUnreachableError)
          throw new DispatchError(`${spec.jobId}: ${err.message}`, "later", { cause: err });
        throw err;
      }
    },

    async kill(job: { jobId: string; momId: string; runCount: number }, reason: KillReason): Promise<void> {
      try {
        await pusher.push(job.momId, { type: "kill", jobId: job.jobId, runCount: job.runCount, reason });
      } catch (err) {
        // its connection is gone: the MOM is lost, and the sweeper stops its task and ends the job
        if (!(err instanceof MomUnreachableError)) throw err;
      }
    },

    async signal(
      job: { jobId: string; momId: string; runCount: number },
      signal: NodeJS.Signals,
    ): Promise<void> {
      try {
        await pusher.push(job.momId, { type: "signal", jobId: job.jobId, runCount: job.runCount, signal });
      } catch (err) {
        if (!(err instanceof MomUnreachableError)) throw err;
        throw new RejectedError("MomRejected", `Request to MOM failed: ${err.message}`, 409);
      }
    },
  };
}
