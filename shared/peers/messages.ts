/**
 * Messages between sites, on the receiver's inbound SQS queue. Each is signed with the secret
 * the two sites share (HMAC-SHA256 over the sender, receiver and body), so a site acts only on
 * its configured peers; anything else is rejected and counted, never acted on.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";

const jobId = z.string().max(128);

export const PeerBodySchema = z.discriminatedUnion("type", [
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
