/**
 * The runtime's side of the system-wide server list, the dashboard link's token, and the
 * preflight `npm start` runs on a fresh clone.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  confFileFor,
  defaultConfPath,
  publishConf,
  removeStaleUserConf,
  writeConfFile,
} from "../../../infra/local/client-conf.js";
import { CredentialRegistry, ensureCredential } from "../../../infra/local/credentials.js";
import { hashToken } from "../../../shared/api/identity.js";
import { parseConfig } from "../../../shared/config/site-config.js";
// @ts-expect-error: a plain .mjs script (Node built-ins only), no types
import { javaStep, missingDependencies } from "../../../scripts/preflight.mjs";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "mq-conf-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const cfg = parseConfig({
  defaultSite: "derecho",
  sites: [
    { name: "casper", server: "casper-pbs", queues: [{ name: "casper" }], nodes: [{ name: "c1", ncpus: 1 }] },
    { name: "derecho", server: "desched1", queues: [{ name: "main" }], nodes: [{ name: "d1", ncpus: 1 }] },
  ],
});
const urls = [
  { server: "casper-pbs", short: "casper", url: "http://127.0.0.1:1001" },
  { server: "desched1", short: "derecho", url: "http://127.0.0.1:1002" },
];

describe("the server list the runtime writes", () => {
  it("holds names, short names, URLs and the default: nothing else", () => {
    expect(confFileFor(cfg, urls)).toEqual({
      default: "desched1",
      servers: [
        { name: "casper-pbs", short: "casper", url: "http://127.0.0.1:1001" },
        { name: "desched1", short: "derecho", url: "http://127.0.0.1:1002" },
      ],
    });
  });

  it("is readable by every user (0644) whatever the umask or an earlier start left", () => {
    const file = path.join(root, "data", "metaqueue.conf");
    const old = process.umask(0o077);
    try {
      writeConfFile(file, confFileFor(cfg, urls));
      expect(fs.statSync(file).mode & 0o777).toBe(0o644);
      fs.chmodSync(file, 0o600); // what prepareDataDir does to every file at start
      writeConfFile(file, confFileFor(cfg, urls));
      expect(fs.statSync(file).mode & 0o777).toBe(0o644);
    } finally {
      process.umask(old);
    }
    expect(JSON.parse(fs.readFileSync(file, "utf8")).default).toBe("desched1");
    expect(fs.readdirSync(path.dirname(file))).toEqual(["metaqueue.conf"]); // no temp file left
  });

  it("goes to /etc/metaqueue.conf as root, else into the data dir", () => {
    expect(defaultConfPath("/d", 0)).toBe("/etc/metaqueue.conf");
    expect(defaultConfPath("/d", 1000)).toBe("/d/metaqueue.conf");
  });

  it("a root runtime that cannot write /etc writes the list into the data dir and says so", () => {
    const body = confFileFor(cfg, urls);
    const dataDir = fs.mkdtempSync(path.join(root, "data-"));
    const notADir = path.join(root, "a-file");
    fs.writeFileSync(notADir, "");
    const etc = fs.mkdtempSync(path.join(root, "etc-"));
    const warned: string[] = [];
    const warn = (l: string) => warned.push(l);
    expect(publishConf(body, dataDir, undefined, warn, 0, path.join(etc, "metaqueue.conf"))).toBe(
      path.join(etc, "metaqueue.conf"),
    );
    expect(warned).toEqual([]);
    const blocked = path.join(notADir, "metaqueue.conf");
    expect(publishConf(body, dataDir, undefined, warn, 0, blocked)).toBe(
      path.join(dataDir, "metaqueue.conf"),
    );
    expect(warned[0]).toContain(`cannot write ${blocked}`);
    expect(fs.statSync(path.join(dataDir, "metaqueue.conf")).mode & 0o777).toBe(0o644);
    // METAQUEUE_CONF: there and nowhere else
    const named = path.join(dataDir, "named.json");
    expect(publishConf(body, dataDir, named, warn, 0, blocked)).toBe(named);
  });

  it("removes a per-user list an earlier start wrote, and keeps one the user wrote", () => {
    const home = fs.mkdtempSync(path.join(root, "home-"));
    const file = path.join(home, ".metaqueue", "servers.json");
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(
      file,
      JSON.stringify({ default: "x", servers: [{ name: "elsewhere", url: "http://e" }] }),
    );
    expect(removeStaleUserConf(cfg, home)).toBeUndefined();
    expect(fs.existsSync(file)).toBe(true);
    fs.writeFileSync(file, JSON.stringify(confFileFor(cfg, urls)));
    expect(removeStaleUserConf(cfg, home)).toBe(file);
    expect(fs.existsSync(file)).toBe(false);
  });
});

describe("the dashboard link's token", () => {
  const me = os.userInfo().username;

  it("signs the user in until it expires, and a new link replaces the old one", () => {
    let now = 1_000_000;
    const reg = new CredentialRegistry(path.join(root, "reg1", "credentials.json"), () => now);
    const first = reg.issueLink(me, [], 60_000);
    expect(reg.lookup(hashToken(first))?.user).toBe(me);
    now += 59_000;
    expect(reg.lookup(hashToken(first))?.user).toBe(me);
    now += 2_000;
    expect(reg.lookup(hashToken(first))).toBeUndefined();
    const second = reg.issueLink(me, [], 60_000);
    const third = reg.issueLink(me, [], 60_000);
    expect(reg.lookup(hashToken(second))).toBeUndefined();
    expect(reg.lookup(hashToken(third))?.user).toBe(me);
    // only hashes are kept
    expect(fs.readFileSync(reg.file, "utf8")).not.toContain(third);
  });

  it("is not the user's credential: issuing one leaves the credential working, and back", () => {
    const reg = new CredentialRegistry(path.join(root, "reg2", "credentials.json"));
    const credFile = path.join(root, "reg2-credential");
    ensureCredential(reg, me, { file: credFile });
    const cred = fs.readFileSync(credFile, "utf8").trim();
    const link = reg.issueLink(me, [], 60_000);
    expect(link).not.toBe(cred);
    expect(reg.lookup(hashToken(cred))?.user).toBe(me);
    ensureCredential(reg, me, { file: credFile, renew: true });
    expect(reg.lookup(hashToken(link))?.user).toBe(me);
    expect(reg.lookup(hashToken(cred))).toBeUndefined();
  });
});

describe("npm start's preflight", () => {
  it("finds the dependencies a checkout lacks", () => {
    const dir = fs.mkdtempSync(path.join(root, "clone-"));
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ dependencies: { a: "1", b: "1" } }));
    expect(missingDependencies(dir)).toEqual(["a", "b"]);
    fs.mkdirSync(path.join(dir, "node_modules", "a"), { recursive: true });
    fs.writeFileSync(path.join(dir, "node_modules", "a", "package.json"), "{}");
    expect(missingDependencies(dir)).toEqual(["b"]);
    // a PBS command whose link leads to a file the checkout no longer has (npm installs again)
    fs.mkdirSync(path.join(dir, "cli", "bin"), { recursive: true });
    fs.writeFileSync(path.join(dir, "cli", "package.json"), JSON.stringify({ bin: { qsub: "bin/qsub" } }));
    fs.writeFileSync(path.join(dir, "cli", "bin", "qsub"), "#!/bin/sh\n");
    fs.mkdirSync(path.join(dir, "node_modules", ".bin"));
    fs.symlinkSync("../../cli/bin/qsub.js", path.join(dir, "node_modules", ".bin", "qsub"));
    expect(missingDependencies(dir)).toEqual(["b", ".bin/qsub"]);
    fs.rmSync(path.join(dir, "node_modules", ".bin", "qsub"));
    fs.symlinkSync("../../cli/bin/qsub", path.join(dir, "node_modules", ".bin", "qsub"));
    expect(missingDependencies(dir)).toEqual(["b"]);
  });

  it("installs Java as root with apt-get, and otherwise says exactly how", () => {
    expect(javaStep({ hasJava: true, isRoot: false, hasApt: true }).action).toBe("ok");
    expect(javaStep({ hasJava: false, isRoot: true, hasApt: true }).action).toBe("install");
    const user = javaStep({ hasJava: false, isRoot: false, hasApt: true });
    expect(user.action).toBe("advise");
    expect(user.text).toContain("sudo apt-get install -y openjdk-17-jre-headless");
    expect(javaStep({ hasJava: false, isRoot: true, hasApt: false }).action).toBe("advise");
  });
});
