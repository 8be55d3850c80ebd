/**
 * The dashboard in a real headless browser against a real two-site local metaqueue: jobs come
 * from the CLI, the page must show them (with a move), and its hold/release/delete buttons must
 * do what qhold/qrls/qdel do, for the people allowed to, as qstat then reports.
 */
import fs from "node:fs";
import os from "node:os";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../shared/config/site-config.js";
import type { LocalSite } from "../../infra/local/runtime.js";
import { type Stack, script, startStack } from "../integration/helpers.js";
import { launchBrowser, openAs, screenshot, type UserPage } from "./browser.js";
import { useCredentials } from "./browser.js";

const config = parseConfig({
  defaultSite: "casper",
  sites: [
    {
      name: "casper",
      server: "casper-pbs",
      queues: [{ name: "casper", attributes: { "resources_default.walltime": "00:10:00" } }],
      nodes: [{ name: "c1", ncpus: 2, mem: "4gb" }],
    },
    {
      name: "derecho",
      server: "desched1",
      queues: [{ name: "main", attributes: { "resources_default.walltime": "00:10:00" } }],
      nodes: [{ name: "d1", ncpus: 2, mem: "4gb" }],
    },
  ],
});

const ME = os.userInfo().username; // the CLI's user, and the sites' manager
let stack: Stack;
let browser: Browser;
let casper: LocalSite;

function unexpected(p: UserPage): string[] {
  return p.errors;
}

async function qsub(args: string[]): Promise<string> {
  const r = await stack.cli("qsub", args);
  expect(r.stderr).toBe("");
  return r.stdout.trim();
}

beforeAll(async () => {
  stack = await startStack(undefined, config);
  useCredentials(stack.mq.credentials, stack.dir, stack.credential);
  [casper] = stack.mq.sites;
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await stack?.mq.stop();
  fs.rmSync(stack.dir, { recursive: true, force: true });
});

describe("dashboard", () => {
  let runningId: string;
  let queuedId: string;

  it("shows every site, a moved job once with its path, and live output", async () => {
    const ticker = script(
      stack.dir,
      "tick.pbs",
      "#PBS -N ticker\n#PBS -l select=1:ncpus=2\nfor i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25; do echo tick $i; sleep 1; done\n",
    );
    runningId = await qsub([ticker]);
    await stack.waitState(runningId, ["R"]);
    queuedId = await qsub([
      "-N",
      "waiter",
      "-l",
      "select=1:ncpus=1",
      script(stack.dir, "w.pbs", "echo hi\n"),
    ]);
    // a real move: while casper is full, push a queued job to derecho (qmove to a peer queue:
    // FORWARD, ACCEPT, COMMIT); the job keeps its ID at both sites, and runs at derecho (exec_site)
    const originId = await qsub([
      "-N",
      "pushed",
      "-l",
      "select=1:ncpus=1",
      script(stack.dir, "p.pbs", "echo peer\n"),
    ]);
    const mv = await stack.cli("qmove", ["main@desched1", originId]);
    expect(mv.stderr).toBe("");
    // qstat at the origin knows where it runs, under the ID qsub printed
    await expect
      .poll(
        async () => {
          const r = await stack.cli("qstat", ["-x", "-f", "-F", "json", originId]);
          return JSON.parse(r.stdout || "{}").Jobs?.[originId]?.exec_site;
        },
        { timeout: 20_000 },
      )
      .toBe("derecho");
    await stack.waitState(originId, ["F"]);
    const me = await openAs(browser, ME);
    const { page } = me;
    await page.goto(`${casper.url}/ui/`);
    await page.waitForSelector('body[data-ready="overview"]');
    await page.waitForSelector('[data-site="derecho"] [data-health="connected"]');
    const cq = page.locator('[data-site="casper"] tr[data-queue="casper"]');
    await expect.poll(() => cq.locator('[data-count="running"]').textContent()).toBe("1");
    await expect.poll(() => cq.locator('[data-count="queued"]').textContent()).toBe("1");
    expect(await page.locator('[data-site="casper"]').textContent()).toContain("c1");

    await page.goto(`${casper.url}/ui/#/jobs`);
    const moved = page.locator(`tr[data-job="${originId}"]`);
    await moved.waitFor();
    expect(await moved.locator(".path").textContent()).toBe(`${originId}: casper -> derecho`);
    expect(await moved.locator("[data-state]").textContent()).toBe("F");
    expect(await moved.count()).toBe(1);

    // the running job's detail: attributes and output that follows the file
    await page.locator(`tr[data-job="${runningId}"] a`).click();
    await page.waitForSelector('body[data-ready="job"]');
    await page.getByRole("rowheader", { name: "Job_Name" }).waitFor();
    const out = page.locator("pre.out");
    await expect.poll(() => out.textContent(), { timeout: 10_000 }).toContain("tick 2");
    const before = (await out.textContent())!.length;
    await expect
      .poll(async () => (await out.textContent())!.length, { timeout: 10_000 })
      .toBeGreaterThan(before);
    await screenshot(page, "dashboard-job");
    expect(unexpected(me), unexpected(me).join("\n")).toEqual([]);
    await me.context.close();
  }, 60_000);

  it("holds, releases and deletes with confirmation, as qstat shows", async () => {
    const me = await openAs(browser, ME);
    const { page } = me;
    await page.goto(`${casper.url}/ui/#/jobs`);
    const row = page.locator(`tr[data-job="${queuedId}"]`);
    const click = async (action: string) => {
      await row.locator(`button[data-action="${action}"]:not([disabled])`).click();
      await page.locator("#confirm-ok").click();
    };
    await click("hold");
    await stack.waitState(queuedId, ["H"], 10_000);
    await expect.poll(() => row.locator("[data-state]").textContent()).toBe("H");
    await click("release");
    await stack.waitState(queuedId, ["Q", "R"], 10_000);
    // Cancel does nothing
    await row.locator('button[data-action="delete"]').click();
    await page.keyboard.press("Escape");
    expect(await stack.attr(queuedId, "job_state")).toMatch(/^[QR]$/);
    await click("delete");
    await stack.waitState(queuedId, ["F"], 20_000);
    await screenshot(page, "dashboard-jobs");

    // a phone's width: nothing wider than the screen but the scrolling tables
    await page.setViewportSize({ width: 390, height: 800 });
    await page.goto(`${casper.url}/ui/#/overview`);
    await page.waitForSelector('[data-site="derecho"]');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(page, "dashboard-phone");
    // keyboard: the nav links are reachable with Tab and open their view with Enter
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press("Tab");
      if ((await page.evaluate(() => document.activeElement?.textContent)) === "Jobs") break;
    }
    await page.keyboard.press("Enter");
    await page.waitForSelector('body[data-ready="jobs"]');
    expect(unexpected(me)).toEqual([]);
    await me.context.close();
  }, 60_000);

  it("lets a user act on their own jobs only, through the page and its API calls", async () => {
    const alice = await openAs(browser, "alice");
    const { page } = alice;
    const target = await qsub(["-h", "-N", "notalice", script(stack.dir, "n.pbs", "echo n\n")]);
    await page.goto(`${casper.url}/ui/#/jobs`);
    const row = page.locator(`tr[data-job="${target}"]`);
    await row.waitFor();
    expect(await row.locator("button").count()).toBe(0);
    // the same calls the buttons make, from the page, are refused by the API
    const statuses = await page.evaluate(async (id) => {
      const del = await fetch(`/v1/jobs/${id}`, { method: "DELETE" });
      const hold = await fetch(`/v1/jobs/${id}/release`, { method: "POST", body: "{}" });
      const out = await fetch(`/v1/jobs/${id}/output`);
      return [del.status, hold.status, out.status];
    }, target);
    expect(statuses).toEqual([403, 403, 403]);
    expect(await stack.attr(target, "job_state")).toBe("H");

    // the submit form: the CLI's parser and messages, then alice's own job, which she may delete
    await page.goto(`${casper.url}/ui/#/submit`);
    await page.getByLabel("qsub options").fill("-l walltime=abc");
    await page.getByLabel(/working directory/).fill(stack.dir);
    await page.getByRole("button", { name: "Submit" }).click();
    const cliErr = await stack.cli("qsub", ["-l", "walltime=abc", script(stack.dir, "x.pbs", "echo x\n")]);
    const err = (await page.getByRole("alert").textContent())!;
    expect(err.startsWith("qsub: ")).toBe(true);
    expect(cliErr.stderr).toContain(err);
    await page.getByLabel("qsub options").fill("-h -N mine");
    await page.getByRole("button", { name: "Submit" }).click();
    const mine = (await page.locator("[data-submitted]").getAttribute("data-submitted"))!;
    expect(await stack.attr(mine, "Job_Owner")).toMatch(/^alice@/);
    await page.goto(`${casper.url}/ui/#/jobs?user=alice`);
    const mineRow = page.locator(`tr[data-job="${mine}"]`);
    await mineRow.locator('button[data-action="delete"]').click();
    await page.locator("#confirm-ok").click();
    await stack.waitState(mine, ["F"], 10_000);
    await alice.context.close();
  }, 60_000);
});
