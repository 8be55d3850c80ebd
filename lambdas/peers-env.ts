/**
 * A deployed site's peers: who they are and where their inboxes are come from the PEERS
 * environment variable (written by the CDK stack from the configuration and the `peers:<site>`
 * context); the secret each pair signs with comes from an SSM SecureString parameter, read once
 * per container, never from the environment (which anyone who can read the function sees).
 */
import { GetParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { EnvError } from "../shared/errors.js";
import type { PeerInfo } from "../shared/server/context.js";

const name = z.string().min(1).max(64);

export const PeerEnvSchema = z
  .array(
    z
      .object({
        short: name,
        server: z.string().min(1).max(255),
        inboxUrl: z.string().url(),
        /** SSM parameter (SecureString) holding the secret this site and that peer share */
        secretParameter: z.string().min(1).max(2048),
        pull: z
          .array(z.object({ queue: name, into: name }).strict())
          .max(64)
          .optional(),
        accounts: z.record(name, name).optional(),
        users: z.record(name, name).optional(),
      })
      .strict(),
  )
  .max(64);
export type PeerEnv = z.infer<typeof PeerEnvSchema>[number];

/** Parse PEERS (absent or empty: a site on its own). Throws with every problem listed. */
export function parsePeersEnv(text: string | undefined): PeerEnv[] {
  if (!text?.trim()) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new EnvError("Lambda", ["PEERS is not JSON"]);
  }
  const r = PeerEnvSchema.safeParse(raw);
  if (!r.success)
    throw new EnvError(
      "Lambda",
      r.error.issues.map((i) => `PEERS.${i.path.join(".")}: ${i.message}`),
    );
  return r.data;
}

/** The peers with their secrets, ready for SiteContext.peers. A missing secret is an error. */
export async function loadPeers(
  defs: PeerEnv[],
  getSecret: (parameter: string) => Promise<string>,
): Promise<Map<string, PeerInfo>> {
  const out = new Map<string, PeerInfo>();
  for (const d of defs) {
    const secret = await getSecret(d.secretParameter);
    if (secret.length < 16)
      throw new Error(`peer ${d.short}: secret ${d.secretParameter} is shorter than 16 characters`);
    const { secretParameter: _s, ...rest } = d;
    out.set(d.short, { ...rest, secret });
  }
  return out;
}

/** Read a SecureString parameter, decrypted. */
export function ssmSecrets(ssm: SSMClient): (parameter: string) => Promise<string> {
  return async (parameter) => {
    const r = await ssm.send(new GetParameterCommand({ Name: parameter, WithDecryption: true }));
    const v = r.Parameter?.Value;
    if (!v) throw new Error(`peer secret parameter ${parameter} has no value`);
    return v;
  };
}

/** How long a function keeps the peers' configuration before reading its parameter again. */
export const PEERS_TTL_MS = 5 * 60_000;

/**
 * A plain (String) SSM parameter, read at first use and again once `ttlMs` has passed since the
 * last read; concurrent reads share one request, and a failed read is not kept (the next use
 * tries again). Powertools' parameters utility does the same; it is not a dependency here, and
 * this is all of it that is needed.
 */
export class ParameterCache {
  private readonly hits = new Map<string, { at: number; value: Promise<string> }>();

  constructor(
    private readonly ssm: SSMClient,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(name: string): Promise<string> {
    const t = this.now();
    const hit = this.hits.get(name);
    if (hit && t - hit.at < this.ttlMs) return hit.value;
    const value = this.ssm.send(new GetParameterCommand({ Name: name })).then((r) => {
      const v = r.Parameter?.Value;
      if (v === undefined) throw new Error(`SSM parameter ${name} has no value`);
      return v;
    });
    this.hits.set(name, { at: t, value });
    value.catch(() => {
      if (this.hits.get(name)?.value === value) this.hits.delete(name);
    });
    return value;
  }
}
