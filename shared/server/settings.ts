/**
 * A site's tunables: timeouts, limits and intervals every operation reads from
 * `ctx.settings`. The entries start from DEFAULT_SETTINGS and override what their environment
 * or configuration sets.
 */
export interface SiteSettings {
  /** seconds between SIGTERM and SIGKILL (PBS kill_delay) */
  killDelay: number;
  /** a MOM whose heartbeat is older than this is considered dead (ms) */
  momStaleMs: number;
  /** grace after dispatch before a job unknown to a live MOM is considered lost (ms) */
  dispatchGraceMs: number;
  /** candidates the scheduler reads per queue per cycle */
  cycleCandidates: number;
  /** largest script accepted, bytes */
  maxScriptBytes: number;
  /**
   * largest job accepted at submit (or after qalter), bytes as the store counts its item: well
   * under DynamoDB's 400 KB so the job can still grow (trace lines, comment, resources_used,
   * exec_host) for the rest of its life
   */
  maxJobBytes: number;
  /** a transfer not accepted by then returns to the queue (ms); the receiver refuses it after */
  transferTimeoutMs: number;
  /** re-send an unanswered transfer step after this long (ms) */
  transferResendMs: number;
  /**
   * at most one OFFER per pull directive, and one BACKLOG per peer, this often (ms). An OFFER that
   * comes sooner is dropped (the next cycle or tick carries it), so this must stay under a
   * transfer's own round trip: at 500 ms every job after the first of a quiet origin waited for
   * the peer's tick (README, "Peer transfers": 1.8 s against 0.19 s at 100 ms). The OFFER that
   * answers a peer's BACKLOG is not held back (shared/peers/offers.ts sendOffers): the BACKLOG
   * was paced at its end. A BACKLOG that comes sooner, for a job queued since the last, goes with
   * a 1 s delay (sendBacklog).
   */
  offerIntervalMs: number;
  /** a peer silent for this long is shown as disconnected (ms) */
  peerStaleMs: number;
  /**
   * A peer message sent longer ago than this is refused as stale (ms). It must exceed how long
   * SQS can legitimately hold one: the inbox's visibility (60 s) x maxReceiveCount (5) plus
   * batching, plus the clock skew between sites. Replay records are kept this long.
   */
  peerMessageMaxAgeMs: number;
  /** the same for messages nobody re-sends (DEPEND_*, JOB_OP: see UNREPEATED_TYPES), ms */
  peerCommandMaxAgeMs: number;
  /** how far ahead of this site's clock a peer message's send time may be (ms) */
  peerClockSkewMs: number;
  /**
   * the repair sweep (shared/server/repair.ts) runs at most this often from the sweeper tick,
   * and at the first tick of a process (ms)
   */
  repairIntervalMs: number;
  /**
   * a MOM report (obituary, hello) signed further than this from now is refused as stale (ms).
   * Longer than SQS may redeliver an events message (visibility 60 s x maxReceiveCount 5).
   */
  momReportWindowMs: number;
  /**
   * where jobs start: `home-login` (PBS: the owner's $HOME and a login shell) or `workdir`
   * (the submit directory, no login shell)
   */
  jobStart: "home-login" | "workdir";
  /**
   * a running job's resources_used is rewritten from its MOM's heartbeat at most once per this
   * much of its walltime (ms): qstat -f shows it grow without a write per job per beat
   */
  usedUpdateMs: number;
  /**
   * a job whose run MOMs refused this many times is held (hold s, "job held, too many failed
   * attempts to run"), as PBS holds a job its MOMs keep rejecting (check_failed_attempts: run
   * count over 20), so a job no node can start does not loop between queued and refused
   */
  maxRunRefusals: number;
  /**
   * accounting records are kept this many days (0: for ever), longer than job history so that
   * `metaqueue accounting` can report a year; export them (docs/deploy.md) to keep them longer
   */
  acctKeepDays: number;
  /**
   * a job's script is kept this many days past job_history_duration from its submit (its lease,
   * renewed while the job is active: shared/server/script-lease.ts), so that it outlives its
   * job's history without a write when the job ends; at least 2 x the pass's notice (14 days)
   */
  scriptLeaseMarginDays: number;
  /**
   * a site with no work for this long pauses its intake (shared/server/dormancy.ts: on AWS its
   * queues' Lambda pollers and its tick, billed while idle); 0: never. At least
   * MIN_SLEEP_AFTER_MS (a shorter value is raised to it), ms
   */
  intakeSleepAfterMs: number;
}

export const DEFAULT_SETTINGS: SiteSettings = {
  killDelay: 10,
  momStaleMs: 30_000,
  dispatchGraceMs: 60_000,
  cycleCandidates: 200,
  maxScriptBytes: 256 * 1024,
  maxJobBytes: 300 * 1024,
  transferTimeoutMs: 60_000,
  transferResendMs: 10_000,
  offerIntervalMs: 100,
  peerStaleMs: 90_000,
  peerMessageMaxAgeMs: 10 * 60_000,
  // SQS's default retention (4 days): a command waiting in an inbox nobody read is still applied
  peerCommandMaxAgeMs: 4 * 24 * 3600_000,
  peerClockSkewMs: 60_000,
  repairIntervalMs: 60_000,
  momReportWindowMs: 15 * 60_000,
  jobStart: "home-login",
  acctKeepDays: 400,
  scriptLeaseMarginDays: 30,
  usedUpdateMs: 60_000,
  maxRunRefusals: 20,
  intakeSleepAfterMs: 5 * 60_000,
};
