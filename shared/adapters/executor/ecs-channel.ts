import { DispatchError, type JobRunSpec } from "../../ports/index.js";
import { type MomPusher, MomUnreachableError, pushKill, pushSignal } from "../channel/push.js";
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

    // its connection gone, the MOM is lost: the sweeper stops its task and ends the job
    kill: (job, reason) => pushKill(pusher, job, reason),
    signal: (job, signal) => pushSignal(pusher, job, signal),
  };
}
