/**
 * What the CDK app reads besides the stacks themselves: the site configuration file and the
 * deployment context (`cdk.json` "context", or `-c key=value`).
 *
 *   config            path of the site config (else METAQUEUE_CONFIG, else metaqueue.config.json)
 *   jwtIssuer         JWT issuer URL (per site: jwtIssuer:<site>)
 *   jwtAudience       accepted audiences, comma-separated (per site: jwtAudience:<site>)
 *   managers          PBS managers of a new site, e.g. "alice@*" (per site: managers:<site>)
 *   alarmEmail        address subscribed to the alarm topic (per site: alarmEmail:<site>)
 *   prefix            table/queue name prefix, default "metaqueue-"
 *   queueAgeAlarmSeconds  default 300
 *   momBaseImage          the MOM image's base, pinned: node:22-slim@sha256:<index digest>
 *   accountingKeepDays    accounting records' retention in days, default 400 (0: for ever)
 *   intakeSleepAfterSeconds  idle seconds before a site pauses its queue pollers and tick,
 *                     default 300, 0: never (per site: intakeSleepAfterSeconds:<site>)
 *   tableCapacity     "on-demand" (default) or "provisioned:writes=<min>-<max>,reads=<min>-<max>[,target=<%>]"
 *                     (per site: tableCapacity:<site>; see tableCapacity below)
 *   peers:<site>      the site's peers: inbox URL and pair-secret parameter each (peerLinks)
 *   peerAccounts:<site>  AWS accounts that may send to the site's inbox
 */
import fs from "node:fs";
import path from "node:path";
import { type Env, readEnv } from "../../shared/config/env.js";
import { type MetaqueueConfig, parseConfig } from "../../shared/config/site-config.js";
import { z } from "zod";
import type { JwtAuthSettings } from "./constructs/api.js";
import { ON_DEMAND, type TableCapacity } from "./constructs/state.js";

/** Used when no issuer is configured: no token can match it, so the API refuses everyone. */
export const PLACEHOLDER_ISSUER = "https://jwt-issuer.invalid/set-the-jwtIssuer-context-value";
export const PLACEHOLDER_AUDIENCE = "metaqueue";

type Context = (key: string) => unknown;

/** An unset or empty variable is absent. */
const opt = z.preprocess((x) => (x === "" ? undefined : x), z.string().optional());

/** What the CDK app reads from its environment (the CDK CLI sets the CDK_DEFAULT_* pair). */
export const CdkEnvSchema = z.object({
  METAQUEUE_CONFIG: opt,
  CDK_DEFAULT_ACCOUNT: opt,
  CDK_DEFAULT_REGION: opt,
});
export type CdkEnv = z.infer<typeof CdkEnvSchema>;

export function cdkEnv(env: Env = process.env): CdkEnv {
  return readEnv("CDK app", CdkEnvSchema, env);
}

export function configPath(ctx: Context, env: CdkEnv = cdkEnv()): string {
  const p = (ctx("config") as string | undefined) ?? env.METAQUEUE_CONFIG ?? "metaqueue.config.json";
  return path.resolve(p);
}

export function loadConfig(file: string): MetaqueueConfig {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`cannot read the metaqueue configuration ${file}: ${(err as Error).message}`);
  }
  return parseConfig(json);
}

export function authFor(ctx: Context, site: string): JwtAuthSettings & { placeholder: boolean } {
  const issuer = (ctx(`jwtIssuer:${site}`) ?? ctx("jwtIssuer")) as string | undefined;
  const audience = (ctx(`jwtAudience:${site}`) ?? ctx("jwtAudience")) as string | undefined;
  return {
    issuer: issuer || PLACEHOLDER_ISSUER,
    audience: (audience || PLACEHOLDER_AUDIENCE)
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    placeholder: !issuer,
  };
}

const PeerLinksSchema = z.record(
  z.string(),
  z.object({ inboxUrl: z.string().url(), secretParameter: z.string().min(1) }).strict(),
);

/**
 * Context `peers:<site>`: for each peer site, its inbox URL (its InboxQueueUrl output) and the
 * SSM SecureString parameter holding the pair secret, as JSON (or an object in cdk.json):
 *   -c 'peers:casper={"derecho":{"inboxUrl":"https://sqs...","secretParameter":"/metaqueue/peer/casper-derecho"}}'
 */
export function peerLinks(value: unknown): Record<string, { inboxUrl: string; secretParameter: string }> {
  if (value === undefined || value === null || value === "") return {};
  const raw = typeof value === "string" ? JSON.parse(value) : value;
  const r = PeerLinksSchema.safeParse(raw);
  if (!r.success)
    throw new Error(
      `bad peers context: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  return r.data;
}

/** DynamoDB's target tracking accepts 20–90 %; 70 % is what its console proposes. */
export const DEFAULT_TARGET_UTILIZATION = 70;
const MAX_UNITS = 40_000; // an account's default per-table quota

/**
 * Context `tableCapacity[:<site>]`: how the site table is billed (constructs/state.ts
 * TableCapacity; docs/deploy.md "Capacity mode").
 *   on-demand                                         (the default)
 *   provisioned:writes=5-2000,reads=5-1000,target=70   units each of the table and of every
 *                                                      index scales between, and the target
 *                                                      utilization in % (default 70)
 * Anything else stops the synth with what is wrong: a typo must not deploy a table that bills
 * differently than its admin meant.
 */
export function tableCapacity(value: unknown): TableCapacity {
  if (value === undefined || value === null || value === "" || value === "on-demand") return ON_DEMAND;
  const text = String(value);
  const bad = (why: string) =>
    new Error(
      `tableCapacity "${text}": ${why}; expected "on-demand" or "provisioned:writes=<min>-<max>,reads=<min>-<max>[,target=<20-90>]"`,
    );
  const m = /^provisioned(?::(.*))?$/.exec(text);
  if (!m) throw bad("unknown mode");
  if (!m[1]) throw bad("provisioned needs its writes= and reads= bounds");
  const fields = new Map<string, string>();
  for (const part of m[1].split(",")) {
    const [k, v, ...rest] = part.split("=").map((x) => x.trim());
    if (!k || v === undefined || rest.length) throw bad(`cannot read "${part}"`);
    if (!["writes", "reads", "target"].includes(k)) throw bad(`unknown field "${k}"`);
    if (fields.has(k)) throw bad(`"${k}" given twice`);
    fields.set(k, v);
  }
  const range = (k: "writes" | "reads") => {
    const v = fields.get(k);
    if (v === undefined) throw bad(`"${k}" missing`);
    const r = /^(\d+)-(\d+)$/.exec(v);
    if (!r) throw bad(`${k}=${v} is not <min>-<max>`);
    const [min, max] = [Number(r[1]), Number(r[2])];
    if (min < 1 || max < min || max > MAX_UNITS) throw bad(`${k}=${v}: need 1 <= min <= max <= ${MAX_UNITS}`);
    return { min, max };
  };
  const t = fields.get("target");
  const target = t === undefined ? DEFAULT_TARGET_UTILIZATION : Number(t);
  if (!Number.isInteger(target) || target < 20 || target > 90)
    throw bad(`target=${t}: a whole percent from 20 to 90`);
  return { mode: "provisioned", writes: range("writes"), reads: range("reads"), targetUtilization: target };
}
