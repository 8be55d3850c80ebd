/**
 * The dashboard with 10,000 finished jobs in history (written straight to the store, as a busy
 * site's history would be): the server pages and filters through the list index, and the page
 * loads in well under a second.
 */
import fs from "node:fs";
import { BatchWriteCommand } from "@aws-sdk/lib-dynamodb";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalSite } from "../../infra/local/runtime.js";
import type { JobRecord } from "../../shared/server/job.js";
import type { DynamoSiteStore } from "../../shared/adapters/dynamodb/index.js";
import { jobItem } from "../../shared/adapters/dynamodb/items.js";
import { type Stack, script, startStack } from "../integration/helpers.js";
import { authHeaders, launchBrowser, openAs, screenshot } from "./browser.js";
import { useCredentials } from "./browser.js";

const HISTORY = 10_000;
const FIRST = 1000;
let stack: Stack;
let site: LocalSite;
let browser: Browser;

async function writeHistory(template: JobRecord): Promise<void> {
  const items = Array.from({ length: HISTORY }, (_, i) => {
    const seq = FIRST + i;
    const user = i % 2 ? "alice" : "bob";
    return jobItem({
      ...template,
      id: `${seq}.casper`,
      key: String(seq),
      seq,
      user,
      owner: `${user}@localhost`,
      project: i % 3 ? "P1" : "P2",
      name: `hist${seq}`,
      script: "",
      env: {},
      state: "F",
      hist: [],
      ver: 1,
    });
  });
  // loading 20,000 finished jobs goes straight to the table (BatchWriteItem), not through the port
  const store = site.ctx.store as DynamoSiteStore;
  const batches: Record<string, unknown>[][] = [];
  for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
  const worker = async () => {
    for (let b = batches.shift(); b; b = batches.shift()) {
      let req: Record<string, unknown[]> | undefined = {
        [store.table]: b.map((Item) => ({ PutRequest: { Item } })),
      };
      while (req && Object.keys(req).length) {
        const r = await store.doc.send(new BatchWriteCommand({ RequestItems: req as never }));
        req = r.UnprocessedItems as typeof req;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

async function api<T>(path: string, user = "alice"): Promise<{ status: number; body: T }> {
  const r = await fetch(`${site.url}${path}`, { headers: authHeaders(user) });
  return { status: r.status, body: (await r.json()) as T };
}

type Page = { jobs: { id: string; attributes: Record<string, unknown> }[]; next: number | null };

beforeAll(async () => {
  stack = await startStack();
  useCredentials(stack.mq.credentials, stack.dir, stack.credential);
  site = stack.mq.sites[0];
  const id = (await stack.cli("qsub", [script(stack.dir, "t.pbs", "echo t\n")])).stdout.trim();
  await stack.waitState(id, ["F"]);
  await writeHistory((await site.ctx.store.getJob(id.split(".")[0]))!);
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.mq.stop();
  fs.rmSync(stack.dir, { recursive: true, force: true });
});

describe("dashboard at scale", () => {
  it("pages and filters jobs on the server, newest first, with a cursor", async () => {
    const p1 = await api<Page>("/v1/jobs?limit=50");
    expect(p1.status).toBe(200);
    expect(p1.body.jobs).toHaveLength(50);
    expect(p1.body.jobs[0].id).toBe(`${FIRST + HISTORY - 1}.casper`);
    const p2 = await api<Page>(`/v1/jobs?limit=50&before=${p1.body.next}`);
    expect(p2.body.jobs[0].id).toBe(`${FIRST + HISTORY - 51}.casper`);
    const f = await api<Page>("/v1/jobs?limit=20&user=bob&project=P2&state=F");
    expect(f.body.jobs).toHaveLength(20);
    for (const j of f.body.jobs) {
      expect(j.attributes.Job_Owner).toMatch(/^bob@/);
      expect(j.attributes.project).toBe("P2");
    }
    expect((await api<Page>("/v1/jobs?state=R&limit=10")).body).toEqual({ jobs: [], next: null });
    expect((await api<Page>("/v1/jobs?id=4321")).body.jobs.map((j) => j.id)).toEqual(["4321.casper"]);
    expect((await api<Page>("/v1/jobs?state=Z")).status).toBe(400);
  });

  it("loads the jobs page in well under a second and follows the filters", async () => {
    const me = await openAs(browser, "alice");
    const { page } = me;
    await page.goto(`${site.url}/ui/#/overview`); // warm: the browser's first start is not the page's
    await page.waitForSelector('body[data-ready="overview"]');
    const t0 = Date.now();
    await page.goto(`${site.url}/ui/#/jobs`);
    await page.waitForSelector('body[data-ready="jobs"]');
    const loadMs = Date.now() - t0;
    console.log(`dashboard: jobs page with ${HISTORY} jobs in history loaded in ${loadMs} ms`);
    expect(await page.locator("tr[data-job]").count()).toBe(50);
    expect(loadMs).toBeLessThan(1000);
    await page.getByRole("button", { name: "Load more" }).click();
    await expect.poll(() => page.locator("tr[data-job]").count()).toBe(100);
    await page.getByLabel("user").fill("bob");
    await page.getByLabel("job ID").press("Enter");
    await page.waitForURL(/user=bob/);
    await expect.poll(() => page.locator('tr[data-job="10998.casper"]').count()).toBe(1);
    expect(await page.locator('tr[data-job="10999.casper"]').count()).toBe(0);
    await page.goto(`${site.url}/ui/#/charts`);
    await page.waitForSelector('body[data-ready="charts"]');
    await page.locator('[data-empty="allocations"]').waitFor();
    expect(await page.locator("svg.chart").count()).toBeGreaterThanOrEqual(2);
    await screenshot(page, "dashboard-charts");
    expect(me.errors.filter((e) => !/404/.test(e))).toEqual([]);
    await me.context.close();
  }, 90_000);

  it("a view still loading when the user moves on neither takes the page back nor keeps polling", async () => {
    const me = await openAs(browser, "alice");
    const { page } = me;
    await page.goto(`${site.url}/ui/#/charts`);
    await page.waitForSelector('body[data-ready="charts"]');
    // hold the jobs view's first page until the charts view has loaded, so the jobs route ends last
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let jobsRequests = 0;
    await page.route("**/v1/jobs?**", async (route) => {
      jobsRequests++;
      await held;
      await route.continue();
    });
    await page.evaluate(() => {
      location.hash = "#/jobs?user=bob";
    });
    await expect.poll(() => jobsRequests).toBe(1);
    await page.evaluate(() => {
      location.hash = "#/charts";
    });
    await page.waitForSelector('body[data-ready="charts"]');
    release();
    // the jobs view's poller would ask again after 3 s: give it 4
    await page.waitForTimeout(4000);
    expect(await page.evaluate(() => document.body.dataset.ready)).toBe("charts");
    expect(await page.locator("tr[data-job]").count()).toBe(0);
    expect(jobsRequests).toBe(1);
    expect(me.errors.filter((e) => !/404/.test(e))).toEqual([]);
    await me.context.close();
  }, 60_000);
});
