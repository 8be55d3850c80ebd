/**
 * Every call the page makes goes through apiFetch: it adds `Authorization: Bearer <token>` when
 * the page has a token (from a `#token=` link, kept in localStorage, or typed in the login box)
 * and turns error bodies into ApiError with the server's message, which the page shows as is.
 *
 * The page talks to each site's API directly (its URL from GET /v1/federation on the site that
 * served the page); each site checks identity and rights itself, as it does for the CLI.
 */
// The API's own response types (type-only: esbuild erases them, the bundle gets no server code).
import type { JobView, SiteSummary } from "../../shared/api/views.js";

const TOKEN_KEY = "metaqueue.token";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function getToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token: string | null): void {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage refused (private mode): the token lives for this page only
  }
  memToken = token;
}

let memToken: string | null = null;

/** Take a `#token=...` fragment into storage and out of the address bar. */
export function takeTokenFromUrl(): void {
  const m = /^#token=([^&]+)/.exec(location.hash);
  if (!m) return;
  setToken(decodeURIComponent(m[1]));
  history.replaceState(null, "", `${location.pathname}${location.search}#/overview`);
}

/** A site as GET /v1/federation lists it. */
export type SiteInfo = SiteSummary;

/** Base URL of a site's API ("" = the site that served this page). */
export function baseOf(site: SiteInfo): string {
  if (site.self) return "";
  if (!site.apiUrl) throw new ApiError(0, "NoUrl", `no API URL for ${site.short}`);
  return site.apiUrl;
}

export async function apiFetch<T>(base: string, path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  const token = memToken ?? getToken();
  if (token) headers.set("authorization", `Bearer ${token}`);
  if (init.body) headers.set("content-type", "application/json");
  let r: Response;
  try {
    r = await fetch(`${base}${path}`, { ...init, headers });
  } catch (err) {
    throw new ApiError(0, "Network", `cannot reach ${base || "this site"}: ${(err as Error).message}`);
  }
  const text = await r.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = {};
  }
  if (!r.ok) {
    const e = (body as { error?: { code?: string; message?: string } }).error;
    throw new ApiError(r.status, e?.code ?? String(r.status), e?.message ?? `HTTP ${r.status}`);
  }
  return body as T;
}

export type { JobView };
