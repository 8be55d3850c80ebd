/**
 * What every server operation runs with: one site's store, message bus, executor and clock.
 * Lambda builds it from validated environment variables (lambdas/env.ts); the local runtime
 * builds one per configured site. Nothing here knows which.
 */
import type { MessageBus } from "../ports/bus.js";
import type { Clock, Executor } from "../ports/index.js";
import type { SiteStore } from "../ports/store.js";
import type { SiteSettings } from "./settings.js";

export interface SiteIdentity {
  /** PBS server name: casper-pbs */
  server: string;
  /** short name used in job IDs: casper */
  short: string;
}

/** Another site this one exchanges messages with. */
export interface PeerInfo {
  server: string;
  short: string;
  /** the peer's inbound queue */
  inboxUrl: string;
  /** shared secret for signing messages between this site and that peer */
  secret: string;
  /** pull directives: this site takes queued jobs of the peer's `queue` into its own `into` */
  pull?: { queue: string; into: string }[];
  /**
   * The acid mapper for jobs coming from this peer: its account (project) and user names to
   * ours. With a map present, a name not in it is refused; without one, names pass unchanged.
   */
  accounts?: Record<string, string>;
  users?: Record<string, string>;
  /** the peer's HTTP API base URL, when known (the dashboard reads every site through it) */
  apiUrl?: string;
}

export interface SiteContext {
  site: SiteIdentity;
  /** configured peers by short name (empty for a site on its own) */
  peers?: Map<string, PeerInfo>;
  store: SiteStore;
  /** where cycle triggers, events and peer messages go (shared/server/messages.ts sends them) */
  bus: MessageBus;
  queueUrls: { sched: string; events: string };
  executor: Executor;
  clock: Clock;
  settings: SiteSettings;
  log: Pick<Console, "info" | "warn" | "error" | "debug">;
  /**
   * Who is asking, for the API (shared/api/identity.ts): the authorizer's claims on AWS, the
   * credential registry locally. Absent: every API request is refused.
   */
  authenticate?: import("../api/identity.js").Authenticator;
  /** reads job output with the job owner's rights (local runtime); absent: the API answers 501 */
  output?: import("../ports/index.js").OutputReader;
  /**
   * mints the right to write one run's output (AWS: presigned S3 PUT URLs), for the MOM channel's
   * `grant` requests (shared/server/output-grant.ts); absent: those are refused
   */
  outputGrants?: import("../ports/index.js").OutputGranter;
  /** CloudWatch EMF on Lambda, counters locally; absent = not measured */
  metrics?: import("../observability/metrics.js").MetricsPort;
  /**
   * The site's MOM secret: each MOM's key is derived from it (shared/auth/mom-report.ts).
   * Absent: every MOM report is refused as forged.
   */
  momSecret?: string;
  /**
   * When this server process came up (the local runtime): heartbeats are judged stale only
   * momStaleMs after it, so MOMs restarted with the runtime have time to say hello first.
   */
  upSince?: number;
  /**
   * When this site's process last sent each paced peer message (resends, offers, heartbeats):
   * made with the context, so it lives as long as the process. Absent: nothing is paced.
   */
  pacing?: import("../peers/pacing.js").PeerPacing;
  /**
   * Job mail (-m/-M): the host's sendmail in the local runtime when it has one. Absent (on AWS,
   * or no sendmail): -m other than n, and -M, are refused at qsub and qalter.
   */
  mailer?: import("../ports/index.js").Mailer;
  /**
   * Node pools by name (issue 12; shared/scheduler/power.ts): nodes of a pool sleep until jobs
   * need them. Absent, or an executor without powerOn: no node is powered on or off, and a
   * pool node's power state is left as stored.
   */
  pools?: ReadonlyMap<string, import("../scheduler/power.js").PoolPolicy>;
  /**
   * Pauses and resumes what consumes the site's queues and ticks (shared/server/dormancy.ts):
   * an idle site sleeps. Absent: the site never sleeps.
   */
  intake?: import("../ports/index.js").IntakeSwitch;
}

/** The peer a server or short name means, if any. */
export function findPeer(ctx: SiteContext, name: string | undefined): PeerInfo | undefined {
  if (!name || !ctx.peers) return undefined;
  for (const p of ctx.peers.values()) if (p.short === name || p.server === name) return p;
  return undefined;
}

/** Whether a server name or short name means this site. */
export function isThisSite(ctx: SiteContext, name: string | undefined): boolean {
  return !name || name === ctx.site.server || name === ctx.site.short;
}
