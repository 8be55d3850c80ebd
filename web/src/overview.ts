/** Sites view: every site's health, queues, nodes and last scheduler cycle; refreshed every 3 s. */
import type { Overview, Usage } from "../../shared/api/views.js";
import { apiFetch, baseOf, type SiteInfo } from "./api.js";
import { fmtAgo, fmtBytes, h } from "./dom.js";
import { app, every } from "./state.js";

function bar(u: Usage, fmt: (n: number) => string = String) {
  const pct = u.available ? Math.min(100, Math.round((u.used / u.available) * 100)) : 0;
  return h(
    "td",
    {},
    h(
      "span",
      { class: "bar", role: "img", "aria-label": `${pct}% used` },
      h("span", { style: `width:${pct}%` }),
    ),
    `${fmt(u.used)} / ${fmt(u.available)}`,
  );
}

function siteCard(site: SiteInfo, ov: Overview | undefined, err: string | undefined): HTMLElement {
  // a site whose API answered is connected, whatever its peers last heard; one we cannot reach is down
  const readable = site.self || !!site.apiUrl;
  const state = !readable ? site.state : err ? "down" : site.state === "unknown" ? "connected" : site.state;
  const card = h(
    "section",
    { class: "card", "aria-labelledby": `site-${site.short}`, "data-site": site.short },
    h(
      "h2",
      { id: `site-${site.short}` },
      `${site.short}`,
      h("span", { class: "muted" }, site.server),
      h("span", { class: `badge ${state}`, "data-health": state }, state),
      !ov?.scheduling && ov ? h("span", { class: "badge draining" }, "scheduling off") : null,
    ),
    h(
      "div",
      { class: "muted" },
      site.self
        ? `this site · updated ${fmtAgo(ov?.at)}`
        : `last message seen: ${site.lastSeen ? fmtAgo(site.lastSeen) : "not reported"}`,
    ),
  );
  if (err) {
    card.append(h("p", { class: "error" }, err));
    return card;
  }
  if (!ov) return card;
  card.append(
    h("h3", {}, "Queues"),
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["queue", "queued", "running", "held", "total", "state"].map((t) => h("th", { scope: "col" }, t)),
          ),
        ),
        h(
          "tbody",
          {},
          ov.queues.map((q) =>
            h(
              "tr",
              { "data-queue": q.name },
              h("td", {}, q.name),
              h("td", { "data-count": "queued" }, (q.counts.Q ?? 0) + (q.counts.W ?? 0) + (q.counts.T ?? 0)),
              h("td", { "data-count": "running" }, (q.counts.R ?? 0) + (q.counts.E ?? 0) + (q.counts.B ?? 0)),
              h("td", { "data-count": "held" }, q.counts.H ?? 0),
              // a deep queue is counted up to a cap (shared/api/overview.ts): "1000+"
              h(
                "td",
                q.capped ? { title: "counted up to this many" } : {},
                q.capped ? `${q.total}+` : q.total,
              ),
              h("td", {}, `${q.enabled ? "enabled" : "disabled"}, ${q.started ? "started" : "stopped"}`),
            ),
          ),
        ),
      ),
    ),
    h("h3", {}, "Nodes"),
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["node", "state", "ncpus", "mem", "ngpus"].map((t) => h("th", { scope: "col" }, t)),
          ),
        ),
        h(
          "tbody",
          {},
          ov.nodes.map((n) =>
            h(
              "tr",
              {},
              h("td", {}, n.name),
              h("td", {}, n.state),
              bar(n.ncpus),
              bar(n.mem, fmtBytes),
              bar(n.ngpus),
            ),
          ),
        ),
      ),
    ),
    h("h3", {}, "Scheduler"),
    ov.cycles.length
      ? h(
          "ul",
          {},
          ov.cycles.map((c) =>
            h(
              "li",
              {},
              `${c.sched}: last cycle ${fmtAgo(c.startedAt)}, ${c.durationMs ?? "?"} ms, ${c.started ?? 0} started`,
              c.topWaiting
                ? h("div", { class: "muted" }, `top job ${c.topWaiting.jobId} waits: ${c.topWaiting.reason}`)
                : null,
            ),
          ),
        )
      : h("p", { class: "muted" }, "no cycle yet"),
  );
  return card;
}

export async function renderOverview(main: HTMLElement): Promise<() => void> {
  const grid = h("div", { class: "sites" });
  main.replaceChildren(h("h2", {}, "Sites of the metaqueue"), grid);
  const draw = async () => {
    const results = await Promise.all(
      app.sites.map(async (s) => {
        try {
          return { s, ov: await apiFetch<Overview>(baseOf(s), "/v1/overview"), err: undefined };
        } catch (e) {
          return { s, ov: undefined, err: (e as Error).message };
        }
      }),
    );
    grid.replaceChildren(
      ...results.map((r) => siteCard(r.s, r.ov, r.err)),
      ...app.unreachable.map((s) => siteCard(s, undefined, "this site's API URL is not configured here")),
    );
  };
  await draw();
  return every(3000, draw);
}
