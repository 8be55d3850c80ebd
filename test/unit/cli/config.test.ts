import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HttpApi, type HttpRequest, errorFromBody } from "../../../cli/src/api-client.js";
import { chmodSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  loadClientConfig,
  qualifyJobId,
  readConfText,
  resolveServer,
  systemConfPaths,
} from "../../../cli/src/config.js";

const FILE = {
  default: "casper-pbs",
  servers: [
    { name: "casper-pbs", short: "casper", url: "http://127.0.0.1:8421" },
    { name: "derecho-pbs", short: "derecho", url: "http://127.0.0.1:8422" },
  ],
};

function home(withConfig: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), "mq-cli-"));
  if (withConfig) {
    mkdirSync(join(dir, ".metaqueue"));
    writeFileSync(join(dir, ".metaqueue", "servers.json"), JSON.stringify(FILE));
  }
  return dir;
}

describe("loadClientConfig / resolveServer", () => {
  it("reads $HOME/.metaqueue/servers.json and resolves names and short names", () => {
    const cfg = loadClientConfig({ HOME: home(true) });
    expect(resolveServer(cfg).name).toBe("casper-pbs");
    expect(resolveServer(cfg, "derecho").url).toBe("http://127.0.0.1:8422");
    expect(resolveServer(cfg, "derecho-pbs").short).toBe("derecho");
    expect(resolveServer(cfg, "derecho.example.org").name).toBe("derecho-pbs");
    expect(() => resolveServer(cfg, "foo")).toThrow("Server name unknown: foo");
  });

  it("METAQUEUE_CONF names the file", () => {
    const dir = home(false);
    const path = join(dir, "conf.json");
    writeFileSync(path, JSON.stringify({ ...FILE, default: "derecho-pbs" }));
    expect(resolveServer(loadClientConfig({ HOME: dir, METAQUEUE_CONF: path })).name).toBe("derecho-pbs");
  });

  it("METAQUEUE_SERVER_URL wins and unknown names go to it", () => {
    const cfg = loadClientConfig({ HOME: home(false), METAQUEUE_SERVER_URL: "http://h:1" });
    const s = resolveServer(cfg);
    expect(s.url).toBe("http://h:1");
    expect(resolveServer(cfg, "anything").url).toBe("http://h:1");
    expect(qualifyJobId("12", s)).toBe("12");
    const cfg2 = loadClientConfig({ HOME: home(true), METAQUEUE_SERVER_URL: "http://127.0.0.1:8422/" });
    expect(resolveServer(cfg2).name).toBe("derecho-pbs");
    expect(resolveServer(cfg2, "casper").name).toBe("casper-pbs");
  });

  it("no configuration at all", () => {
    const cfg = loadClientConfig({ HOME: home(false) }, undefined, [join(home(false), "none.conf")]);
    expect(cfg).toBeUndefined();
    expect(() => resolveServer(cfg)).toThrow(/cannot find a metaqueue server/);
  });

  describe("lookup order: the user's own list, then the system-wide ones (pbs.conf)", () => {
    const sys = (dir: string, name: string, def: string) => {
      const p = join(dir, name);
      writeFileSync(p, JSON.stringify({ ...FILE, default: def }), { mode: 0o644 });
      return p;
    };

    it("a user with no list of their own reads the first system-wide file that exists", () => {
      const dir = home(false);
      const etc = sys(dir, "etc.conf", "derecho-pbs");
      const data = sys(dir, "data.conf", "casper-pbs");
      expect(resolveServer(loadClientConfig({ HOME: dir }, undefined, [etc, data])).name).toBe("derecho-pbs");
      // no /etc file: the runtime's data-dir file
      const missing = join(dir, "no-etc.conf");
      expect(resolveServer(loadClientConfig({ HOME: dir }, undefined, [missing, data])).name).toBe(
        "casper-pbs",
      );
    });

    it("the user's ~/.metaqueue/servers.json comes before the system-wide file", () => {
      const dir = home(true);
      const etc = sys(dir, "etc.conf", "derecho-pbs");
      expect(resolveServer(loadClientConfig({ HOME: dir }, undefined, [etc])).name).toBe("casper-pbs");
    });

    it("METAQUEUE_CONF replaces every other place, as PBS_CONF_FILE does", () => {
      const dir = home(true);
      const etc = sys(dir, "etc.conf", "derecho-pbs");
      const env = { HOME: dir, METAQUEUE_CONF: join(dir, "absent.json") };
      expect(loadClientConfig(env, undefined, [etc])).toBeUndefined();
    });

    it("the system-wide places are /etc/metaqueue.conf, then the checkout's .metaqueue/metaqueue.conf", () => {
      const checkout = fileURLToPath(new URL("../../../", import.meta.url));
      expect(systemConfPaths()).toEqual([
        "/etc/metaqueue.conf",
        join(checkout, ".metaqueue", "metaqueue.conf"),
      ]);
    });

    it("refuses a list every user may write (it decides where credentials are sent)", () => {
      const dir = home(false);
      const etc = sys(dir, "etc.conf", "derecho-pbs");
      chmodSync(etc, 0o666);
      expect(() => loadClientConfig({ HOME: dir }, readConfText, [etc])).toThrow(/writable by every user/);
      chmodSync(etc, 0o644);
      expect(resolveServer(loadClientConfig({ HOME: dir }, readConfText, [etc])).name).toBe("derecho-pbs");
    });
  });

  it("qualifyJobId", () => {
    const s = { name: "casper-pbs", short: "casper", url: "" };
    expect(qualifyJobId("12", s)).toBe("12.casper");
    expect(qualifyJobId("12[3]", s)).toBe("12[3].casper");
    expect(qualifyJobId("12.derecho", s)).toBe("12.derecho");
  });
});

describe("HttpApi", () => {
  const target = { name: "casper-pbs", short: "casper", url: "http://casper:8421/" };

  it("sends JSON with the user's credential and encodes job IDs", async () => {
    const seen: Array<[string, HttpRequest]> = [];
    const api = new HttpApi(
      async (url, req) => {
        seen.push([url, req]);
        return { status: 200, text: JSON.stringify({ job: { id: "5[].casper", attributes: {} } }) };
      },
      () => "the-token",
    );
    const job = await api.getJob(target, "5[].casper", true);
    expect(job.id).toBe("5[].casper");
    expect(seen[0][0]).toBe("http://casper:8421/v1/jobs/5%5B%5D.casper?history=1");
    expect(seen[0][1].method).toBe("GET");
    expect(seen[0][1].headers.authorization).toBe("Bearer the-token");
    expect(seen[0][1].headers["x-metaqueue-user"]).toBeUndefined();
  });

  it("maps error bodies to MetaqueueErrors with PBS exit codes", async () => {
    const api = new HttpApi(async () => ({
      status: 404,
      text: JSON.stringify({ error: { code: "UnknownObject", message: "Unknown Job Id 9.casper" } }),
    }));
    await expect(api.deleteJob(target, "9.casper")).rejects.toMatchObject({
      message: "Unknown Job Id 9.casper",
      exitCode: 153,
    });
    expect(errorFromBody(409, { error: { code: "InvalidState", message: "x" } }).exitCode).toBe(168);
    expect(errorFromBody(500, undefined).message).toBe("server answered HTTP 500");
  });

  it("reports a connection failure", async () => {
    const api = new HttpApi(async () => {
      throw new Error("ECONNREFUSED");
    });
    await expect(api.listJobs(target)).rejects.toThrow(
      "cannot connect to server casper-pbs (http://casper:8421/)",
    );
  });

  it("posts bodies", async () => {
    const seen: HttpRequest[] = [];
    const api = new HttpApi(
      async (_url, req) => {
        seen.push(req);
        return { status: 200, text: JSON.stringify({ output: "ok" }) };
      },
      () => undefined,
    );
    expect(await api.qmgr(target, "list server")).toBe("ok");
    expect(JSON.parse(seen[0].body ?? "")).toEqual({ command: "list server" });
    expect(seen[0].headers["content-type"]).toBe("application/json");
  });
});
