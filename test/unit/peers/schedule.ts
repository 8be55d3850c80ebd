/**
 * Schedules for the transfer property test: long random runs of deliveries, loss, duplication,
 * reordering, crashes, clock jumps past deadlines and resend backoffs, two handlers at once, and
 * the late-ACCEPT order as a step of its own; then the network heals and everything settles.
 * `simulate` watches the safety properties after every step and records what each schedule
 * exercised (see `Exercised`), so the test can show that its schedules reach the cases that matter.
 */
import fc from "fast-check";
import { ConflictError } from "../../../shared/errors.js";
import { forwardJob } from "../../../shared/peers/origin.js";
import { forwardSubjobs } from "../../../shared/peers/subjob-transit.js";
import { sendsOf } from "../../../shared/peers/step.js";
import { sendToPeerBatch } from "../../../shared/server/messages.js";
import { subjobEnded } from "../../../shared/server/job-end.js";
import { instantiateSubjob, isUnstarted, takeIndices } from "../../../shared/server/subjobs.js";
import { CLOCK_MARGIN_MS } from "../../../shared/peers/outbox.js";
import type { JobRecord } from "../../../shared/server/job.js";
import {
  bodyOf,
  callCtx,
  type Delivered,
  deliver,
  makeFederation,
  Network,
  offerToCasper,
  runToEnd,
  type SimSite,
  sweep,
  TRANSFER_TIMEOUT_MS,
  type Wire,
} from "./sim.js";
import { jobRecord } from "../../fixtures/job.js";

export function queuedJob(site: SimSite, seq: number, now: number): JobRecord {
  return jobRecord(
    seq,
    {
      queue: "casper",
      name: `job${seq}`,
      owner: "alice@host",
      account: "P1",
      script: "#!/bin/bash\ntrue\n",
      submitHost: "host",
      rl: { ncpus: "2", nodect: "1", select: "1:ncpus=2", place: "pack", walltime: "00:10:00" },
      sel: [{ count: 1, ncpus: 2, mem: 0, ngpus: 0, mpiprocs: 1 }] as JobRecord["sel"],
      walltime: 600,
      ctime: now,
      qtime: now,
      mtime: now,
    },
    site.name,
  );
}

/** Past a transfer's deadline as the origin judges it (deadline + clock margin). */
const PAST_DEADLINE = TRANSFER_TIMEOUT_MS + CLOCK_MARGIN_MS + 1;

export type Op =
  | "deliver"
  | "dup"
  | "drop"
  | "crash"
  | "hold"
  | "release"
  | "tick"
  | "jump"
  | "sweepOrigin"
  | "sweepReceiver"
  | "runRemote"
  | "runLocal"
  | "offer"
  | "push"
  | "concurrent"
  | "lateAccept";

export interface Step {
  op: Op;
  pick: number;
  /** tick: dt % 4000 ms; jump: 8000 + dt ms (past resend backoffs, often past deadlines) */
  dt: number;
  /** crash variants, the second act of `concurrent`, and the interleaving of its store calls */
  seed: number;
}

const weighted: [Op, number][] = [
  ["deliver", 10],
  ["dup", 2],
  ["drop", 1],
  ["crash", 2],
  ["hold", 1],
  ["release", 1],
  ["tick", 3],
  ["jump", 2],
  ["sweepOrigin", 2],
  ["sweepReceiver", 2],
  ["runRemote", 2],
  ["runLocal", 1],
  ["offer", 1],
  ["push", 2],
  ["concurrent", 4],
  ["lateAccept", 1],
];

export const StepArb: fc.Arbitrary<Step> = fc.record({
  op: fc.oneof(...weighted.map(([op, weight]) => ({ arbitrary: fc.constant(op), weight }))),
  pick: fc.nat(1_000_000),
  dt: fc.nat(30_000),
  seed: fc.nat(1_000_000),
});

/**
 * Schedules long enough that deadlines pass, backoffs expire and late answers meet new states:
 * how many plain jobs, how many subjobs the array job (ARRAY_SEQ) has (0: none), the steps.
 */
export const ScheduleArb = fc.tuple(
  fc.integer({ min: 1, max: 4 }),
  fc.integer({ min: 0, max: 3 }),
  fc.array(StepArb, { minLength: 20, maxLength: 150, size: "max" }),
);

/** The array job's number at casper (its subjobs: `100[1].casper`...). */
export const ARRAY_SEQ = 100;

/** What one schedule exercised (each counted once per schedule in the test's statistics). */
export interface Exercised {
  /** a transfer was timed out by the origin's sweep (T -> Q) */
  timedOut: boolean;
  /** an ACCEPT reached the origin after its transfer had been settled otherwise: answered ABORT */
  lateAccept: boolean;
  /** a transfer message (same type, transfer, receiver) was delivered more than once */
  duplicated: boolean;
  /** two handlers (or a handler and the sweep, a push, a run) ran at once on a site */
  concurrent: boolean;
  /** a job moved and ran at the receiver */
  moved: boolean;
  /** a handler crashed between its writes and its sends */
  crashed: boolean;
  /** an array subjob moved, ran at the receiver and was counted on its array at home */
  subjobMoved: boolean;
}

/** xorshift32: the interleaving of one concurrent step, from the schedule's seed. */
function prng(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

export class SafetyError extends Error {}

export interface SimResult {
  casper: SimSite;
  derecho: SimSite;
  net: Network;
  localRuns: Map<string, number>;
  remoteRuns: Map<string, number>;
  exercised: Exercised;
}

export async function simulate(nJobs: number, steps: Step[], nSubjobs = 0): Promise<SimResult> {
  const clock = { t: 1_000_000 };
  const net = new Network();
  const sites = makeFederation(clock, net);
  const [casper, derecho] = sites;
  // Each site's resend counts live in its context's pacing, new with the federation.
  for (let i = 1; i <= nJobs; i++) await casper.store.createJob(queuedJob(casper, i, clock.t));
  if (nSubjobs > 0) {
    const indices = Array.from({ length: nSubjobs }, (_, i) => i + 1);
    await casper.store.createJob({
      ...queuedJob(casper, ARRAY_SEQ, clock.t),
      id: `${ARRAY_SEQ}[].casper`,
      array: { range: `1-${nSubjobs}`, indices, next: 0, running: 0, done: 0, failed: 0 },
    });
  }
  const peer = casper.ctx.peers?.get("derecho");
  if (!peer) throw new Error("casper has no peer derecho");
  const take = (pick: number, from = net.inflight) => from.splice(pick % from.length, 1)[0];
  const localRuns = new Map<string, number>();
  const remoteRuns = new Map<string, number>();
  /** transfers whose ABORT the receiver has applied: no copy of them may exist afterwards */
  const abortedThere = new Set<string>();
  const deliveredOnce = new Set<string>();
  const ex: Exercised = {
    timedOut: false,
    lateAccept: false,
    duplicated: false,
    concurrent: false,
    moved: false,
    crashed: false,
    subjobMoved: false,
  };

  const note = (d: Delivered, to: string) => {
    const b = d.body;
    if ("transferId" in b) {
      const k = `${to}/${b.type}/${b.transferId}`;
      if (deliveredOnce.has(k)) ex.duplicated = true;
      deliveredOnce.add(k);
    }
    if (d.failed || d.refused) return;
    if (b.type === "ABORT" && to === "derecho") abortedThere.add(b.transferId);
    if (b.type === "ACCEPT" && d.sent.some((w) => bodyOf(w).type === "ABORT")) ex.lateAccept = true;
  };
  const send = async (w: Wire, crash: boolean, onto?: Wire[]) => {
    if (crash) ex.crashed = true;
    const d = await deliver(sites, net, w, crash, onto);
    note(d, w.to);
    return d;
  };
  const runLocal = async (pick: number) => {
    // the origin's own scheduler starts a queued job (Q only: T and M never run here); an
    // array stands for its next subjob, which starts as claimSubjobs starts it
    const q = [...casper.store.jobs.values()].filter(
      (j) => j.state === "Q" || (j.array && j.array.next < j.array.indices.length),
    );
    if (!q.length) return;
    const j = await casper.store.getJob(q[pick % q.length].key);
    if (!j) return;
    if (j.array) return startSubjobHere(j);
    if (j?.state !== "Q") return;
    let ended: JobRecord;
    try {
      ended = await casper.store.updateJob(j, {
        ...j,
        state: j.parentKey ? "X" : "F",
        exitStatus: 0,
        obittime: clock.t,
      });
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      return;
    }
    localRuns.set(j.id, (localRuns.get(j.id) ?? 0) + 1);
    if (ended.parentKey) await subjobEnded(casper.ctx, ended);
  };
  const startSubjobHere = async (parent: JobRecord) => {
    const a = parent.array;
    if (!a || a.next >= a.indices.length || (parent.state !== "Q" && parent.state !== "B")) return;
    const idx = a.indices[a.next];
    const sub = { ...instantiateSubjob(parent, idx, clock.t), state: "R" as const, stime: clock.t };
    try {
      await casper.store.transactJobs(
        [{ before: parent, after: { ...parent, state: "B", array: takeIndices(a, [idx]) } }],
        [sub],
      );
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      return;
    }
    localRuns.set(sub.id, (localRuns.get(sub.id) ?? 0) + 1);
    const ended = await casper.store.updateJob(sub, { ...sub, state: "X", exitStatus: 0, obittime: clock.t });
    await subjobEnded(casper.ctx, ended);
  };
  const runRemote = async (pick: number, crash: boolean) => {
    const q = [...derecho.store.jobs.values()].filter((j) => j.state === "Q");
    if (!q.length) return;
    const j = q[pick % q.length];
    if (!(await runToEnd(derecho, net, j.key, 1 + (pick % 50), crash))) return;
    const origin = j.inbound?.originId ?? `(no origin: ${j.id})`;
    remoteRuns.set(origin, (remoteRuns.get(origin) ?? 0) + 1);
    ex.moved = true;
  };
  const push = async (pick: number, out: Wire[] = net.inflight) => {
    // a queued job, or the array's next subjob (handed over as subjob-transit.ts does)
    const q = [...casper.store.jobs.values()].filter(
      (j) => j.state === "Q" || (j.array && j.array.next < j.array.indices.length),
    );
    if (!q.length) return false;
    const job = await casper.store.getJob(q[pick % q.length].key);
    if (!job) return false;
    if (job.array) {
      const a = job.array;
      const idx = a.indices.slice(a.next).find((i) => isUnstarted(job, i));
      if (idx === undefined) return false;
      const ctx = callCtx(casper, out);
      const steps = await forwardSubjobs(ctx, job, [idx], peer, "main", "push", false);
      await sendToPeerBatch(ctx, peer, steps.flatMap(sendsOf));
      return steps.length > 0;
    }
    return forwardJob(callCtx(casper, out), job, peer, "main", "push");
  };

  /** Run handlers at once; their store calls interleave in an order drawn from `seed`. */
  const concurrently = async (seed: number, ...acts: (() => Promise<unknown>)[]) => {
    const rnd = prng(seed);
    const yields = () => rnd() % 4;
    casper.store.yields = yields;
    derecho.store.yields = yields;
    try {
      await Promise.all(acts.map((a) => a()));
    } finally {
      casper.store.yields = undefined;
      derecho.store.yields = undefined;
    }
  };

  for (const s of steps) {
    switch (s.op) {
      case "deliver":
      case "dup":
      case "drop":
      case "crash": {
        if (!net.inflight.length) break;
        const w = take(s.pick);
        if (s.op === "drop") break;
        if (s.op === "dup") net.inflight.push({ ...w });
        await send(w, s.op === "crash");
        break;
      }
      case "hold":
        // delayed far beyond the rest: it comes back on a "release" step, or when the network heals
        if (net.inflight.length) net.held.push(take(s.pick));
        break;
      case "release":
        if (net.held.length) net.inflight.push(take(s.pick, net.held));
        break;
      case "tick":
        clock.t += s.dt % 4000;
        break;
      case "jump":
        clock.t += 8000 + s.dt;
        break;
      case "sweepOrigin":
        if (s.seed % 4 === 0) ex.crashed = true;
        await sweep(casper, net, s.seed % 4 === 0);
        break;
      case "sweepReceiver":
        if (s.seed % 4 === 0) ex.crashed = true;
        await sweep(derecho, net, s.seed % 4 === 0);
        break;
      case "runRemote":
        await runRemote(s.pick, s.seed % 5 === 0);
        break;
      case "runLocal":
        await runLocal(s.pick);
        break;
      case "offer":
        offerToCasper(net, `o${s.pick}`, 1 + (s.pick % 3), clock.t);
        break;
      case "push":
        await push(s.pick);
        break;
      case "concurrent": {
        // Two handlers at once on one site.
        if (!net.inflight.length) break;
        const w = take(s.pick);
        // The second act, on the same site: another message, the same one again (SQS may),
        // the outbox sweep, a push, or a run.
        const kind = (s.seed >>> 3) % 6;
        const here = w.to === "casper" ? casper : derecho;
        let second: () => Promise<unknown>;
        if (kind === 0 && net.inflight.length) {
          const w2 = take(s.pick >>> 4);
          second = () => send(w2, false);
        } else if (kind === 2 || kind === 3) second = () => sweep(here, net, false);
        else if (kind === 4) second = () => push(s.pick >>> 4);
        else if (kind === 5) second = () => (here === casper ? runLocal(s.pick) : runRemote(s.pick, false));
        else second = () => send({ ...w }, false);
        await concurrently(s.seed, () => send(w, false), second);
        ex.concurrent = true;
        break;
      }
      case "lateAccept": {
        // FORWARD delivered, the deadline passes, the origin's sweep times the transfer out
        // (T -> Q, ABORT sent), then the ACCEPT arrives: it must be answered ABORT.
        const out: Wire[] = [];
        if (!(await push(s.pick, out))) break;
        const fwd = out.find((w) => bodyOf(w).type === "FORWARD");
        if (!fwd) throw new Error("forwardJob sent no FORWARD");
        const answers: Wire[] = [];
        await send(fwd, false, answers);
        clock.t += PAST_DEADLINE + (s.dt % 5000);
        if (s.seed % 4 === 1) {
          // the ACCEPT and the origin's sweep at once, past the deadline: one of them decides
          const accept = answers.splice(0);
          await concurrently(
            s.seed,
            () => sweep(casper, net, false),
            ...accept.map((a) => () => send(a, false)),
          );
        } else {
          await sweep(casper, net, s.seed % 3 === 0); // its ABORT may be lost: the ACCEPT answers it too
        }
        if (s.seed % 2 === 0) await runLocal(s.pick); // and the job may start here meanwhile
        for (const a of answers) {
          if (s.seed % 5 === 0)
            net.inflight.push(a); // or the ACCEPT comes later still
          else await send(a, false);
        }
        break;
      }
    }
    assertSafe(casper, derecho, localRuns, remoteRuns, abortedThere);
  }

  // Heal: no more faults. Deliver everything, let time pass, sweep, run what was committed.
  net.inflight.push(...net.held.splice(0));
  for (let round = 0; round < 60; round++) {
    while (net.inflight.length) await send(net.inflight.shift() as Wire, false);
    for (const j of [...derecho.store.jobs.values()]) if (j.state === "Q") await runRemote(j.seq, false);
    clock.t += 4 * TRANSFER_TIMEOUT_MS;
    await sweep(casper, net, false);
    await sweep(derecho, net, false);
    assertSafe(casper, derecho, localRuns, remoteRuns, abortedThere);
    const pending =
      net.inflight.length +
      (await casper.store.queryTransfers()).length +
      (await derecho.store.queryTransfers()).length;
    if (!pending) break;
  }
  ex.timedOut = (casper.metrics.totals.TransfersTimedOut ?? 0) > 0;
  ex.subjobMoved = [...casper.store.jobs.values()].some(
    (j) => j.parentKey !== undefined && j.state === "M" && j.extra?.counted === "1",
  );
  return { casper, derecho, net, localRuns, remoteRuns, exercised: ex };
}

/**
 * What must hold after every step, faults or not: a job runs at most once in all (here or
 * there); a copy at the receiver is runnable only after COMMIT; a transfer the receiver has
 * aborted has no copy (a late FORWARD creates nothing, and no ABORT follows a COMMIT).
 */
function assertSafe(
  casper: SimSite,
  derecho: SimSite,
  localRuns: Map<string, number>,
  remoteRuns: Map<string, number>,
  abortedThere: Set<string>,
): void {
  for (const j of casper.store.jobs.values()) {
    const runs = (localRuns.get(j.id) ?? 0) + (remoteRuns.get(j.id) ?? 0);
    if (runs > 1) throw new SafetyError(`${j.id} ran ${runs} times`);
  }
  for (const j of derecho.store.jobs.values()) {
    if (!j.inbound) throw new SafetyError(`${j.id} at the receiver has no inbound transfer`);
    if (j.state !== "T" && !j.inbound.committed)
      throw new SafetyError(`${j.id} is ${j.state} at the receiver before COMMIT`);
    if (abortedThere.has(j.inbound.transferId))
      throw new SafetyError(`${j.id} exists at the receiver after ABORT of ${j.inbound.transferId}`);
  }
  // The array at home: every index it gave up (started here or handed to the peer) is a subjob
  // record; each is counted once its end is recorded, never before and never twice.
  const jobs = [...casper.store.jobs.values()];
  for (const p of jobs) {
    const a = p.array;
    if (!a) continue;
    const subs = jobs.filter((j) => j.parentKey === p.key);
    if (subs.length !== a.next)
      throw new SafetyError(`${p.id}: ${a.next} indices taken, ${subs.length} subjobs`);
    const counted = subs.filter((j) => j.extra?.counted === "1");
    if (a.done !== counted.length)
      throw new SafetyError(`${p.id}: done ${a.done}, ${counted.length} counted`);
    if (a.running + a.done !== a.next)
      throw new SafetyError(`${p.id}: running ${a.running} + done ${a.done} != taken ${a.next}`);
    for (const j of counted)
      if (!(j.state === "X" || (j.state === "M" && j.obittime !== undefined)))
        throw new SafetyError(`${j.id} counted on its array while ${j.state}`);
    if ((p.state === "F") !== (a.done === a.indices.length))
      throw new SafetyError(`${p.id} is ${p.state} with ${a.done} of ${a.indices.length} counted`);
  }
}
