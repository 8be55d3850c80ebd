/**
 * What a MemorySiteStore holds, read synchronously for a test's checks (copies: changing them
 * changes nothing stored). Not a port: the domain never sees it.
 */
import type { JobRecord } from "../../server/job.js";
import type { AcctRecord, PeerSeen, ProjectRecord } from "../../server/records.js";
import { jobOf } from "./job-items.js";
import { acctOf, peerOf, projectFrom } from "./records.js";
import type { MemorySiteStore } from "./store.js";

export interface StoredClaim {
  peer: string;
  id: string;
  delivery: string;
  type: string;
  /** epoch seconds, as the store's TTL attribute holds it */
  expiresAt: number;
}

export interface MemoryStoreContents {
  jobs: JobRecord[];
  acct: AcctRecord[];
  projects: ProjectRecord[];
  peers: PeerSeen[];
  claims: StoredClaim[];
}

export function inspectStore(store: MemorySiteStore): MemoryStoreContents {
  const all = store.table.all();
  const under = (prefix: string) => all.filter((it) => String(it.pk).startsWith(prefix));
  return {
    jobs: under("JOB#")
      .filter((it) => it.sk === "A")
      .map(jobOf),
    acct: under("ACCT#").map(acctOf),
    projects: under("PROJ").map(projectFrom),
    peers: under("PEER").map(peerOf),
    claims: under("PMSG#").map((it) => {
      const [, peer, ...id] = String(it.pk).split("#");
      return {
        peer,
        id: id.join("#"),
        delivery: it.delivery as string,
        type: it.type as string,
        expiresAt: it.expiresAt as number,
      };
    }),
  };
}
