/**
 * What a MemorySiteStore holds, read synchronously for a test's checks. Records are new objects
 * over the stored (deep-frozen) values, not deep copies: cheap enough to check after every step
 * of a simulation, and a test that tries to change a nested value throws instead of changing
 * what is stored. Not a port: the domain never sees these.
 */
import type { JobRecord } from "../../server/job.js";
import type { AcctRecord, PeerSeen, ProjectRecord } from "../../server/records.js";
import { jobOf } from "./job-items.js";
import { acctOf, peerOf, projectFrom } from "./records.js";
import type { MemorySiteStore } from "./store.js";

/** A peer message taken, as stored. */
export interface StoredClaim {
  peer: string;
  id: string;
  delivery: string;
  type: string;
  /** epoch seconds, as the store's TTL attribute holds it */
  expiresAt: number;
}

/** Every job, by table key. */
export function storedJobs(store: MemorySiteStore): JobRecord[] {
  return store.table
    .peek("JOB#")
    .filter((it) => it.sk === "A")
    .map(jobOf);
}

/** Every accounting record, by day and time. */
export function storedAcct(store: MemorySiteStore): AcctRecord[] {
  return store.table.peek("ACCT#").map(acctOf);
}

export function storedProjects(store: MemorySiteStore): ProjectRecord[] {
  return store.table.peek("PROJ").map(projectFrom);
}

export function storedPeers(store: MemorySiteStore): PeerSeen[] {
  return store.table.peek("PEER").map(peerOf);
}

export function storedClaims(store: MemorySiteStore): StoredClaim[] {
  return store.table.peek("PMSG#").map((it) => {
    const [, peer, ...id] = String(it.pk).split("#");
    return {
      peer,
      id: id.join("#"),
      delivery: it.delivery as string,
      type: it.type as string,
      expiresAt: it.expiresAt as number,
    };
  });
}

/** Everything a MemorySiteStore holds, at once (for a test's checks). */
export interface MemoryStoreContents {
  jobs: JobRecord[];
  acct: AcctRecord[];
  projects: ProjectRecord[];
  peers: PeerSeen[];
  claims: StoredClaim[];
}

export function inspectStore(store: MemorySiteStore): MemoryStoreContents {
  return {
    jobs: storedJobs(store),
    acct: storedAcct(store),
    projects: storedProjects(store),
    peers: storedPeers(store),
    claims: storedClaims(store),
  };
}
