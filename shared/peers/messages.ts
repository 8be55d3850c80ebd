/**
 * Messages between sites, on the receiver's inbound SQS queue. Each is signed with the secret
 * the two sites share (HMAC-SHA256 over the sender, receiver and body), so a site acts only on
 * its configured peers; anything else is rejected and counted, never acted on.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
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
  /** The receiver refused the job: its receive policy, an unmapped account, too late. */
  z.object({ type: z.literal("REJECT"), transferId: xferId, originId: jobId, reason: shortText }).strict(),
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

export const PeerEnvelopeSchema = z
  .object({
    v: z.literal(1),
    from: z.string().max(64),
    to: z.string().max(64),
    /** epoch ms; informational (SQS may delay) */
    sentAt: z.number(),
    body: z.string().max(200_000),
    sig: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();
export type PeerEnvelope = z.infer<typeof PeerEnvelopeSchema>;

function mac(secret: string, from: string, to: string, body: string): string {
  return createHmac("sha256", secret).update(`${from}\n${to}\n${body}`).digest("hex");
}

export function sealPeerMessage(
  from: string,
  to: string,
  secret: string,
  body: PeerBody,
  now: number,
): string {
  const text = JSON.stringify(body);
  const env: PeerEnvelope = { v: 1, from, to, sentAt: now, body: text, sig: mac(secret, from, to, text) };
  return JSON.stringify(env);
}

export class PeerMessageError extends Error {
  constructor(
    readonly reason: "malformed" | "unknown-peer" | "bad-signature" | "wrong-receiver",
    message: string,
  ) {
    super(message);
  }
}

/** Verify and parse a message for site `me`; `secretOf(peer)` is undefined for strangers. */
export function openPeerMessage(
  raw: string,
  me: string,
  secretOf: (peer: string) => string | undefined,
): { from: string; body: PeerBody } {
  let env: PeerEnvelope;
  try {
    env = PeerEnvelopeSchema.parse(JSON.parse(raw));
  } catch {
    throw new PeerMessageError("malformed", "malformed peer message");
  }
  if (env.to !== me) throw new PeerMessageError("wrong-receiver", `message for ${env.to}, not ${me}`);
  const secret = secretOf(env.from);
  if (!secret) throw new PeerMessageError("unknown-peer", `message from unknown peer ${env.from}`);
  const want = Buffer.from(mac(secret, env.from, env.to, env.body), "hex");
  const got = Buffer.from(env.sig, "hex");
  if (want.length !== got.length || !timingSafeEqual(want, got)) {
    throw new PeerMessageError("bad-signature", `bad signature on message from ${env.from}`);
  }
  let body: PeerBody;
  try {
    body = PeerBodySchema.parse(JSON.parse(env.body));
  } catch {
    throw new PeerMessageError("malformed", `malformed body from ${env.from}`);
  }
  return { from: env.from, body };
}
