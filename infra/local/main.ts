/**
 * `npm start`: the local metaqueue in the foreground. Ctrl-C stops everything; starting again
 * finds every job where it was (DynamoDB data under ./.metaqueue).
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { DATA_CONF_NAME, SYSTEM_CONF } from "../../shared/config/client-conf.js";
import { readEnv } from "../../shared/config/env.js";
import { parseConfig } from "../../shared/config/site-config.js";
import { startLocal } from "./runtime.js";

/** Optional tuning (tests, demos): METAQUEUE_SETTINGS='{"transferTimeoutMs":5000}'. */
const SettingsSchema = z
  .object({
    killDelay: z.number().int().min(0),
    momStaleMs: z.number().int().positive(),
    dispatchGraceMs: z.number().int().positive(),
    transferTimeoutMs: z.number().int().positive(),
    transferResendMs: z.number().int().positive(),
    offerIntervalMs: z.number().int().positive(),
    peerStaleMs: z.number().int().positive(),
    peerMessageMaxAgeMs: z.number().int().positive(),
    peerCommandMaxAgeMs: z.number().int().positive(),
    peerClockSkewMs: z.number().int().min(0),
    repairIntervalMs: z.number().int().positive(),
    momReportWindowMs: z.number().int().positive(),
    maxRunRefusals: z.number().int().positive(),
    scriptLeaseMarginDays: z.number().positive(),
    intakeSleepAfterMs: z.number().int().min(0),
  })
  .partial()
  .strict();

/** An unset or empty variable is absent. */
const opt = <T extends z.ZodType>(t: T) => z.preprocess((x) => (x === "" ? undefined : x), t.optional());

/** What `npm start` reads (README "Running locally"; the integration tests set the same). */
export const LocalEnvSchema = z.object({
  METAQUEUE_CONFIG: opt(z.string()).transform((p) => path.resolve(p ?? "metaqueue.config.json")),
  METAQUEUE_DATA: opt(z.string()).transform((p) => path.resolve(p ?? ".metaqueue")),
  /** the CLI's server list to write (default: /etc/metaqueue.conf as root, else <data>/metaqueue.conf) */
  METAQUEUE_CONF: opt(z.string()),
  METAQUEUE_TICK_MS: opt(z.coerce.number().int().positive()).transform((n) => n ?? 5000),
  METAQUEUE_SETTINGS: opt(z.string()).transform((text, ctx) => {
    try {
      return SettingsSchema.parse(JSON.parse(text ?? "{}"));
    } catch (err) {
      ctx.addIssue({
        code: "custom",
        message: `not the JSON of a settings object: ${(err as Error).message}`,
      });
      return z.NEVER;
    }
  }),
});

/** Whether the commands of this checkout find `conf` with no METAQUEUE_CONF (cli/src/config.ts). */
function foundByEveryone(conf: string): boolean {
  const checkoutConf = fileURLToPath(new URL(`../../.metaqueue/${DATA_CONF_NAME}`, import.meta.url));
  return conf === SYSTEM_CONF || path.resolve(conf) === checkoutConf;
}

async function main(): Promise<void> {
  const env = readEnv("metaqueue", LocalEnvSchema);
  const { METAQUEUE_CONFIG: configPath, METAQUEUE_DATA: dataDir, METAQUEUE_SETTINGS: settings } = env;
  const config = parseConfig(JSON.parse(fs.readFileSync(configPath, "utf8")));
  console.log(`metaqueue: starting ${config.sites.length} site(s) from ${configPath}, data in ${dataDir}`);
  const mq = await startLocal({
    config,
    dataDir,
    confPath: env.METAQUEUE_CONF,
    tickMs: env.METAQUEUE_TICK_MS,
    settings,
  });
  for (const s of mq.sites) {
    console.log(
      `  ${s.config.server} (${s.config.name}): API ${s.url}  nodes: ${s.config.nodes.map((n) => n.name).join(" ")}`,
    );
  }
  // signs the runtime's user in for a few hours (infra/local/credentials.ts says why not longer)
  console.log(`  dashboard: ${mq.dashboardUrl}`);
  const where = {
    netns: "its JVM in a network namespace of its own",
    userns: "its JVM in a user + network namespace of its own",
    none: `its JVM on port ${mq.dynamodb.port} of every interface: NOT private`,
  }[mq.dynamodb.isolation];
  console.log(`  DynamoDB Local ${mq.ddbEndpoint} (${where}), SQS emulator ${mq.sqsEndpoint}`);
  console.log(`  CLI server list written to ${mq.confPath}`);
  if (!foundByEveryone(mq.confPath)) {
    console.log(`  other users' commands do not look there: they need  export METAQUEUE_CONF=${mq.confPath}`);
  }
  console.log(`\nThe PBS commands are in node_modules/.bin; to use them from anywhere:`);
  console.log(`  export PATH="${path.resolve("node_modules/.bin")}:$PATH"`);
  console.log(`  echo 'echo hello from $PBS_JOBID' | qsub && qstat`);
  console.log(`\nmetaqueue is up. Ctrl-C stops it.`);
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\nmetaqueue: ${sig}, stopping`);
    await mq.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

main().catch((err) => {
  console.error(`metaqueue: ${(err as Error).message}`);
  process.exit(1);
});
