/**
 * One job: every PBS attribute, its history (tracejob), dependencies both ways, and the tail of
 * its stdout/stderr, which follows the file (new bytes every second) while the job runs.
 */
// the same formatter as qstat -f and the API (pure, so the browser bundle takes it as is); the
// browser's local time, as a PBS command prints in the local time of where it runs
import { ctime } from "../../shared/pbs/time.js";
import type { JobDeps, JobResponse, OutputTail, TraceResponse } from "../../shared/api/views.js";
import { ApiError, apiFetch, baseOf, type JobView } from "./api.js";
import { actionButtons } from "./actions.js";
import { append, h } from "./dom.js";
import { every, siteOfJob } from "./state.js";

const jobLink = (id: string) => h("a", { href: `#/job/${encodeURIComponent(id)}` }, id);

function flatten(attrs: JobView["attributes"]): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(attrs).sort(([a], [b]) => a.localeCompare(b))) {
    if (v && typeof v === "object")
      for (const [c, cv] of Object.entries(v)) out.push([`${k}.${c}`, String(cv)]);
    else out.push([k, String(v)]);
  }
  return out;
}

export async function renderJob(main: HTMLElement, id: string): Promise<() => void> {
  const site = siteOfJob(id);
  if (!site) {
    main.replaceChildren(h("p", { class: "error" }, `no site for job ${id}`));
    return () => {};
  }
  const base = baseOf(site);
  const enc = encodeURIComponent(id);
  const head = h("div");
  const attrs = h("tbody");
  const deps = h("div");
  const trace = h("tbody");
  const out = h("pre", { class: "out", tabindex: 0, "aria-label": "job output", "aria-live": "off" });
  const outInfo = h("p", { class: "muted" });
  let stream: "o" | "e" = "o";
  let offset = 0;
  const streamBtn = (s: "o" | "e", label: string) =>
    h(
      "button",
      {
        type: "button",
        "aria-pressed": s === stream ? "true" : "false",
        "data-stream": s,
        onclick: async (e: Event) => {
          stream = s;
          offset = 0;
          out.textContent = "";
          for (const b of (e.target as HTMLElement).parentElement?.querySelectorAll("button") ?? [])
            b.setAttribute("aria-pressed", b === e.target ? "true" : "false");
          await tail();
        },
      },
      label,
    );
  main.replaceChildren(
    head,
    h(
      "div",
      { class: "grid2" },
      h(
        "section",
        { "aria-labelledby": "h-attrs" },
        h("h3", { id: "h-attrs" }, "Attributes"),
        h("div", { class: "scroll" }, h("table", {}, attrs)),
      ),
      h(
        "div",
        {},
        h("section", { "aria-labelledby": "h-deps" }, h("h3", { id: "h-deps" }, "Dependencies"), deps),
        h(
          "section",
          { "aria-labelledby": "h-out" },
          h("h3", { id: "h-out" }, "Output"),
          h(
            "div",
            { class: "actions", role: "group", "aria-label": "stream" },
            streamBtn("o", "stdout"),
            streamBtn("e", "stderr"),
          ),
          outInfo,
          out,
        ),
        h(
          "section",
          { "aria-labelledby": "h-trace" },
          h("h3", { id: "h-trace" }, "History (tracejob)"),
          h("div", { class: "scroll" }, h("table", {}, trace)),
        ),
      ),
    ),
  );
  let running = false;
  // output exists only for a job that ran: the API answers 404 for one that never did
  let ran = false;
  let lastJob = "";
  const load = async () => {
    let job: JobView;
    try {
      job = (await apiFetch<JobResponse>(base, `/v1/jobs/${enc}?history=1`)).job;
    } catch (e) {
      head.replaceChildren(h("h2", {}, `Job ${id}`), h("p", { class: "error" }, (e as Error).message));
      return;
    }
    const a = (k: string) => (job.attributes[k] === undefined ? "" : String(job.attributes[k]));
    running = a("job_state") === "R" || a("job_state") === "E";
    ran = running || a("job_state") === "F" || a("job_state") === "X";
    // unchanged: leave the page (and the keyboard focus) alone
    const sig = JSON.stringify(job);
    if (sig === lastJob) return;
    lastJob = sig;
    head.replaceChildren();
    append(head, [
      h("h2", {}, `Job ${job.id} `, h("span", { class: "muted" }, a("Job_Name"))),
      h(
        "p",
        {},
        "state ",
        h("strong", { "data-detail-state": a("job_state") }, a("job_state")),
        ` at ${site.short} · owner ${a("Job_Owner")} · queue ${a("queue")} `,
        actionButtons(job.id, site.short, a("Job_Owner"), a("job_state"), () => void load()),
      ),
      // a moved job keeps its ID; where it runs is exec_site
      a("exec_site") && a("exec_site") !== job.id.slice(job.id.indexOf(".") + 1)
        ? h("p", { class: "path" }, `moved: ${job.id.slice(job.id.indexOf(".") + 1)} -> ${a("exec_site")}`)
        : null,
      a("comment") ? h("p", { class: "muted" }, a("comment")) : null,
    ]);
    attrs.replaceChildren(
      ...flatten(job.attributes).map(([k, v]) =>
        h("tr", {}, h("th", { scope: "row" }, k), h("td", { class: "wrap" }, v)),
      ),
    );
    const [tr, dp] = await Promise.all([
      apiFetch<TraceResponse>(base, `/v1/jobs/${enc}/trace`).catch((): TraceResponse => ({ events: [] })),
      apiFetch<JobDeps>(base, `/v1/jobs/${enc}/deps`).catch(() => undefined),
    ]);
    trace.replaceChildren(
      ...tr.events.map((ev) =>
        h(
          "tr",
          {},
          h("td", {}, ctime(ev.time)),
          h("td", {}, ev.source),
          h("td", { class: "wrap" }, ev.message),
        ),
      ),
    );
    deps.replaceChildren(
      dp && (dp.dependsOn.length || dp.dependents.length)
        ? h(
            "ul",
            {},
            dp.dependsOn.map((d) =>
              h("li", {}, `depends on (${d.type}) `, jobLink(d.jobId), d.pending ? " · waiting" : " · met"),
            ),
            dp.dependents.map((d) => h("li", {}, `needed by (${d.type}) `, jobLink(d.jobId))),
          )
        : h("p", { class: "muted" }, "none"),
    );
  };
  const tail = async () => {
    if (!ran) {
      outInfo.textContent = "no output yet";
      return;
    }
    try {
      const from = offset ? `&from=${offset}` : "";
      const t = await apiFetch<OutputTail>(base, `/v1/jobs/${enc}/output?stream=${stream}${from}`);
      if (!t.exists) {
        outInfo.textContent = `${t.path}: no file yet`;
        return;
      }
      if (t.offset < offset || !offset) out.textContent = t.text;
      else out.textContent += t.text;
      offset = t.offset + new TextEncoder().encode(t.text).length;
      outInfo.textContent = `${t.path}${t.joined ? " (joined with the other stream)" : ""} · ${t.size} bytes${t.running ? " · following" : ""}${
        t.partial && t.asOf
          ? ` · snapshot of ${new Date(t.asOf).toLocaleTimeString()}, uploaded while running`
          : ""
      }`;
      out.scrollTop = out.scrollHeight;
    } catch (e) {
      outInfo.textContent = e instanceof ApiError ? e.message : String(e);
    }
  };
  await load();
  await tail();
  const stopA = every(3000, load);
  const stopB = every(1000, async () => {
    if (running) await tail();
  });
  return () => {
    stopA();
    stopB();
  };
}
