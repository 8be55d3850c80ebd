/** What every view shares: the sites of the metaqueue and who the user is at each. */
import type { FederationResponse, Whoami } from "../../shared/api/views.js";
import { apiFetch, baseOf, type SiteInfo } from "./api.js";

export type Who = Whoami;

export const app = {
  /** the sites the page can read: this one and the peers whose API URL it was told */
  sites: [] as SiteInfo[],
  /** peers known by name only (no API URL configured): listed, not read */
  unreachable: [] as SiteInfo[],
  who: new Map<string, Who>(),
};

export async function loadSites(): Promise<void> {
  const fed = await apiFetch<FederationResponse>("", "/v1/federation");
  app.sites = fed.sites.filter((s) => s.self || s.apiUrl);
  app.unreachable = fed.sites.filter((s) => !s.self && !s.apiUrl);
  await Promise.all(
    app.sites.map(async (s) => {
      try {
        app.who.set(s.short, await apiFetch<Who>(baseOf(s), "/v1/whoami"));
      } catch {
        app.who.delete(s.short);
      }
    }),
  );
}

export function siteOf(short: string): SiteInfo | undefined {
  return app.sites.find((s) => s.short === short || s.server === short);
}

/** The site a job ID belongs to ("12.derecho" -> derecho; a bare number -> this site). */
export function siteOfJob(id: string): SiteInfo | undefined {
  const dot = id.indexOf(".");
  return dot < 0 ? app.sites.find((s) => s.self) : siteOf(id.slice(dot + 1));
}

/** Same rule as the server (and the CLI): your own jobs, or any job for an operator or manager. */
export function mayAct(site: string, owner: string): boolean {
  const w = app.who.get(site);
  if (!w) return false;
  return w.privileged || owner.replace(/@.*$/, "") === w.user;
}

/** A poller that stops when the view changes. */
export function every(ms: number, fn: () => Promise<void>): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const loop = async () => {
    if (stopped) return;
    try {
      await fn();
    } catch {
      // shown by fn itself; keep polling
    }
    if (!stopped) timer = setTimeout(loop, ms);
  };
  timer = setTimeout(loop, ms);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
