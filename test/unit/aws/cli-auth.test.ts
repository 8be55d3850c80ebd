/**
 * The PBS commands authenticate with METAQUEUE_TOKEN (a deployed site's JWT authorizer) or,
 * locally, with the token in the user's 0600 credential file.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { HttpApi, type Transport } from "../../../cli/src/api-client.js";

const target = {
  name: "casper-pbs",
  short: "casper",
  url: "https://abc.execute-api.us-east-1.amazonaws.com",
};

function recording(): { transport: Transport; headers: Record<string, string>[] } {
  const headers: Record<string, string>[] = [];
  const transport: Transport = async (_url, req) => {
    headers.push(req.headers as Record<string, string>);
    return { status: 200, text: JSON.stringify({ server: { name: "casper-pbs" } }) };
  };
  return { transport, headers };
}

describe("CLI auth header", () => {
  const saved = process.env.METAQUEUE_TOKEN;
  const savedCred = process.env.METAQUEUE_CREDENTIAL;
  afterEach(() => {
    if (saved === undefined) delete process.env.METAQUEUE_TOKEN;
    else process.env.METAQUEUE_TOKEN = saved;
    if (savedCred === undefined) delete process.env.METAQUEUE_CREDENTIAL;
    else process.env.METAQUEUE_CREDENTIAL = savedCred;
  });

  it("sends Authorization: Bearer <METAQUEUE_TOKEN> when set", async () => {
    process.env.METAQUEUE_TOKEN = "eyJ.test.token";
    const r = recording();
    await new HttpApi(r.transport).getServer(target).catch(() => {});
    expect(r.headers[0].authorization).toBe("Bearer eyJ.test.token");
  });

  it("locally sends the credential file's token, and none without a file", async () => {
    delete process.env.METAQUEUE_TOKEN;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-cred-"));
    const file = path.join(dir, "credential");
    process.env.METAQUEUE_CREDENTIAL = file;
    let r = recording();
    await new HttpApi(r.transport).getServer(target).catch(() => {});
    expect(r.headers[0].authorization).toBeUndefined();
    fs.writeFileSync(file, "abcdefghijklmnopqrstuvwxyz0123456789ABCD\n", { mode: 0o600 });
    r = recording();
    await new HttpApi(r.transport).getServer(target);
    expect(r.headers[0].authorization).toBe("Bearer abcdefghijklmnopqrstuvwxyz0123456789ABCD");
  });

  it("refuses a credential file other users can read, as ssh does", async () => {
    delete process.env.METAQUEUE_TOKEN;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-cred-"));
    const file = path.join(dir, "credential");
    fs.writeFileSync(file, "abcdefghijklmnopqrstuvwxyz0123456789ABCD\n", { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    process.env.METAQUEUE_CREDENTIAL = file;
    const r = recording();
    await expect(new HttpApi(r.transport).getServer(target)).rejects.toThrow(/accessible by others/);
    expect(r.headers).toHaveLength(0);
  });
});
