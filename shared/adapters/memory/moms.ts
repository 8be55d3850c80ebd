/**
 * The MOMs' items over the memory table (MomStore of the in-memory adapter), as
 * dynamodb/moms.ts writes them: heartbeats (`MOM#<id>/B`), accepted boots, and the push
 * channel's connections both ways. Each write is conditional as there, so the contract suite
 * gets the same answers from both.
 */
import { ConflictError } from "../../errors.js";
import type { MomConnection } from "../../ports/channel.js";
import type { MomBeat } from "../../server/records.js";
import { beatExpiresAt, keys } from "../dynamodb/table.js";
import type { MemoryTable } from "./table.js";

export function putMomBeat(table: MemoryTable, beat: MomBeat): void {
  table.write(
    [{ key: keys.mom(beat.momId), next: () => ({ ...beat, expiresAt: beatExpiresAt(beat.at) }) }],
    "",
  );
}

export function dropMomBeat(
  table: MemoryTable,
  momId: string,
  run: { jobId: string; runCount: number },
): void {
  try {
    table.write(
      [
        {
          key: keys.mom(momId),
          cond: (cur) => {
            const jobs = (cur?.jobs ?? []) as MomBeat["jobs"];
            return (
              cur !== undefined &&
              (jobs.length === 0 ||
                (jobs.length === 1 && jobs[0].jobId === run.jobId && jobs[0].runCount === run.runCount))
            );
          },
          next: () => undefined,
        },
      ],
      `MOM ${momId} holds other runs`,
    );
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
  }
}

export function getMomBeats(table: MemoryTable, momIds: string[]): Map<string, MomBeat> {
  const out = new Map<string, MomBeat>();
  for (const id of new Set(momIds)) {
    const it = table.get(keys.mom(id));
    if (!it) continue;
    out.set(it.momId as string, {
      momId: it.momId as string,
      jobs: (it.jobs ?? []) as MomBeat["jobs"],
      at: it.at as number,
      nonce: it.nonce as string | undefined,
      sig: it.sig as string | undefined,
    });
  }
  return out;
}

export function putMomBoot(table: MemoryTable, node: string, momId: string, sentAt: number): boolean {
  try {
    table.write(
      [
        {
          key: keys.momBoot(node),
          // a later boot wins; the same boot again (a redelivered hello) is accepted
          cond: (cur) =>
            cur === undefined ||
            (typeof cur.sentAt === "number" && cur.sentAt < sentAt) ||
            (cur.sentAt === sentAt && cur.momId === momId),
          next: () => ({ momId, sentAt }),
        },
      ],
      `node ${node} has a later MOM boot`,
    );
    return true;
  } catch (err) {
    if (err instanceof ConflictError) return false;
    throw err;
  }
}

export function putMomConnection(table: MemoryTable, c: MomConnection): boolean {
  table.write([{ key: keys.connMom(c.connectionId), next: () => ({ momId: c.momId }) }], "");
  try {
    table.write(
      [
        {
          key: keys.momConn(c.momId),
          // a later connect wins; the same connect again is accepted
          cond: (cur) =>
            cur === undefined ||
            (typeof cur.at === "number" && cur.at < c.at) ||
            (cur.at === c.at && cur.connectionId === c.connectionId),
          next: () => ({ ...c }),
        },
      ],
      `MOM ${c.momId} has a later connection`,
    );
    return true;
  } catch (err) {
    if (err instanceof ConflictError) return false;
    throw err;
  }
}

export function getMomConnection(table: MemoryTable, momId: string): MomConnection | undefined {
  const it = table.get(keys.momConn(momId));
  return it
    ? { momId: it.momId as string, connectionId: it.connectionId as string, at: it.at as number }
    : undefined;
}

export function momOfConnection(table: MemoryTable, connectionId: string): string | undefined {
  return table.get(keys.connMom(connectionId))?.momId as string | undefined;
}

export function dropMomConnection(table: MemoryTable, momId: string, connectionId: string): void {
  try {
    table.write(
      [
        {
          key: keys.momConn(momId),
          cond: (cur) => cur?.connectionId === connectionId,
          next: () => undefined,
        },
      ],
      `MOM ${momId} holds another connection`,
    );
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
  }
  table.write([{ key: keys.connMom(connectionId), next: () => undefined }], "");
}
