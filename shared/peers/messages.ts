/**
 * Messages between sites, on the receiver's inbound SQS queue. Each is signed with the secret
 * the two sites share (HMAC-SHA256 over every field of the envelope: version, sender, receiver,
 * send time, message ID and body), so a site acts only on its configured peers, and only on a
 * message as its sender wrote it; anything else is rejected and counted, never acted on.
 *
 * The send time and the ID are signed so that a captured message cannot be passed off as new:
 * the receiver refuses one sent too long ago or too far in the future (openPeerMessage), and one
 * whose ID it has already taken from that peer (replay.ts). A re-send is a new message (new ID,
 * new time), never a copy of an old one.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { z } from "zod";

const jobId = z.string().max(128);

const xferId = z.string().regex(/^[A-Za-z0-9_.:-]{1,80}$/);
const shortText = z.string().max(256);
const nodeFree = z
  .object({
    ncpus: z.number().int().min(0).max(100_000),
    mem: z.number().min(0),
    ngpus: z.number().int().min(0).max(1024),
  })
  .strict();

/** What a job carries to the site that will run it: the script and the attributes qsub set. */
export const JobPayloadSchema = z
  .object({
    name: z.string().max(236),
    user: z.string().max(64),
    submitHost: z.string().max(255),
    account: z.string().max(64).optional(),
    project: z.string().max(64).optional(),
    script: z.string().max(1_000_000),
    submitDir: z.string().max(4096),
    /** Resource_List as text (select, walltime, place, ...) */
    resources: z.record(z.string().max(64), z.string().max(1024)),
    priority: z.number().int().min(-1024).max(1023),
    rerunnable: z.boolean(),
    join: z.enum(["oe", "eo", "n"]),
    outPath: z.string().max(4096),
    errPath: z.string().max(4096),
    env: z.record(z.string().max(256), z.string().max(65_536)),
    extra: z.record(z.string().max(64), z.string().max(1024)).optional(),
    ctime: z.number(),
    qtime: z.number(),
    /** the holds a qmoved held job keeps at the peer (u, o, s) */
    holds: z
      .string()
      .regex(/^[uos]{1,3}$/)
      .optional(),
  })
  .strict();
export type JobPayload = z.infer<typeof JobPayloadSchema>;

export const UsageSchema = z
  .object({
    walltime: z.number().min(0),
    cput: z.number().min(0),
    mem: z.number().min(0),
    ncpus: z.number().int().min(0),
  })
  .strict();

export const PeerBodySchema = z.discriminatedUnion("type", [
  /** "I am here, and this is my federation state": the peer health signal, sent on every tick */
  z.object({ type: z.literal("HEARTBEAT"), state: z.enum(["active", "draining", "down"]) }).strict(),
  /** The sender has jobs waiting in these queues: a peer that pulls from them may offer room now. */
  z.object({ type: z.literal("BACKLOG"), queues: z.array(z.string().max(64)).max(64) }).strict(),
  /**
   * The sender has room: the receiver may hand over queued jobs of `queue` (its own queue) that
   * fit `nodes`, into the sender's queue `into`. At most `maxJobs`.
   */
  z
    .object({
      type: z.literal("OFFER"),
      offerId: xferId,
      queue: z.string().max(64),
      into: z.string().max(64),
      nodes: z.array(nodeFree).max(256),
      maxJobs: z.number().int().min(1).max(500),
    })
    .strict(),
  /** The sender (origin) hands a job to the receiver. Valid until `deadline` (origin clock). */
  z
    .object({
      type: z.literal("FORWARD"),
      transferId: xferId,
      originId: jobId,
      into: z.string().max(64),
      deadline: z.number(),
      job: JobPayloadSchema,
    })
    .strict(),
  /** The receiver took the job (held in transit until COMMIT). */
  z.object({ type: z.literal("ACCEPT"), transferId: xferId, originId: jobId, newId: jobId }).strict(),
  /**
   * The receiver refused the job: its receive policy, an unmapped account (it will refuse the job
   * again), or this transfer only, too late or cancelled (`transient`: the job may be offered again).
   */
  z
    .object({
      type: z.literal("REJECT"),
      transferId: xferId,
      originId: jobId,
      reason: shortText,
      transient: z.literal(true).optional(),
    })
    .strict(),
  /** The origin recorded the move (M): the receiver may run the job. */
  z.object({ type: z.literal("COMMIT"), transferId: xferId, newId: jobId }).strict(),
  /** The origin gave the job back to its queue: the receiver must drop (or never create) it. */
  z.object({ type: z.literal("ABORT"), transferId: xferId, reason: shortText }).strict(),
  /** A job moved here ended: its outcome and usage go back to the origin (in the origin's names). */
  z
    .object({
      type: z.literal("JOB_END"),
      transferId: xferId,
      originId: jobId,
      newId: jobId,
      exitStatus: z.number().int().optional(),
      deleted: z.boolean(),
      stime: z.number().optional(),
      obittime: z.number(),
      used: UsageSchema.optional(),
      account: z.string().max(64).optional(),
      user: z.string().max(64),
      comment: shortText.optional(),
    })
    .strict(),
  /**
   * A moved job's state changed where it runs (started, held, released, moved on): the origin
   * lists it live under its ID. `at` (the executing site's time of the change) orders reports.
   */
  z
    .object({
      type: z.literal("JOB_STATE"),
      transferId: xferId,
      newId: jobId,
      state: z.enum(["Q", "H", "W", "R", "E", "T"]),
      at: z.number(),
      server: z.string().max(255),
      stime: z.number().optional(),
      execHost: z.string().max(4096).optional(),
    })
    .strict(),
  /** The origin has recorded a JOB_END: stop re-sending it. */
  z.object({ type: z.literal("JOB_END_ACK"), transferId: xferId, newId: jobId }).strict(),
  /** qdel / qhold / qrls of a moved job, asked at its origin (which checked the requester). */
  z
    .object({
      type: z.literal("JOB_OP"),
      transferId: xferId,
      newId: jobId,
      op: z.enum(["delete", "hold", "release"]),
      requestor: z.string().max(64),
    })
    .strict(),
  /** child at the sender waits on parent at the receiver */
  z
    .object({
      type: z.literal("DEPEND_REGISTER"),
      parentId: jobId,
      childId: jobId,
      depType: z.string().max(16),
    })
    .strict(),
  /** the receiver's child: its parent at the sender reached an outcome */
  z
    .object({
      type: z.literal("DEPEND_RELEASE"),
      parentId: jobId,
      childId: jobId,
      depType: z.string().max(16),
      outcome: z.enum(["satisfied", "unsatisfiable"]),
      reason: z.string().max(512).optional(),
    })
    .strict(),
]);
export type PeerBody = z.infer<typeof PeerBodySchema>;

/**
 * Messages that nobody sends again: a lost one is lost for good (a dependency registered or
 * released across sites, a qdel/qhold/qrls forwarded to the executing site). Everything else is
 * either re-sent by the transfer outbox until answered (FORWARD ... JOB_END_ACK) or describes a
 * moment and is sent again anyway (HEARTBEAT, BACKLOG, OFFER). A command is refused as stale
 * only after `peerCommandMaxAgeMs` (as long as SQS keeps a message), so a site whose inbox was
 * not read for a while still applies it; the rest after `peerMessageMaxAgeMs`.
 */
export const UNREPEATED_TYPES: ReadonlySet<PeerBody["type"]> = new Set([
  "DEPEND_REGISTER",
  "DEPEND_RELEASE",
  "JOB_OP",
]);

export const PEER_ENVELOPE_VERSION = 2 as const;

export const PeerEnvelopeSchema = z
  .object({
    /** 2: sentAt and id are signed (1 signed only from, to and body: refused) */
    v: z.literal(PEER_ENVELOPE_VERSION),
    from: z.string().max(64),
    to: z.string().max(64),
    /** epoch ms, sender's clock; signed: the receiver refuses messages outside its window */
    sentAt: z.number().int().min(0),
    /** 128 random bits, hex; signed: the receiver takes each ID from a peer once */
    id: z.string().regex(/^[0-9a-f]{32}$/),
    body: z.string().max(200_000),
    sig: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();
export type PeerEnvelope = z.infer<typeof PeerEnvelopeSchema>;

/** The MAC covers every field but the MAC itself, as a JSON array (no field can bleed into the next). */
function mac(secret: string, e: Omit<PeerEnvelope, "sig">): string {
  return createHmac("sha256", secret)
    .update(JSON.stringify([e.v, e.from, e.to, e.sentAt, e.id, e.body]))
    .digest("hex");
}

/** A new message ID: 128 random bits. */
export function newMessageId(): string {
  return randomBytes(16).toString("hex");
}

export function sealPeerMessage(
  from: string,
  to: string,
  secret: string,
  body: PeerBody,
  now: number,
  id: string = newMessageId(),
): string {
  const e = { v: PEER_ENVELOPE_VERSION, from, to, sentAt: Math.floor(now), id, body: JSON.stringify(body) };
  return JSON.stringify({ ...e, sig: mac(secret, e) } satisfies PeerEnvelope);
}

export type PeerRefusal =
  | "malformed"
  | "unknown-peer"
  | "bad-signature"
  | "wrong-receiver"
  /** sent longer ago than the window, or further in the future than the clock skew allowed */
  | "stale"
  /** an ID this site already took from that peer */
  | "replayed";

export class PeerMessageError extends Error {
  constructor(
    readonly reason: PeerRefusal,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** How old (or how far ahead of this site's clock) a message may be. */
export interface FreshnessWindow {
  /** this site's clock, epoch ms */
  now: number;
  /** messages the outbox re-sends and moment-describing ones (see UNREPEATED_TYPES) */
  maxAgeMs: number;
  /** UNREPEATED_TYPES */
  commandMaxAgeMs: number;
  /** how far ahead of ours a peer's clock may be */
  maxFutureMs: number;
}

export interface OpenedPeerMessage {
  from: string;
  body: PeerBody;
  /** the signed message ID and send time: what the replay guard keys on and keeps until */
  id: string;
  sentAt: number;
  /** the end of this message's window (receiver clock): after it, it is refused as stale anyway */
  validUntil: number;
}

/**
 * Verify and parse a message for site `me`; `secretOf(peer)` is undefined for strangers.
 * Checks, in order: shape, receiver, sender, signature (so nothing unauthenticated is judged
 * further), body, then the send time against `win`. Repeated IDs are replay.ts's business.
 */
export function openPeerMessage(
  raw: string,
  me: string,
  secretOf: (peer: string) => string | undefined,
  win: FreshnessWindow,
): OpenedPeerMessage {
  let env: PeerEnvelope;
  try {
    env = PeerEnvelopeSchema.parse(JSON.parse(raw));
  } catch (err) {
    throw new PeerMessageError("malformed", "malformed peer message", { cause: err });
  }
  if (env.to !== me) throw new PeerMessageError("wrong-receiver", `message for ${env.to}, not ${me}`);
  const secret = secretOf(env.from);
  if (!secret) throw new PeerMessageError("unknown-peer", `message from unknown peer ${env.from}`);
  const want = Buffer.from(mac(secret, env), "hex");
  const got = Buffer.from(env.sig, "hex");
  if (want.length !== got.length || !timingSafeEqual(want, got)) {
    throw new PeerMessageError("bad-signature", `bad signature on message from ${env.from}`);
  }
  let body: PeerBody;
  try {
    body = PeerBodySchema.parse(JSON.parse(env.body));
  } catch (err) {
    throw new PeerMessageError("malformed", `malformed body from ${env.from}`, { cause: err });
  }
  const maxAge = UNREPEATED_TYPES.has(body.type) ? win.commandMaxAgeMs : win.maxAgeMs;
  const age = win.now - env.sentAt;
  if (age > maxAge)
    throw new PeerMessageError(
      "stale",
      `${body.type} ${env.id} from ${env.from} was sent ${Math.round(age / 1000)} s ago (window ${Math.round(maxAge / 1000)} s)`,
    );
  if (-age > win.maxFutureMs)
    throw new PeerMessageError(
      "stale",
      `${body.type} ${env.id} from ${env.from} is dated ${Math.round(-age / 1000)} s ahead of this site's clock (allowed ${Math.round(win.maxFutureMs / 1000)} s)`,
    );
  return { from: env.from, body, id: env.id, sentAt: env.sentAt, validUntil: env.sentAt + maxAge };
}
