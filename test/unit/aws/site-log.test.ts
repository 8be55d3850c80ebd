/**
 * The Lambdas' site log: what a handler logs after the message reaches CloudWatch. The API
 * logs a 500's error as `log.error("request <id> failed", err)`; the logger dropped the
 * error and printed the message alone, so the request ID led to no stack.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { afterEach, describe, expect, it, vi } from "vitest";
import { siteLog } from "../../../lambdas/site-log.js";

/** the JSON lines a real Powertools logger prints while `run` runs */
function printed(run: (log: ReturnType<typeof siteLog>) => void): Record<string, unknown>[] {
  const lines: string[] = [];
  // Powertools prints errors and warnings on stderr, the rest on stdout
  const spies = [process.stdout, process.stderr].map((s) =>
    vi.spyOn(s, "write").mockImplementation((chunk: unknown) => {
      lines.push(String(chunk));
      return true;
    }),
  );
  try {
    run(siteLog(new Logger({ serviceName: "test", logLevel: "DEBUG" })));
  } finally {
    for (const s of spies) s.mockRestore();
  }
  return lines
    .join("")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

describe("the site log on Powertools", () => {
  afterEach(() => vi.restoreAllMocks());

  it("prints the error a message is logged with: its name, message and stack", () => {
    const err = new TypeError("boom", { cause: new Error("underneath") });
    const [line] = printed((log) => log.error("request r-1 failed", err));
    expect(line.level).toBe("ERROR");
    expect(line.message).toBe("request r-1 failed");
    const e = line.error as Record<string, unknown>;
    expect(e.name).toBe("TypeError");
    expect(e.message).toBe("boom");
    expect(String(e.stack)).toMatch(/site-log\.test\.ts/);
    expect(JSON.stringify(e.cause)).toMatch(/underneath/);
  });

  it("an error alone is its message and itself; anything else goes as detail", () => {
    const [a, b, c] = printed((log) => {
      log.error(new Error("alone"));
      log.warn("request r-2: throttled", { code: "ProvisionedThroughputExceeded" });
      log.info("plain");
    });
    expect(a.message).toBe("alone");
    expect((a.error as Record<string, unknown>).message).toBe("alone");
    expect(b).toMatchObject({ level: "WARN", detail: { code: "ProvisionedThroughputExceeded" } });
    expect(c).toMatchObject({ level: "INFO", message: "plain" });
    expect(c).not.toHaveProperty("detail");
  });
});
