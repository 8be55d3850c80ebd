/**
 * Dormancy on the real local stack (DynamoDB Local, the SQS emulator, child-process MOMs, the
 * real CLI): an idle site stops consuming its queues once it has had no work for
 * intakeSleepAfterMs (here the shortest allowed, MIN_SLEEP_AFTER_MS), a message put on its
 * scheduler queue meanwhile stays there, and a qsub wakes it: the job runs to its end, and the
 * waiting message is consumed.
 */
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIN_SLEEP_AFTER_MS } from "../../shared/server/dormancy.js";
import { queueDepth, type Stack, startStack } from "./helpers.js";

let s: Stack;

beforeAll(async () => {
  // 1 ms asks for the shortest sleep the races allow (dormancy.ts MIN_SLEEP_AFTER_MS)
  s = await startStack(undefined, undefined, { settings: { intakeSleepAfterMs: 1 } });
}, 90_000);

afterAll(async () => {
  await s?.mq.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitIntake(state: string, timeoutMs: number): Promise<void> {
  const site = s.mq.sites[0];
  const end = Date.now() + timeoutMs;
  let last: string | undefined;
  while (Date.now() < end) {
    last = (await site.ctx.store.getIntake())?.state;
    if (last === state) return;
    await sleep(500);
  }
  throw new Error(`intake not ${state} after ${timeoutMs} ms (last: ${last})`);
}

const waiting = (queueUrl: string) => queueDepth(s.mq.sites[0].sqs, queueUrl);

describe("an idle local site", () => {
  it(
    "sleeps after the idle time, keeps what comes to its queues, and a qsub wakes it and runs the job",
    async () => {
      const site = s.mq.sites[0];
      const first = await s.cli("qsub", ["--", "/bin/true"]);
      expect(first.code, first.stderr).toBe(0);
      await s.waitState(first.stdout.trim(), ["F"]);
      const idleFrom = Date.now();
      await waitIntake("draining", 20_000);
      await waitIntake("asleep", MIN_SLEEP_AFTER_MS + 30_000);
      // never before the idle time
      expect(Date.now() - idleFrom).toBeGreaterThanOrEqual(MIN_SLEEP_AFTER_MS - 5_000);

      // the pause lets each consumer's long poll (10 s) run out rather than abandon it
      await sleep(11_000);
      // a cycle trigger put on the scheduler queue while it sleeps is not consumed
      const sched = site.ctx.queueUrls.sched;
      await site.sqs.send(
        new SendMessageCommand({
          QueueUrl: sched,
          MessageBody: JSON.stringify({ type: "cycle", partition: "default", reason: "probe" }),
          MessageGroupId: "default",
          MessageDeduplicationId: `probe-${Date.now()}`,
        }),
      );
      await sleep(12_000);
      expect(await waiting(sched)).toBe(1);
      // reads do not wake it
      expect((await s.cli("qstat", [])).code).toBe(0);
      expect((await site.ctx.store.getIntake())?.state).toBe("asleep");

      const r = await s.cli("qsub", ["--", "/bin/echo", "woken"]);
      expect(r.code, r.stderr).toBe(0);
      // woken: awake, or draining already (the intake runs in both): a tick may find no work
      // between the API's wake and its job write, or after the job has ended (CI, 2026-12-04:
      // "draining"); what shows the wake is the job running and the probe being consumed
      expect(["awake", "draining"]).toContain((await site.ctx.store.getIntake())?.state);
      await s.waitState(r.stdout.trim(), ["F"]);
      expect(await s.attr(r.stdout.trim(), "Exit_status")).toBe("0");
      // the probe waited for the wake, then was consumed like any trigger
      const end = Date.now() + 15_000;
      while ((await waiting(sched)) > 0 && Date.now() < end) await sleep(300);
      expect(await waiting(sched)).toBe(0);
    },
    MIN_SLEEP_AFTER_MS + 150_000,
  );
});
