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
 *   peers:<site>      the site's peers: inbox URL and pair-secret parameter each (peerLinks)
 *   peerAccounts:<site>  AWS accounts that may send to the site's inbox
 */
import fs from "node:fs";
import path from "node:path";
import { type Env, readEnv } from "../../shared/config/env.js";
import { type MetaqueueConfig, parseConfig } from "../../shared/config/site-config.js";
import { z } from "zod";
import type { JwtAuthSettings } from "./constructs/api.js";

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
