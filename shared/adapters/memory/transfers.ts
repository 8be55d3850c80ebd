/**
 * Peer transfers and peers over the memory table, as dynamodb/transfers.ts and the peer items of
 * the DynamoDB adapter keep them: the transfer outbox (the run index's `~transfer` partition),
 * the receiver's transfer records (`XFER#<id>`, created with the job or tombstoned), the peers'
 * last heartbeats and the replay guard of peer messages. Conditions as there.
 */
import { TRANSFER_PARTITION } from "../dynamodb/indexes.js";
import { scriptKey } from "../dynamodb/job-script.js";
import { keys, RUN_INDEX } from "../dynamodb/table.js";
import type { JobRecord } from "../../server/job.js";
import type { PeerMessageClaim, PeerSeen, TransferRecord } from "../../server/records.js";
import { createJobOp, jobOf, scriptOp } from "./job-items.js";
import { peerOf } from "./records.js";
import { type MemoryTable, siteIndex, type WriteOp } from "./table.js";

const RUN = siteIndex(RUN_INDEX);

export function queryTransfers(table: MemoryTable): JobRecord[] {
  return table.queryIndex(RUN, TRANSFER_PARTITION).map(jobOf);
}

export function getTransfer(table: MemoryTable, transferId: string): TransferRecord | undefined {
  const it = table.get(keys.xfer(transferId));
  if (!it) return undefined;
  return {
    transferId,
    status: it.status as TransferRecord["status"],
    key: it.jobKey as string | undefined,
    newId: it.newId as string | undefined,
  };
}

/**
 * The writes that create a job received from a peer with its transfer record, all or nothing
 * (the store applies them in one write): built before any yield, so the state table refuses a
 * job in a state it may not be created in before anything is written, as on DynamoDB.
 */
export function inboundOps(job: JobRecord, transferId: string): WriteOp[] {
  return [
    {
      key: keys.xfer(transferId),
      cond: (cur) => cur === undefined,
      next: () => ({ status: "created", jobKey: job.key, newId: job.id }),
    },
    createJobOp(job),
    scriptOp(job),
  ];
}

export function abortInbound(table: MemoryTable, transferId: string, job?: JobRecord): void {
  const ops: WriteOp[] = [
    {
      key: keys.xfer(transferId),
      // with no job, only an unknown transfer may be tombstoned; with one, the job's guard decides
      cond: job ? undefined : (cur) => cur === undefined,
      next: () => ({ status: "aborted", jobKey: job?.key, newId: job?.id }),
    },
  ];
  if (job)
    ops.push({
      key: keys.job(job.key),
      cond: (cur) => cur !== undefined && cur.ver === job.ver && cur.state === "T",
      next: () => undefined,
    });
  if (job) ops.push({ key: scriptKey(job.key), next: () => undefined });
  table.write(ops, `transfer ${transferId} changed concurrently`, true);
}

export function putPeerSeen(table: MemoryTable, p: PeerSeen): void {
  table.write([{ key: keys.peer(p.short), next: () => ({ ...p }) }], "");
}

export function getPeersSeen(table: MemoryTable): PeerSeen[] {
  return table.query("PEER").map(peerOf);
}

export function claimPeerMessage(table: MemoryTable, c: PeerMessageClaim, now: number): void {
  // whole seconds, as the DynamoDB item's TTL attribute holds them
  const nowS = Math.floor(now / 1000);
  table.write(
    [
      {
        key: keys.peerMessage(c.peer, c.id),
        cond: (cur) =>
          cur === undefined ||
          cur.delivery === c.delivery ||
          (typeof cur.expiresAt === "number" && cur.expiresAt < nowS),
        next: () => ({ delivery: c.delivery, type: c.type, expiresAt: Math.ceil(c.until / 1000) }),
      },
    ],
    `message ${c.id} from ${c.peer} already taken`,
  );
}
