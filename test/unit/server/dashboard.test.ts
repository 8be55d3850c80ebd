/** The dashboard's pure parts: moved-job merging, chart samples, the page's routes and CORS. */
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { publicWebRoute, withCors } from "../../../shared/api/web-routes.js";
import type { SiteContext } from "../../../shared/server/context.js";
import type { JobRecord } from "../../../shared/server/job.js";
import { sampleOf } from "../../../shared/server/stats.js";
import { mergeMoved } from "../../../web/src/jobs.js";

const job = (id: string, attrs: Record<string, string>) => ({
  id,
  attributes: { job_state: "Q", ctime: "Sun Nov 29 10:00:00 2026", ...attrs },
});

describe("mergeMoved", () => {
  it("shows a moved job once, under its ID, from the site that runs it, with its path", () => {
    const rows = mergeMoved([
      { site: "casper", job: job("123.casper", { job_state: "R", exec_site: "derecho" }) },
      {
        site: "derecho",
        job: job("123.casper", { job_state: "R", exec_site: "derecho", origin_job: "123.casper" }),
      },
      { site: "casper", job: job("124.casper", { ctime: "Sun Nov 29 10:05:00 2026" }) },
    ]);
    expect(rows.map((r) => [r.id, r.site, r.path, r.a.job_state])).toEqual([
      ["124.casper", "casper", undefined, "Q"],
      ["123.casper", "derecho", "123.casper: casper -> derecho", "R"],
    ]);
  });

  it("keeps the origin's record, with its path, when the copy is not in view", () => {
    const rows = mergeMoved([
      { site: "casper", job: job("123.casper", { job_state: "R", exec_site: "derecho" }) },
    ]);
    expect(rows.map((r) => [r.site, r.path])).toEqual([["casper", "123.casper: casper -> derecho"]]);
  });
});

describe("sampleOf", () => {
  it("counts queued, running, held and moved-in jobs for the minute", () => {
    const js = [
      { state: "Q" },
      { state: "W" },
      { state: "R", extra: { origin_job: "1.casper" } },
      { state: "H" },
      { state: "E" },
    ] as unknown as JobRecord[];
    expect(sampleOf(js, 125_000)).toEqual({
      t: 120_000,
      queued: 2,
      running: 2,
      held: 1,
      movedIn: { casper: 1 },
    });
  });
});

const ctx = {
  peers: new Map([
    [
      "derecho",
      { short: "derecho", server: "desched1", inboxUrl: "", secret: "", apiUrl: "http://127.0.0.1:9002" },
    ],
  ]),
} as unknown as SiteContext;
const ev = (method: string, path: string, headers: Record<string, string> = {}) =>
  ({ rawPath: path, headers, requestContext: { http: { method } } }) as unknown as APIGatewayProxyEventV2;

describe("dashboard routes", () => {
  it("redirects / to /ui/ and serves the built page with a strict CSP naming the peers", () => {
    expect(publicWebRoute(ctx, ev("GET", "/"))?.headers?.location).toBe("/ui/");
    const page = publicWebRoute(ctx, ev("GET", "/ui/"));
    expect(page?.statusCode).toBe(200);
    expect(page?.body).toContain('<script type="module" src="app.js">');
    expect(String(page?.headers?.["content-security-policy"])).toContain(
      "connect-src 'self' http://127.0.0.1:9002",
    );
    expect(publicWebRoute(ctx, ev("GET", "/ui/app.js"))?.headers?.["content-type"]).toMatch(/javascript/);
    expect(publicWebRoute(ctx, ev("GET", "/ui/nope.js"))?.statusCode).toBe(404);
    expect(publicWebRoute(ctx, ev("GET", "/v1/jobs"))).toBeUndefined();
  });

  it("answers CORS for peers' dashboards only", () => {
    const peer = withCors(ctx, ev("OPTIONS", "/v1/jobs", { origin: "http://127.0.0.1:9002" }), {
      statusCode: 204,
    });
    expect(peer.headers?.["access-control-allow-origin"]).toBe("http://127.0.0.1:9002");
    expect(String(peer.headers?.["access-control-allow-headers"])).toContain("authorization");
    const other = withCors(ctx, ev("GET", "/v1/jobs", { origin: "http://evil.example" }), {
      statusCode: 200,
    });
    expect(other.headers?.["access-control-allow-origin"]).toBeUndefined();
  });
});
