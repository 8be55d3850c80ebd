/**
 * The headless browser for the dashboard tests: Debian's chromium driven by playwright-core
 * (.ci/run installs chromium when /usr/bin/chromium is missing).
 */
import fs from "node:fs";
import path from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

export const CHROMIUM = process.env.METAQUEUE_CHROMIUM ?? "/usr/bin/chromium";
export const OUT_DIR = path.resolve("test-output");

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

/**
 * How the page proves who it is: the one place to change when the API takes bearer tokens
 * (then: `{ authorization: \`Bearer ${tokenFor(user)}\` }`, or open the page at `#token=...`).
 */
export function authHeaders(user: string): Record<string, string> {
  return { "x-metaqueue-user": user };
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
  return { context, page, errors };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const file = path.join(OUT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
