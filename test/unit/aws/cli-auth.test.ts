/** The PBS commands authenticate to a deployed site with METAQUEUE_TOKEN (JWT authorizer). */
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
  afterEach(() => {
    if (saved === undefined) delete process.env.METAQUEUE_TOKEN;
    else process.env.METAQUEUE_TOKEN = saved;
  });

  it("sends Authorization: Bearer <METAQUEUE_TOKEN> when set", async () => {
    process.env.METAQUEUE_TOKEN = "eyJ.test.token";
    const r = recording();
    await new HttpApi(r.transport).getServer(target).catch(() => {});
    expect(r.headers[0].authorization).toBe("Bearer eyJ.test.token");
  });

  it("sends no Authorization header without it (local mode)", async () => {
    delete process.env.METAQUEUE_TOKEN;
    const r = recording();
    await new HttpApi(r.transport).getServer(target).catch(() => {});
    expect(r.headers[0].authorization).toBeUndefined();
  });
});
