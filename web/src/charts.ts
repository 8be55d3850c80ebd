/**
 * Charts, redrawn every 5 s: queued and running jobs over the last hour per site (the per-minute
 * samples each site's sweeper keeps, GET /v1/stats), jobs moved between sites (active jobs at each
 * site that came from another), and project allocations used vs granted (GET /v1/accounting, when
 * a site serves it).
 */
import type {
  AccountingReport,
  AllocationRow as Allocation,
  StatSample as Sample,
  StatsResponse,
} from "../../shared/api/views.js";
import { ApiError, apiFetch, baseOf } from "./api.js";
import { h, s } from "./dom.js";
import { app, every } from "./state.js";

const COLORS = ["#0b5cad", "#c2410c", "#15803d", "#7e22ce", "#be123c", "#0e7490"];
const W = 600;
const H = 180;
const PAD = 28;

function lineChart(
  title: string,
  series: { name: string; points: [number, number][] }[],
  t0: number,
  t1: number,
) {
  const maxY = Math.max(1, ...series.flatMap((x) => x.points.map((p) => p[1])));
  const x = (t: number) => PAD + ((t - t0) / Math.max(1, t1 - t0)) * (W - PAD - 8);
  const y = (v: number) => H - PAD + 8 - (v / maxY) * (H - PAD - 8);
  const svg = s(
    "svg",
    {
      class: "chart",
      viewBox: `0 0 ${W} ${H}`,
      role: "img",
      "aria-label": title,
      preserveAspectRatio: "none",
    },
    s("line", { x1: PAD, y1: y(0), x2: W - 8, y2: y(0), stroke: "#aab" }),
  );
  const label = s("text", { x: 2, y: y(maxY) + 4 });
  label.textContent = String(maxY);
  const zero = s("text", { x: 2, y: y(0) + 4 });
  zero.textContent = "0";
  svg.append(label, zero);
  series.forEach((ser, i) => {
    if (!ser.points.length) return;
    const d = ser.points
      .map(([t, v], j) => `${j ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`)
      .join(" ");
    svg.append(s("path", { d, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 2 }));
    const [lt, lv] = ser.points[ser.points.length - 1];
    svg.append(
      s("circle", { cx: x(lt).toFixed(1), cy: y(lv).toFixed(1), r: 3, fill: COLORS[i % COLORS.length] }),
    );
  });
  return h(
    "figure",
    { "aria-label": title },
    h("figcaption", {}, h("strong", {}, title)),
    svg,
    h(
      "div",
      { class: "legend" },
      series.map((ser, i) =>
        h(
          "span",
          {},
          h("i", { style: `background:${COLORS[i % COLORS.length]}` }),
          ser.name,
          ` (now ${ser.points.at(-1)?.[1] ?? 0})`,
        ),
      ),
    ),
  );
}

export async function renderCharts(main: HTMLElement): Promise<() => void> {
  const box = h("div", { class: "grid2" });
  const alloc = h("div");
  main.replaceChildren(h("h2", {}, "Charts (last hour)"), box, h("h2", {}, "Project allocations"), alloc);
  const draw = async () => {
    const now = Date.now();
    const since = now - 3_600_000;
    const data = await Promise.all(
      app.sites.map(async (site) => ({
        site: site.short,
        samples: await apiFetch<StatsResponse>(baseOf(site), `/v1/stats?since=${since}`)
          .then((r) => r.samples)
          .catch(() => [] as Sample[]),
      })),
    );
    const pts = (xs: Sample[], f: (x: Sample) => number): [number, number][] => xs.map((x) => [x.t, f(x)]);
    const moved: { name: string; points: [number, number][] }[] = [];
    for (const d of data) {
      const origins = new Set(d.samples.flatMap((x) => Object.keys(x.movedIn)));
      for (const o of origins)
        moved.push({ name: `${o} -> ${d.site}`, points: pts(d.samples, (x) => x.movedIn[o] ?? 0) });
    }
    box.replaceChildren(
      lineChart(
        "Queued jobs per site",
        data.map((d) => ({ name: d.site, points: pts(d.samples, (x) => x.queued + x.held) })),
        since,
        now,
      ),
      lineChart(
        "Running jobs per site",
        data.map((d) => ({ name: d.site, points: pts(d.samples, (x) => x.running) })),
        since,
        now,
      ),
      moved.length
        ? lineChart("Jobs moved between sites (active at the destination)", moved, since, now)
        : h(
            "figure",
            {},
            h("figcaption", {}, h("strong", {}, "Jobs moved between sites")),
            h("p", { class: "muted" }, "no moved jobs in the last hour"),
          ),
    );
    const allocs: Allocation[] = [];
    for (const site of app.sites) {
      try {
        const r = await apiFetch<Partial<AccountingReport>>(baseOf(site), "/v1/accounting");
        allocs.push(...(r.allocations ?? []));
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 404) throw e;
      }
    }
    alloc.replaceChildren(
      allocs.length
        ? h(
            "table",
            {},
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["project", "site", "used / granted", ""].map((t) => h("th", { scope: "col" }, t)),
              ),
            ),
            h(
              "tbody",
              {},
              allocs.map((a) => {
                const pct = a.granted ? Math.min(100, Math.round((a.used / a.granted) * 100)) : 0;
                return h(
                  "tr",
                  {},
                  h("td", {}, a.project),
                  h("td", {}, a.site),
                  h("td", {}, `${a.used} / ${a.granted} ${a.unit}`),
                  h(
                    "td",
                    {},
                    h(
                      "span",
                      { class: "bar", role: "img", "aria-label": `${pct}% used` },
                      h("span", { style: `width:${pct}%` }),
                    ),
                  ),
                );
              }),
            ),
          )
        : h("p", { class: "muted", "data-empty": "allocations" }, "no allocations"),
    );
  };
  await draw();
  return every(5000, draw);
}
