/**
 * The embedded local metaqueue: DynamoDB Local, the SQS emulator, and per site the API server,
 * the scheduler and events pollers (Lambda event-source semantics), the sweeper tick and one
 * MOM process per virtual node. The same handlers Lambda runs.
 */
import { systemClock } from "../../shared/ports/clock.js";
import { createHmac, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { format } from "node:util";
import { CreateTableCommand, DescribeTableCommand, UpdateTableCommand } from "@aws-sdk/client-dynamodb";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import {
  makeApiHandler,
  makeEventsHandler,
  makeInboxHandler,
  makeMomChannelHandler,
  makeSchedulerHandler,
  makeSweeperHandler,
} from "../../lambdas/handlers.js";
import { assertLocalPools } from "../../shared/config/node-pools.js";
import { federationFor, type MetaqueueConfig, type SiteConfig } from "../../shared/config/site-config.js";
import type { PeerInfo, SiteContext } from "../../shared/server/context.js";
import { triggerCycles } from "../../shared/server/messages.js";
import { loadServerState } from "../../shared/server/server-state.js";
import { DEFAULT_SETTINGS, type SiteSettings } from "../../shared/server/settings.js";
import { withHistory } from "../../shared/server/history.js";
import { nodePower, toServerState, partitions } from "../../shared/server/objects.js";
import { nodesToRun } from "../../shared/server/node-power.js";
import { SqsBus } from "../../shared/adapters/sqs/bus.js";
import { LOCAL_CREDENTIALS, makeDynamoClients, makeSqsClient } from "../../shared/adapters/aws-clients.js";
import { siteQueues } from "../../shared/adapters/sqs/queue-defs.js";
import { DynamoSiteStore, type PlainGroupWrites } from "../../shared/adapters/dynamodb/index.js";
import { createTableInput } from "../../shared/adapters/dynamodb/table.js";
import { seedSite } from "../../shared/server/seed.js";
import { MemoryMetrics } from "../../shared/observability/metrics.js";
import { PeerPacing } from "../../shared/peers/pacing.js";
import { startApiServer } from "./api-server.js";
import { type DynamoDbLocal, startDynamoDbLocal } from "./dynamodb.js";
import { confFileFor, publishConf, removeStaleUserConf } from "./client-conf.js";
import { CredentialRegistry, dashboardLink, ensureCredential } from "./credentials.js";
import { LocalExecutor } from "../../shared/adapters/executor/local.js";
import { findSendmail, SendmailMailer } from "../../shared/adapters/mail/sendmail.js";
import { localOutputReader } from "./output-reader.js";
import { prepareDataDir } from "./private-dir.js";
import { ensureQueues, startSqsEmulator } from "./sqs.js";
import { startSqsPoller } from "./sqs-poller.js";
import { startBackoffTimer } from "./timers.js";
import { metered } from "./invocation-meter.js";
import { startMomGateway } from "./mom-gateway.js";
import { ApiGatewayConnections, makeConnectionsClient } from "../../shared/adapters/channel/apigw.js";
import { MomPusher } from "../../shared/adapters/channel/push.js";

export interface LocalOptions {
  config: MetaqueueConfig;
  /** absolute folder for DynamoDB data and MOM scratch (created) */
  dataDir: string;
  /**
   * where to write the CLI's server list (default: /etc/metaqueue.conf as root, else
   * `<dataDir>/metaqueue.conf`; infra/local/client-conf.ts)
   */
  confPath?: string;
  /**
   * the credential file of the user running the runtime (default $METAQUEUE_CREDENTIAL or
   * ~/.metaqueue/credential): reused when it exists, created (0600) when not
   */
  credentialPath?: string;
  settings?: Partial<SiteSettings>;
  /** sweeper/tick period while the site has jobs */
  tickMs?: number;
  /** the longest pause between ticks of a site with no jobs (default idleTickFor(settings)) */
  idleTickMaxMs?: number;
  momHeartbeatMs?: number;
  /** how often a MOM running no job beats (default IDLE_MOM_HEARTBEAT_MS) */
  momIdleHeartbeatMs?: number;
  /**
   * how the site's store sends a group of plain job writes (shared/adapters/dynamodb/jobs.ts):
   * default "transactions", DynamoDB Local's fast path; "singles" is what the Lambdas do on AWS
   * (bench/cost.ts runs that way, to measure AWS's bill)
   */
  plainGroupWrites?: PlainGroupWrites;
  log?: (line: string) => void;
}

export interface LocalSite {
  config: SiteConfig;
  /** what the handlers emitted (the EMF metrics on AWS), as running totals */
  metrics: MemoryMetrics;
  ctx: SiteContext;
  /**
   * The emulator's SQS client (shared by all sites): for tests that put raw messages on a queue
   * as an outsider would (a forged report, a replayed peer message); the site sends via ctx.bus.
   */
  sqs: SQSClient;
  url: string;
  executor: LocalExecutor;
  /** stop the site's consumers and tick (its API and MOMs stay): a site that stopped answering */
  pause(): Promise<void>;
  /** start them again */
  resume(): void;
}

export interface LocalMetaqueue {
  sites: LocalSite[];
  /** `unix:<dataDir>/sock/ddb.sock`: for `makeDynamoClients` */
  ddbEndpoint: string;
  /** `unix:<dataDir>/sock/sqs.sock`: for `makeSqsClient` */
  sqsEndpoint: string;
  /** DynamoDB Local's JVM: its port and whether that port is in a namespace of its own */
  dynamodb: Pick<DynamoDbLocal, "pid" | "port" | "isolation">;
  confPath: string;
  /** the first site's dashboard with a short-lived token that signs the runtime's user in */
  dashboardUrl: string;
  /** who may use the API: token hashes by user (infra/local/credentials.ts) */
  credentials: CredentialRegistry;
  /** the runtime user's credential file */
  credentialPath: string;
  stop(): Promise<void>;
}

const TABLE_PREFIX = "metaqueue-";
const QUEUE_PREFIX = "metaqueue-";

export async function startLocal(opts: LocalOptions): Promise<LocalMetaqueue> {
  const log = opts.log ?? ((l: string) => console.log(l));
  // before anything starts: an ECS pool's nodes are ECS tasks, which this runtime cannot start
  for (const sc of opts.config.sites) assertLocalPools(sc);
  // the site's state: only the runtime user reads it, except the MOMs' scratch for the jobs
  prepareDataDir(opts.dataDir, ["mom"]);
  const sockDir = path.join(opts.dataDir, "sock");
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch((e) => log(`stop: ${(e as Error).message}`));
  };
  try {
    const ddbLocal = await startDynamoDbLocal({
      dataDir: path.join(opts.dataDir, "dynamodb"),
      socketPath: path.join(sockDir, "ddb.sock"),
    });
    stops.push(() => ddbLocal.stop());
    const sqsEmu = await startSqsEmulator({ socketPath: path.join(sockDir, "sqs.sock") });
    stops.push(() => sqsEmu.stop());
    const region = "us-east-1";
    const { ddb, doc } = makeDynamoClients({
      region,
      endpoint: ddbLocal.endpoint,
      credentials: LOCAL_CREDENTIALS,
    });
    const sqs = makeSqsClient({ region, endpoint: sqsEmu.endpoint, credentials: LOCAL_CREDENTIALS });
    // what the sites send through (their ctx.bus); the pollers below receive with `sqs` itself
    const bus = new SqsBus(sqs);
    const sites: LocalSite[] = [];
    // Every site's queues first: each site needs its peers' inbox URLs.
    const siteUrls = new Map<string, Record<string, string>>();
    for (const sc of opts.config.sites) {
      const q = siteQueues(QUEUE_PREFIX, sc.name);
      siteUrls.set(sc.name, await ensureQueues(sqs, [q.sched, q.events, q.inbox]));
    }
    const rootSecret = peerRootSecret(opts.dataDir);
    const momSecret = localSecret(opts.dataDir, "mom-secret");
    // One registry for every site of this runtime, as one munge key serves a whole cluster.
    const credentials = new CredentialRegistry(path.join(opts.dataDir, "credentials.json"));
    const me = os.userInfo().username;
    const cred = ensureCredential(credentials, me, { file: opts.credentialPath });
    if (cred.created) log(`metaqueue: issued a credential for ${me} in ${cred.file}`);
    const authenticate = credentials.authenticator();
    for (const sc of opts.config.sites) {
      const table = `${TABLE_PREFIX}${sc.name}`;
      await ensureTable(ddb, table);
      const qdefs = siteQueues(QUEUE_PREFIX, sc.name);
      const urls = siteUrls.get(sc.name) as Record<string, string>;
      // Locally every configured site peers with every other; each pair shares one secret.
      const peers = new Map<string, PeerInfo>();
      for (const other of opts.config.sites) {
        if (other.name === sc.name) continue;
        peers.set(other.name, {
          server: other.server,
          short: other.name,
          inboxUrl: (siteUrls.get(other.name) as Record<string, string>)[
            siteQueues(QUEUE_PREFIX, other.name).inbox.name
          ],
          secret: pairSecret(rootSecret, sc.name, other.name),
          ...federationFor(sc, other),
        });
      }
      const store = new DynamoSiteStore(doc, table, { plainGroups: opts.plainGroupWrites ?? "transactions" });
      await seedSite(store, sc, os.userInfo().username);
      const siteMetrics = new MemoryMetrics();
      // The site's MOM gateway (API Gateway's WebSocket API on AWS): its routes run the same
      // handler code the Lambda runs, once the site context below exists (no MOM connects
      // before the executor starts them, after it).
      let channelRoute: ReturnType<typeof makeMomChannelHandler> | undefined;
      const gateway = await startMomGateway({
        socketPath: path.join(sockDir, `mom-${sc.name}.sock`),
        route: (e) => {
          if (!channelRoute) return Promise.resolve({ statusCode: 503, body: "not ready" });
          return channelRoute(e);
        },
        log,
      });
      stops.push(() => gateway.stop());
      const pusher = new MomPusher(
        store,
        new ApiGatewayConnections(
          makeConnectionsClient({ region, endpoint: gateway.endpoint, credentials: LOCAL_CREDENTIALS }),
        ),
      );
      const executor = new LocalExecutor({
        pusher,
        // always-on nodes, and pool nodes recorded powered on (a restart must not leave a node
        // recorded up with no MOM; its new MOM adopts what the last one ran)
        nodes: nodesToRun(await store.getServerObjects()),
        env: {
          DDB_ENDPOINT: ddbLocal.endpoint,
          SQS_ENDPOINT: sqsEmu.endpoint,
          TABLE_NAME: table,
          // the site's short name: a job received from a peer is keyed by its origin's (keyOfId)
          SITE_SHORT: sc.name,
          EVENTS_QUEUE_URL: urls[qdefs.events.name],
          MOM_GATEWAY_URL: gateway.wsUrl,
          MOM_TMP: path.join(opts.dataDir, "mom"),
          MOM_HEARTBEAT_MS: String(
            opts.momHeartbeatMs ?? heartbeatFor({ ...DEFAULT_SETTINGS, ...opts.settings }),
          ),
          // nothing reads the beats of a MOM with no runs (the sweeper judges from a run's start)
          MOM_IDLE_HEARTBEAT_MS: String(opts.momIdleHeartbeatMs ?? IDLE_MOM_HEARTBEAT_MS),
        },
        momSecret,
        log,
      });
      const settings: SiteSettings = {
        ...DEFAULT_SETTINGS,
        ...(sc.jobStart ? { jobStart: sc.jobStart } : {}),
        ...opts.settings,
      };
      const ctx: SiteContext = {
        site: { server: sc.server, short: sc.name },
        // finished jobs, audit and accounting expire (job_history_duration, acctKeepDays):
        // DynamoDB Local has no TTL, so the reads leave out what has expired
        store: withHistory(store, { clock: systemClock, settings }),
        bus,
        queueUrls: { sched: urls[qdefs.sched.name], events: urls[qdefs.events.name] },
        peers,
        metrics: siteMetrics,
        executor,
        clock: systemClock,
        settings,
        momSecret,
        // job mail through the host's sendmail, when it has one (else -m/-M are refused)
        mailer: localMailer(sc),
        // node pools: their nodes sleep until jobs need them (shared/scheduler/power.ts)
        pools: new Map(
          sc.nodePools.map((p) => [
            p.name,
            {
              name: p.name,
              idleOffMs: p.idleOff * 1000,
              bootTimeoutMs: p.bootTimeout * 1000,
              startsPerMinute: p.startsPerMinute,
            },
          ]),
        ),
        upSince: Date.now(),
        // this site's resends, offers and heartbeats are paced apart from the other sites'
        pacing: new PeerPacing(),
        // every request carries a token from the user's 0600 credential file
        authenticate,
        // job output, read with the job owner's rights (never the runtime's)
        output: localOutputReader(),
        // every argument, as console.* prints them: an error's stack and cause come after the
        // message it was logged under (a 500 names only its request ID to the client)
        log: {
          info: (...a: unknown[]) => log(format(...a)),
          warn: (...a: unknown[]) => log(format(...a)),
          error: (...a: unknown[]) => log(format(...a)),
          debug: () => {},
        },
      };
      channelRoute = metered("mom-channel", makeMomChannelHandler(ctx));
      const onError = (err: unknown, phase: string) =>
        log(`${sc.name}: ${phase}: ${(err as Error)?.message ?? err}`);
      // The site's loops (what Lambda's triggers drive on AWS): its three SQS consumers and its
      // tick. pause() stops them, as a site whose functions stopped answering; resume() restarts.
      // Long polls, as Lambda's pollers do: an idle site makes few receive requests.
      const consume = (
        label: string,
        def: (typeof qdefs)["events"],
        queueUrl: string,
        handler: (e: SQSEvent) => Promise<SQSBatchResponse>,
      ) =>
        startSqsPoller({
          sqs,
          queueUrl,
          handler,
          batchSize: def.consumer.batchSize,
          maxBatchingWindowMs: def.consumer.maxBatchingWindowMs,
          concurrency: def.consumer.concurrency,
          waitTimeSeconds: 10,
          onError,
          name: `${sc.name}-${label}`,
        });
      // Events first, so the MOMs' boot messages are handled as soon as they are sent.
      const consumers = {
        events: () =>
          consume("events", qdefs.events, ctx.queueUrls.events, metered("events", makeEventsHandler(ctx))),
        sched: () =>
          consume("sched", qdefs.sched, ctx.queueUrls.sched, metered("scheduler", makeSchedulerHandler(ctx))),
        inbox: () =>
          consume("inbox", qdefs.inbox, urls[qdefs.inbox.name], metered("inbox", makeInboxHandler(ctx))),
      };
      type Consumer = keyof typeof consumers;
      const ALL_CONSUMERS = Object.keys(consumers) as Consumer[];
      const running = new Map<Consumer, ReturnType<typeof startSqsPoller>>();
      let closed = false;
      const startPollers = (which: Consumer[] = ALL_CONSUMERS) => {
        if (closed) return;
        for (const c of which) if (!running.has(c)) running.set(c, consumers[c]());
      };
      const stopPollers = async (which: Consumer[] = ALL_CONSUMERS, opts?: { finishPoll?: boolean }) => {
        await Promise.all(
          which.map(async (c) => {
            const p = running.get(c);
            running.delete(c);
            await p?.stop(opts);
          }),
        );
      };
      startPollers();
      stops.push(async () => {
        closed = true;
        await stopPollers();
      });
      // Dormancy (shared/server/dormancy.ts): an idle site stops its consumers, as Lambda's
      // pollers are paused on AWS; a site with peers keeps its inbox (and, here as there, its
      // tick): its peers' heartbeats and requests come there. Whatever makes work resumes them.
      ctx.intake = {
        // each poll runs out rather than being abandoned: the emulator would hand a message
        // arriving meanwhile to the dead request, invisible (and its FIFO group locked) for the
        // queue's visibility timeout
        pause: () => stopPollers(ctx.peers?.size ? ["events", "sched"] : ALL_CONSUMERS, { finishPoll: true }),
        resume: async () => startPollers(),
      };
      await executor.start();
      stops.push(() => executor.stop());
      const sweeper = metered("sweeper", makeSweeperHandler(ctx));
      const onTick = async () => {
        // a node created with qmgr gets its MOM, as an admin would start pbs_mom on it
        // (not a pool node: the cycles power those on and off)
        const always = [...(await loadServerState(ctx)).nodes.values()].filter((n) => !nodePower(n));
        await executor.ensureNodes(always.map((n) => n.name));
        return (await sweeper()).hasWork;
      };
      // Idle is idle (issue 14): a site with no jobs ticks less and less often, up to
      // idleTickMaxMs; an API request that changes something, or a tick that sees a job, brings
      // it back to tickMs. idleTickFor keeps each bound the tick gives as it was (see there).
      const startTick = () =>
        startBackoffTimer(
          `${sc.name}-tick`,
          {
            everyMs: opts.tickMs ?? 5000,
            idleMaxMs: opts.idleTickMaxMs ?? idleTickFor(ctx.settings),
          },
          onTick,
          (e) => log(`${sc.name} tick: ${(e as Error).message}`),
        );
      let tick: ReturnType<typeof startBackoffTimer> | undefined = startTick();
      stops.push(async () => {
        await tick?.stop();
        tick = undefined;
      });
      const pause = async () => {
        await Promise.all([stopPollers(), tick?.stop()]);
        tick = undefined;
      };
      const resume = () => {
        startPollers();
        tick ??= startTick();
      };
      const apiHandler = metered("api", makeApiHandler(ctx));
      const api = await startApiServer(async (event) => {
        // a request that may add work (qsub, qmgr, qrls, ...) ends the idle backoff
        const method = event.requestContext?.http?.method ?? "GET";
        if (method !== "GET" && method !== "HEAD") tick?.poke();
        return apiHandler(event);
      }, sc.apiPort ?? 0);
      stops.push(() => api.stop());
      // Whatever was queued before a restart gets a cycle now, not at the first tick.
      const st = toServerState(await store.getServerObjects());
      await triggerCycles(ctx, partitions(st), "startup");
      sites.push({ config: sc, ctx, sqs, url: api.url, executor, metrics: siteMetrics, pause, resume });
    }
    // Every site's API URL is known once all are listening: peers (and the dashboard) use it.
    for (const s of sites) {
      for (const p of s.ctx.peers?.values() ?? [])
        p.apiUrl = sites.find((o) => o.config.name === p.short)?.url;
    }
    const confPath = publishConf(
      confFileFor(
        opts.config,
        sites.map((s) => ({ server: s.config.server, short: s.config.name, url: s.url })),
      ),
      opts.dataDir,
      opts.confPath,
      log,
    );
    if (opts.confPath === undefined) {
      const stale = removeStaleUserConf(opts.config);
      if (stale)
        log(`metaqueue: removed ${stale} (an earlier start wrote it; the commands read ${confPath})`);
    }
    return {
      sites,
      ddbEndpoint: ddbLocal.endpoint,
      sqsEndpoint: sqsEmu.endpoint,
      dynamodb: { pid: ddbLocal.pid, port: ddbLocal.port, isolation: ddbLocal.isolation },
      confPath,
      dashboardUrl: dashboardLink(credentials, me, sites[0].url),
      credentials,
      credentialPath: cred.file,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Create the site table, or bring an existing one's indexes to the definition (a data folder kept across versions). */
export async function ensureTable(
  ddb: import("@aws-sdk/client-dynamodb").DynamoDBClient,
  table: string,
): Promise<void> {
  let have: Map<string, string>;
  try {
    const d = await ddb.send(new DescribeTableCommand({ TableName: table }));
    have = new Map(
      (d.Table?.GlobalSecondaryIndexes ?? []).map((g) => [String(g.IndexName), projectionText(g.Projection)]),
    );
  } catch (err) {
    if ((err as { name?: string }).name !== "ResourceNotFoundException") throw err;
    await ddb.send(new CreateTableCommand(createTableInput(table)));
    return;
  }
  // A data folder from an earlier version: add the indexes it lacks (the wait index), and
  // rebuild those whose projection changed (the list index, ALL until issue 14's cost work), one
  // per request as DynamoDB requires: deleted, then created again; the backfill indexes the
  // existing items.
  const want = createTableInput(table);
  for (const g of want.GlobalSecondaryIndexes ?? []) {
    const name = String(g.IndexName);
    const cur = have.get(name);
    if (cur === projectionText(g.Projection)) continue;
    if (cur !== undefined) {
      console.error(`table ${table}: index ${name} is projected as before (${cur}): rebuilding it`);
      await ddb.send(
        new UpdateTableCommand({
          TableName: table,
          GlobalSecondaryIndexUpdates: [{ Delete: { IndexName: name } }],
        }),
      );
      // DynamoDB takes one index change at a time: the next waits until this one is done
      await indexSettled(ddb, table, name, (x) => x === undefined);
    }
    await ddb.send(
      new UpdateTableCommand({
        TableName: table,
        AttributeDefinitions: want.AttributeDefinitions,
        GlobalSecondaryIndexUpdates: [{ Create: g }],
      }),
    );
    await indexSettled(ddb, table, name, (x) => x?.IndexStatus === "ACTIVE");
  }
}

/** Wait (up to a minute) until index `name` of `table` is as `done` says. */
async function indexSettled(
  ddb: import("@aws-sdk/client-dynamodb").DynamoDBClient,
  table: string,
  name: string,
  done: (g: import("@aws-sdk/client-dynamodb").GlobalSecondaryIndexDescription | undefined) => boolean,
): Promise<void> {
  const end = Date.now() + 60_000;
  for (;;) {
    const d = await ddb.send(new DescribeTableCommand({ TableName: table }));
    if (done(d.Table?.GlobalSecondaryIndexes?.find((x) => x.IndexName === name))) return;
    if (Date.now() > end) throw new Error(`table ${table}: index ${name} did not settle within a minute`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** An index projection as comparable text: its type and its attributes, sorted. */
export function projectionText(p: import("@aws-sdk/client-dynamodb").Projection | undefined): string {
  return `${p?.ProjectionType ?? "ALL"}:${[...(p?.NonKeyAttributes ?? [])].sort().join(",")}`;
}

/** The local secret peer secrets derive from, made once and kept with the data. */
function peerRootSecret(dataDir: string): string {
  return localSecret(dataDir, "peer-secret");
}

/** A secret of this runtime (0600 in the data dir), made once. */
function localSecret(dataDir: string, name: string): string {
  const file = path.join(dataDir, name);
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    const secret = randomBytes(32).toString("hex");
    fs.writeFileSync(file, `${secret}\n`, { mode: 0o600 });
    return secret;
  }
}

function pairSecret(root: string, a: string, b: string): string {
  return createHmac("sha256", root).update([a, b].sort().join("|")).digest("hex");
}

/**
 * How often a local MOM beats: every 10 s, but at least three times per momStaleMs, so a site
 * configured to judge MOMs quickly (the kill tests set momStaleMs 3 s) never takes a live MOM's
 * quiet spell for a dead one and ends its jobs as lost.
 */
export function heartbeatFor(settings: Pick<SiteSettings, "momStaleMs">): number {
  return Math.max(100, Math.min(10_000, Math.floor(settings.momStaleMs / 3)));
}

/** A MOM running no job beats every 5 min: its beats only say it is alive, for whoever looks. */
export const IDLE_MOM_HEARTBEAT_MS = 300_000;

/** The longest idle pause between ticks, unless LocalOptions.idleTickMaxMs says otherwise. */
export const IDLE_TICK_MAX_MS = 30_000;

/**
 * How long a site with no jobs may go between ticks: IDLE_TICK_MAX_MS, but never longer than
 * momStaleMs, transferTimeoutMs or a third of peerStaleMs. Why that keeps the tick's bounds:
 * a job comes either through the API (which pokes the tick back to tickMs) or from a peer, and
 * the first tick after it comes is at most this pause later; from then on the site has work and
 * ticks every tickMs. A MOM lost at or after its job's start is judged only momStaleMs after its
 * last beat, which is no sooner than that first tick, so it is still found within momStaleMs +
 * tickMs; likewise a stale transfer within transferTimeoutMs + tickMs. Peer heartbeats (sent
 * from the tick, every peerStaleMs / 6 when busy) still come at least three times per
 * peerStaleMs, so an idle peer is never shown as disconnected.
 */
export function idleTickFor(
  settings: Pick<SiteSettings, "momStaleMs" | "transferTimeoutMs" | "peerStaleMs">,
): number {
  return Math.min(
    IDLE_TICK_MAX_MS,
    settings.momStaleMs,
    settings.transferTimeoutMs,
    Math.floor(settings.peerStaleMs / 3),
  );
}

/** The site's mailer: its configured sendmail, else the host's, else none (`sendmail: false`). */
function localMailer(sc: SiteConfig): SendmailMailer | undefined {
  if (sc.mail?.sendmail === false) return undefined;
  const sendmail = findSendmail(sc.mail?.sendmail);
  return sendmail ? new SendmailMailer(sendmail, sc.mail?.from ?? "adm") : undefined;
}
