/**
 * The headless browser for the dashboard tests: Debian's chromium driven by playwright-core
 * (.ci/run installs chromium when /usr/bin/chromium is missing).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { type CredentialRegistry, ensureCredential } from "../../infra/local/credentials.js";
import { readCredentialFile } from "../../shared/auth/credential-file.js";

export const CHROMIUM = process.env.METAQUEUE_CHROMIUM ?? "/usr/bin/chromium";
export const OUT_DIR = path.resolve("test-output");

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

let registry: CredentialRegistry | undefined;
let credDir = "";
let own = "";

/**
 * Issue test identities from this local runtime's credential registry, files kept in `dir`;
 * the runtime's own user keeps the credential the stack's CLI uses (`ownFile`).
 */
export function useCredentials(reg: CredentialRegistry, dir: string, ownFile: string): void {
  registry = reg;
  credDir = dir;
  own = ownFile;
}

/** A user's bearer token (made on first use, as `npm run credential -- <user>` would). */
export function tokenFor(user: string): string {
  if (!registry) throw new Error("call useCredentials(stack.mq.credentials, stack.dir) first");
  const file = user === os.userInfo().username ? own : path.join(credDir, `credential-${user}`);
  ensureCredential(registry, user, { file });
  return readCredentialFile(file) as string;
}

/** How the page proves who it is: the bearer token its user would hold. */
export function authHeaders(user: string): Record<string, string> {
  return { authorization: `Bearer ${tokenFor(user)}` };
}

export interface UserPage {
  context: BrowserContext;
  page: Page;
  /** console errors and uncaught page errors seen so far */
  errors: string[];
}

export async function openAs(
  browser: Browser,
  user: string,
  viewport = { width: 1280, height: 800 },
): Promise<UserPage> {
  const context = await browser.newContext({ extraHTTPHeaders: authHeaders(user), viewport });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  // name the resource: the console says only "Failed to load resource"
  page.on("response", (r) => {
    if (r.status() >= 400) errors.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
  });
  return { context, page, errors };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const file = path.join(OUT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
