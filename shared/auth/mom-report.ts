/**
 * Authenticated MOM reports (pure: no I/O). The site holds one MOM secret; a MOM's key is
 * HMAC-SHA256(secret, momId), derived by the executor that names the MOM and handed to it out
 * of band (IPC locally, task overrides on ECS), so the server verifies by recomputing the key:
 * there is no key table to keep, and a key is good for one momId only. momId is
 * `<node>:<random>` locally (so the key also binds the node) and `ecs:<jobKey>:<runCount>` on
 * ECS (so it binds one run of one job).
 *
 * Every report travels in an envelope {v, kind, momId, sentAt, nonce, body, sig}; the
 * signature covers all of them. Verification refuses, with a reason the caller counts:
 * - forged: no or bad signature, malformed envelope, momId not of a MOM's form;
 * - stale: sentAt outside the window (longer than SQS can redeliver, so a genuine late
 *   redelivery still passes; a copy replayed later does not).
 * `misdirected` (a report about a job the MOM's node does not hold) and `replayed` (a hello
 * older than the node's last accepted one) need the site's state and are decided by the caller.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const MOM_REPORT_VERSION = 1;

/**
 * `connect`: a MOM opening its push channel (shared/server/mom-channel.ts); `norun`: its answer
 * to a kill or signal of a run it does not hold (shared/exec/refusal.ts); `grant`: its request for fresh output upload URLs
 * (shared/server/output-grant.ts)
 */
export type MomReportKind = "obit" | "hello" | "beat" | "connect" | "norun" | "grant";
const KINDS: ReadonlySet<unknown> = new Set<MomReportKind>([
  "obit",
  "hello",
  "beat",
  "connect",
  "norun",
  "grant",
]);
export type MomRefusal = "forged" | "stale" | "misdirected" | "replayed";

export interface MomEnvelope<B = unknown> {
  v: number;
  kind: MomReportKind;
  momId: string;
  /** epoch ms at signing; each retry signs again */
  sentAt: number;
  nonce: string;
  body: B;
  /** hex HMAC-SHA256 of the canonical fields with the MOM's key */
  sig: string;
}

/** A report refused for `reason`; never retried. */
export class MomReportError extends Error {
  constructor(
    readonly reason: MomRefusal,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** `<node>:<random>` or `ecs:<jobKey>:<runCount>`: anything else is not a momId we issue. */
const MOM_ID = /^[^\s:]{1,200}(:[^\s:]{1,200}){1,2}$/;

export function isMomId(momId: string): boolean {
  return momId.length <= 256 && MOM_ID.test(momId);
}

/** A new momId for a MOM on `node` (the executor names MOMs, never the MOM itself). */
export function newMomId(node: string): string {
  return `${node}:${randomBytes(6).toString("hex")}`;
}

/** The node a local momId runs on (`n1:ab12` → `n1`); for an ECS momId, a name no node has. */
export function nodeOfMomId(momId: string): string {
  const i = momId.lastIndexOf(":");
  return i < 0 ? momId : momId.slice(0, i);
}

/** The key of one MOM: HMAC-SHA256(siteSecret, momId), hex. */
export function momKey(siteSecret: string, momId: string): string {
  return createHmac("sha256", siteSecret).update(`metaqueue-mom|${momId}`).digest("hex");
}

/** JSON with object keys sorted at every level: the same bytes whoever serialized the body. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(",")}}`;
}

function mac(key: string, e: Omit<MomEnvelope, "sig">): string {
  return createHmac("sha256", key)
    .update(canonicalJson([e.v, e.kind, e.momId, e.sentAt, e.nonce, e.body]))
    .digest("hex");
}

/** Sign one report now (call again for every retry: a fresh sentAt and nonce). */
export function signReport<B>(
  key: string,
  momId: string,
  kind: MomReportKind,
  body: B,
  now: number = Date.now(),
): MomEnvelope<B> {
  const e = { v: MOM_REPORT_VERSION, kind, momId, sentAt: now, nonce: randomBytes(8).toString("hex"), body };
  return { ...e, sig: mac(key, e) };
}

/**
 * Check an envelope's form, signature and age. Returns the envelope typed; throws
 * MomReportError("forged" | "stale"). `windowMs` bounds |now - sentAt|.
 */
export function verifyReport(
  siteSecret: string,
  raw: unknown,
  now: number,
  windowMs: number,
  kind?: MomReportKind,
): MomEnvelope {
  const e = raw as Partial<MomEnvelope> | null;
  if (
    !e ||
    typeof e !== "object" ||
    e.v !== MOM_REPORT_VERSION ||
    !KINDS.has(e.kind) ||
    typeof e.momId !== "string" ||
    typeof e.sentAt !== "number" ||
    !Number.isFinite(e.sentAt) ||
    typeof e.nonce !== "string" ||
    typeof e.sig !== "string" ||
    !/^[0-9a-f]{64}$/.test(e.sig)
  )
    throw new MomReportError("forged", "not a signed MOM report");
  if (kind && e.kind !== kind) throw new MomReportError("forged", `expected a ${kind} report, got ${e.kind}`);
  if (!isMomId(e.momId)) throw new MomReportError("forged", `not a MOM id: ${e.momId.slice(0, 64)}`);
  const want = Buffer.from(mac(momKey(siteSecret, e.momId), e as MomEnvelope), "hex");
  if (!timingSafeEqual(want, Buffer.from(e.sig, "hex")))
    throw new MomReportError("forged", `bad signature on a ${e.kind} report from ${e.momId}`);
  if (Math.abs(now - e.sentAt) > windowMs)
    throw new MomReportError(
      "stale",
      `${e.kind} report from ${e.momId} sent ${Math.round((now - e.sentAt) / 1000)} s ago`,
    );
  return e as MomEnvelope;
}

/** A heartbeat as the MOM writes it to the site table: the beat plus its signature. */
export interface SignedBeat {
  momId: string;
  jobs: { jobId: string; runCount: number }[];
  /** epoch ms (the signed sentAt) */
  at: number;
  nonce?: string;
  sig?: string;
}

export function signBeat(key: string, momId: string, jobs: SignedBeat["jobs"], at: number): SignedBeat {
  const e = signReport(key, momId, "beat", { jobs }, at);
  return { momId, jobs, at, nonce: e.nonce, sig: e.sig };
}

/**
 * Whether a stored beat was written by the MOM it names. (No age window: the sweeper judges
 * `at` itself, and an old genuine beat replayed says less than a missing one.)
 */
export function beatIsGenuine(siteSecret: string, b: SignedBeat): boolean {
  try {
    verifyReport(
      siteSecret,
      {
        v: MOM_REPORT_VERSION,
        kind: "beat",
        momId: b.momId,
        sentAt: b.at,
        nonce: b.nonce,
        body: { jobs: b.jobs },
        sig: b.sig,
      },
      b.at,
      0,
      "beat",
    );
    return true;
  } catch {
    return false;
  }
}
