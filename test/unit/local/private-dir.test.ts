/**
 * The runtime's data dir as an earlier version left it (DynamoDB Local's .db 0644, folders
 * 0755): prepareDataDir tightens it at start, and leaves the MOMs' scratch to the MOMs.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ensurePrivateDir, prepareDataDir } from "../../../infra/local/private-dir.js";

const mode = (p: string) => fs.lstatSync(p).mode & 0o777;
let root: string;

afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

describe("prepareDataDir", () => {
  it("makes the data dir 0711 and everything in it 0700/0600, except the MOMs' scratch", () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "mq-private-"));
    const data = path.join(root, "data");
    fs.mkdirSync(path.join(data, "dynamodb"), { recursive: true, mode: 0o755 });
    fs.chmodSync(data, 0o755);
    fs.chmodSync(path.join(data, "dynamodb"), 0o755);
    fs.writeFileSync(path.join(data, "dynamodb", "shared-local-instance.db"), "", { mode: 0o644 });
    fs.writeFileSync(path.join(data, "credentials.json"), "{}", { mode: 0o644 });
    fs.mkdirSync(path.join(data, "mom", "n1"), { recursive: true, mode: 0o755 });
    fs.chmodSync(path.join(data, "mom", "n1"), 0o755);
    const outside = path.join(root, "outside");
    fs.writeFileSync(outside, "", { mode: 0o644 });
    fs.symlinkSync(outside, path.join(data, "link"));

    prepareDataDir(data, ["mom"]);

    expect(mode(data)).toBe(0o711);
    expect(mode(path.join(data, "dynamodb"))).toBe(0o700);
    expect(mode(path.join(data, "dynamodb", "shared-local-instance.db"))).toBe(0o600);
    expect(mode(path.join(data, "credentials.json"))).toBe(0o600);
    // jobs reach their TMPDIR through here: the MOM decides
    expect(mode(path.join(data, "mom", "n1"))).toBe(0o755);
    // a symlink is not followed: what it names keeps its mode
    expect(mode(outside)).toBe(0o644);
  });

  it("creates a missing data dir, and refuses one that is a symlink", () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "mq-private-"));
    const data = path.join(root, "a", "b");
    prepareDataDir(data, []);
    expect(mode(data)).toBe(0o711);
    const link = path.join(root, "link");
    fs.symlinkSync(data, link);
    expect(() => ensurePrivateDir(link)).toThrow(/not a directory/);
  });
});
