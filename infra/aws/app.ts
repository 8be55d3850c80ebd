/**
 * The CDK app: one SiteStack per site of the configuration file, named Metaqueue-<site>.
 *   npx cdk synth                      every site
 *   npx cdk deploy Metaqueue-casper    one site
 * See docs/deploy.md and infra/aws/settings.ts for the context values.
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { Annotations, App } from "aws-cdk-lib";
import { REPO_ROOT } from "./constructs/lambda.js";
import { authFor, cdkEnv, configPath, loadConfig, peerLinks, tableCapacity } from "./settings.js";
import { DEFAULT_PREFIX, SiteStack } from "./site-stack.js";

const app = new App();
const ctx = (k: string) => app.node.tryGetContext(k);

// The MOM image copies dist/mom-ecs.js: bundle it now so the image asset (and its hash) is current.
execFileSync(process.execPath, [path.join(REPO_ROOT, "scripts/build.mjs"), "mom-ecs"], {
  cwd: REPO_ROOT,
  stdio: "inherit",
});

const cdk = cdkEnv();
const config = loadConfig(configPath(ctx, cdk));
const account = cdk.CDK_DEFAULT_ACCOUNT;
const region = cdk.CDK_DEFAULT_REGION;
const env = account || region ? { account, region } : undefined;

for (const site of config.sites) {
  const auth = authFor(ctx, site.name);
  const stack = new SiteStack(app, `Metaqueue-${site.name}`, {
    env,
    site,
    prefix: (ctx("prefix") as string | undefined) ?? DEFAULT_PREFIX,
    auth,
    alarmEmail: (ctx(`alarmEmail:${site.name}`) ?? ctx("alarmEmail")) as string | undefined,
    managers: (ctx(`managers:${site.name}`) ?? ctx("managers")) as string | undefined,
    peerAccounts: String(ctx(`peerAccounts:${site.name}`) ?? ctx("peerAccounts") ?? "")
      .split(",")
      .map((a) => a.trim())
      .filter(Boolean),
    queueAgeAlarmSeconds: ctx("queueAgeAlarmSeconds") ? Number(ctx("queueAgeAlarmSeconds")) : undefined,
    otherSites: config.sites.filter((s) => s.name !== site.name),
    peers: peerLinks(ctx(`peers:${site.name}`)),
    tableCapacity: tableCapacity(ctx(`tableCapacity:${site.name}`) ?? ctx("tableCapacity")),
    momSecretParameter: ctx(`momSecretParameter:${site.name}`) as string | undefined,
    momBaseImage: ctx("momBaseImage") as string | undefined,
    accountingKeepDays: ctx("accountingKeepDays") ? Number(ctx("accountingKeepDays")) : undefined,
    intakeSleepAfterSeconds: sleepAfter(
      ctx(`intakeSleepAfterSeconds:${site.name}`) ?? ctx("intakeSleepAfterSeconds"),
    ),
  });
  if (auth.placeholder) {
    Annotations.of(stack).addWarningV2(
      "metaqueue:jwtIssuer",
      `no jwtIssuer context value for ${site.name}: the API accepts no token until you deploy with -c jwtIssuer=<issuer URL> -c jwtAudience=<client id>`,
    );
  }
}

/** idle seconds before a site sleeps (0: never); a value that is not a whole number >= 0 stops the synth */
function sleepAfter(v: unknown): number | undefined {
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(
      `intakeSleepAfterSeconds must be a whole number of seconds >= 0 (0: never sleep), got ${String(v)}`,
    );
  return n;
}

app.synth();
