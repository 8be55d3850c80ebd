/** The dashboard: hash routes (#/overview, #/jobs?filters, #/job/<id>, #/charts, #/submit). */
import { getToken, setToken, takeTokenFromUrl } from "./api.js";
import { renderCharts } from "./charts.js";
import { h, status } from "./dom.js";
import { renderJob } from "./job.js";
import { renderJobs } from "./jobs.js";
import { renderOverview } from "./overview.js";
import { app, loadSites } from "./state.js";
import { renderSubmit } from "./submit.js";

let stop: () => void = () => {};
/**
 * Which route() call owns the page. Views load asynchronously, so a quick second navigation (a
 * filter, then a click on Charts) starts a route while the first is still loading; the first
 * then finishes last. Without this count it would mark the page ready as its own view and start
 * a poller nobody stops (seen in CI: the charts page never became ready).
 */
let generation = 0;

function whoBox(): void {
  const who = document.getElementById("who") as HTMLElement;
  const self = app.sites.find((s) => s.self);
  const me = self ? app.who.get(self.short) : undefined;
  const login = h(
    "form",
    {
      class: "actions",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const v = String(new FormData(e.target as HTMLFormElement).get("token") ?? "").trim();
        setToken(v || null);
        await start();
      },
    },
    h(
      "label",
      {},
      h("span", { class: "skip" }, "access token"),
      h("input", {
        name: "token",
        type: "password",
        placeholder: "access token",
        size: 14,
        autocomplete: "off",
      }),
    ),
    h("button", { type: "submit" }, "Sign in"),
  );
  who.replaceChildren(
    me
      ? h("span", { "data-user": me.user }, `${me.user}${me.privileged ? " (operator)" : ""}`)
      : h("span", {}, "not signed in"),
    getToken()
      ? h(
          "button",
          {
            type: "button",
            onclick: async () => {
              setToken(null);
              await start();
            },
          },
          "Sign out",
        )
      : login,
  );
}

async function route(): Promise<void> {
  stop();
  stop = () => {};
  delete document.body.dataset.ready;
  const main = document.getElementById("main") as HTMLElement;
  const hash = location.hash || "#/overview";
  const [path] = hash.slice(1).split("?");
  const view = path.split("/")[1] || "overview";
  for (const a of document.querySelectorAll("nav a")) {
    if ((a as HTMLElement).dataset.view === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const mine = ++generation;
  try {
    const stopView =
      view === "jobs"
        ? await renderJobs(main)
        : view === "job"
          ? await renderJob(main, decodeURIComponent(path.split("/")[2] ?? ""))
          : view === "charts"
            ? await renderCharts(main)
            : view === "submit"
              ? await renderSubmit(main)
              : await renderOverview(main);
    if (mine !== generation) {
      stopView(); // a newer route owns the page: this view's poller must not run on
      return;
    }
    stop = stopView;
    document.body.dataset.ready = view;
  } catch (e) {
    if (mine === generation) main.replaceChildren(h("p", { class: "error" }, (e as Error).message));
  }
}

async function start(): Promise<void> {
  try {
    await loadSites();
  } catch (e) {
    status((e as Error).message);
    app.sites = [];
  }
  whoBox();
  await route();
}

takeTokenFromUrl();
window.addEventListener("hashchange", () => {
  void route().then(() => (document.getElementById("main") as HTMLElement).focus({ preventScroll: true }));
});
void start();
