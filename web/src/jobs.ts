/**
 * Jobs across every site: filters and the job-ID search run on each site's server (GET /v1/jobs
 * with limit/before/state/user/queue/project/id), 50 jobs a page per site, newest first, merged
 * here. A moved job shows once: the origin's record and the copy at the executing site share
 * its ID and become one row with its path, its state where it is now, linked there.
 */
import type { JobPageResponse } from "../../shared/api/views.js";
import { apiFetch, baseOf, type JobView, type SiteInfo } from "./api.js";
import { actionButtons } from "./actions.js";
import { h, status } from "./dom.js";
import { app, every } from "./state.js";

const PAGE = 50;
const FILTERS = ["site", "queue", "user", "state", "project", "id"] as const;
type Filters = Partial<Record<(typeof FILTERS)[number], string>>;

export interface Row {
  id: string;
  site: string;
  path?: string;
  a: JobView["attributes"];
  t: number;
}

const attr = (j: JobView, k: string) => (j.attributes[k] === undefined ? "" : String(j.attributes[k]));

/**
 * One row per job, following moves; pure so it is easy to reason about. A moved job keeps its
 * ID, so its origin's record and the copy where it runs (and a relay's, on a second hop) share
 * it: one row, from the site that runs it (`exec_site` is that site), with the path.
 */
export function mergeMoved(jobs: { site: string; job: JobView }[]): Row[] {
  const runsIt = (x: { site: string; job: JobView }) => attr(x.job, "exec_site") === x.site;
  const byId = new Map<string, { site: string; job: JobView }>();
  for (const x of jobs) {
    const cur = byId.get(x.job.id);
    if (!cur || (runsIt(x) && !runsIt(cur))) byId.set(x.job.id, x);
  }
  const rows: Row[] = [];
  for (const { site, job } of byId.values()) {
    const home = job.id.slice(job.id.indexOf(".") + 1);
    const exec = attr(job, "exec_site");
    const path = exec && exec !== home ? `${job.id}: ${home} -> ${exec}` : undefined;
    rows.push({ id: job.id, site, path, a: job.attributes, t: Date.parse(attr(job, "ctime")) || 0 });
  }
  return rows.sort((p, q) => q.t - p.t || q.id.localeCompare(p.id));
}

function readFilters(): Filters {
  const q = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const f: Filters = {};
  for (const k of FILTERS) {
    const v = q.get(k);
    if (v) f[k] = v;
  }
  return f;
}

function query(f: Filters, before?: number): string {
  const p = new URLSearchParams({ limit: String(PAGE), history: "1" });
  for (const k of ["queue", "user", "state", "project", "id"] as const) if (f[k]) p.set(k, f[k] as string);
  if (before) p.set("before", String(before));
  return p.toString();
}

export async function renderJobs(main: HTMLElement): Promise<() => void> {
  const f = readFilters();
  const input = (name: keyof Filters, label: string, extra: Record<string, string> = {}) =>
    h("label", {}, label, h("input", { name, value: f[name] ?? "", size: 10, ...extra }));
  const siteSel = h(
    "select",
    { name: "site" },
    h("option", { value: "" }, "all sites"),
    app.sites.map((s) => h("option", { value: s.short, selected: f.site === s.short }, s.short)),
  );
  const stateSel = h(
    "select",
    { name: "state" },
    [
      ["", "any"],
      ["Q", "queued (Q)"],
      ["R", "running (R)"],
      ["H", "held (H)"],
      ["W", "waiting (W)"],
      ["E", "exiting (E)"],
      ["F", "finished (F)"],
      ["M", "moved (M)"],
      ["Q,H,W,R,E,T,B", "not finished"],
    ].map(([v, t]) => h("option", { value: v, selected: (f.state ?? "") === v }, t)),
  );
  const form = h(
    "form",
    {
      class: "filters",
      role: "search",
      onsubmit: (e: Event) => {
        e.preventDefault();
        const fd = new FormData(e.target as HTMLFormElement);
        const p = new URLSearchParams();
        for (const k of FILTERS) {
          const v = String(fd.get(k) ?? "").trim();
          if (v) p.set(k, v);
        }
        location.hash = `#/jobs${p.size ? `?${p}` : ""}`;
      },
    },
    h("label", {}, "site", siteSel),
    input("queue", "queue"),
    input("user", "user"),
    h("label", {}, "state", stateSel),
    input("project", "project"),
    input("id", "job ID", { type: "search", placeholder: "123.casper" }),
    h("button", { type: "submit", class: "primary" }, "Filter"),
  );
  const tbody = h("tbody");
  const more = h("button", { type: "button", hidden: true }, "Load more");
  const count = h("p", { class: "muted", "aria-live": "polite" });
  main.replaceChildren(
    h("h2", {}, "Jobs"),
    form,
    count,
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        { "aria-label": "jobs" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, "job ID"),
            h("th", { scope: "col" }, "name"),
            h("th", { scope: "col" }, "user"),
            h("th", { scope: "col" }, "state"),
            h("th", { scope: "col" }, "queue"),
            h("th", { scope: "col", class: "hide-narrow" }, "project"),
            h("th", { scope: "col", class: "hide-narrow" }, "site / path"),
            h("th", { scope: "col" }, "actions"),
          ),
        ),
        tbody,
      ),
    ),
    more,
  );
  const sites: SiteInfo[] = app.sites.filter((s) => !f.site || s.short === f.site);
  // pages loaded so far per site, and each site's cursor
  const loaded = new Map<string, JobView[]>();
  const cursor = new Map<string, number | null>();
  const fetchPage = async (s: SiteInfo, before?: number) => {
    const r = await apiFetch<JobPageResponse>(baseOf(s), `/v1/jobs?${query(f, before)}`);
    return r;
  };
  let shown = "";
  const draw = () => {
    const all = [...loaded.entries()].flatMap(([site, jobs]) => jobs.map((job) => ({ site, job })));
    const rows = mergeMoved(all);
    // Redraw only what changed, and give focus back to the same button: a keyboard user's place
    // in the table survives the refresh.
    const sig = JSON.stringify(rows.map((r) => [r.id, r.path, r.a.job_state, r.a.Job_Name, r.a.queue]));
    more.hidden = ![...cursor.values()].some((c) => c);
    if (sig === shown) return;
    shown = sig;
    const focused = document.activeElement as HTMLElement | null;
    const focusKey = tbody.contains(focused)
      ? [focused?.closest("tr")?.getAttribute("data-job"), focused?.getAttribute("data-action")]
      : undefined;
    tbody.replaceChildren(
      ...rows.map((r) => {
        const a = (k: string) => (r.a[k] === undefined ? "" : String(r.a[k]));
        const owner = a("Job_Owner");
        return h(
          "tr",
          { "data-job": r.id },
          h("td", {}, h("a", { href: `#/job/${encodeURIComponent(r.id)}` }, r.id)),
          h("td", {}, a("Job_Name")),
          h("td", {}, owner.replace(/@.*$/, "")),
          h("td", { "data-state": a("job_state") }, a("job_state")),
          h("td", {}, a("queue")),
          h("td", { class: "hide-narrow" }, a("project")),
          h("td", { class: "hide-narrow path" }, r.path ?? r.site),
          h(
            "td",
            {},
            actionButtons(r.id, r.site, owner, a("job_state"), () => void refresh()),
          ),
        );
      }),
    );
    count.textContent = rows.length ? `${rows.length} jobs shown` : "no jobs match";
    if (focusKey?.[0]) {
      const row = tbody.querySelector(`tr[data-job="${CSS.escape(focusKey[0])}"]`);
      const el = (
        focusKey[1] ? row?.querySelector(`[data-action="${focusKey[1]}"]`) : row?.querySelector("a")
      ) as HTMLElement | null | undefined;
      el?.focus();
    }
  };
  /** Reload what is shown (first pages again, as many jobs per site as are shown now). */
  const refresh = async () => {
    await Promise.all(
      sites.map(async (s) => {
        try {
          const shown = loaded.get(s.short)?.length ?? 0;
          const pages: JobView[] = [];
          let r = await fetchPage(s);
          pages.push(...r.jobs);
          while (r.next && pages.length < shown) {
            r = await fetchPage(s, r.next);
            pages.push(...r.jobs);
          }
          loaded.set(s.short, pages);
          cursor.set(s.short, r.next ?? null);
        } catch (e) {
          status(`${s.short}: ${(e as Error).message}`);
        }
      }),
    );
    draw();
  };
  more.addEventListener("click", async () => {
    await Promise.all(
      sites.map(async (s) => {
        const c = cursor.get(s.short);
        if (!c) return;
        const r = await fetchPage(s, c);
        loaded.set(s.short, [...(loaded.get(s.short) ?? []), ...r.jobs]);
        cursor.set(s.short, r.next ?? null);
      }),
    );
    draw();
  });
  await refresh();
  return every(3000, refresh);
}
