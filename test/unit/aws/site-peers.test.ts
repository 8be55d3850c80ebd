/**
 * Peering on AWS: with peers in context, a site gets the inbox Lambda on its inbox queue, every
 * function learns its peers (PEERS: pulls and identity maps from the configuration, inbox and
 * secret parameter from context) and may read only those secret parameters and send only to
 * those inboxes. The secrets themselves come from SSM at cold start, never from the environment.
 */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../../shared/config/site-config.js";
import { peerLinks } from "../../../infra/aws/settings.js";
import { queueArnOfUrl } from "../../../infra/aws/constructs/inbox.js";
import { SiteStack } from "../../../infra/aws/site-stack.js";
import {
  loadPeers,
  ParameterCache,
  PEERS_TTL_MS,
  parsePeersEnv,
  ssmSecrets,
} from "../../../lambdas/peers-env.js";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped
type Cfn = any;

const config = parseConfig({
  sites: [
    {
      name: "casper",
      server: "casper-pbs",
      queues: [{ name: "casper" }],
      nodes: [{ name: "c1", ncpus: 16 }],
      federation: {
        pull: [{ queue: "casper", from: "main@desched1" }],
        peers: { derecho: { accounts: { DERE0001: "NCAR0001" } } },
      },
    },
    { name: "derecho", server: "desched1", queues: [{ name: "main" }], nodes: [{ name: "d1", ncpus: 32 }] },
    { name: "gust", server: "gust-pbs", queues: [{ name: "gpu" }], nodes: [{ name: "g1", ncpus: 8 }] },
  ],
});
const INBOX = "https://sqs.us-east-1.amazonaws.com/222222222222/metaqueue-derecho-inbox";
let resources: Record<string, { Type: string; Properties: Cfn }>;

beforeAll(() => {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = new SiteStack(app, "Metaqueue-casper", {
    env: { account: "111111111111", region: "us-east-1" },
    site: config.sites[0],
    otherSites: config.sites.slice(1),
    auth: { issuer: "https://issuer.example.org", audience: ["x"] },
    peers: peerLinks(
      JSON.stringify({ derecho: { inboxUrl: INBOX, secretParameter: "/metaqueue/peer/casper-derecho" } }),
    ),
  });
  resources = Template.fromStack(stack).toJSON().Resources;
}, 120_000);

/** the site's own functions (the seed custom resource runs once at deploy and talks to no peer) */
const fns = () =>
  Object.values(resources).filter(
    (r) =>
      r.Type === "AWS::Lambda::Function" &&
      r.Properties.Description?.startsWith("metaqueue casper:") &&
      !r.Properties.Description.includes(": seed"),
  );

describe("a site with a peer on AWS", () => {
  it("runs the inbox Lambda on its inbox queue", () => {
    const inbox = Object.entries(resources).find(
      ([, r]) =>
        r.Type === "AWS::Lambda::Function" &&
        r.Properties.Description === "metaqueue casper: messages from peer sites",
    );
    expect(inbox).toBeDefined();
    const mapping = Object.values(resources).find(
      (r) =>
        r.Type === "AWS::Lambda::EventSourceMapping" &&
        JSON.stringify(r.Properties.FunctionName).includes(inbox?.[0] ?? "?"),
    );
    expect(JSON.stringify(mapping?.Properties.EventSourceArn)).toMatch(/Inbox/);
    expect(mapping?.Properties.FunctionResponseTypes).toEqual(["ReportBatchItemFailures"]);
  });

  it("tells every function its peers: configured pulls and maps, linked inbox and secret, no secret value", () => {
    expect(
      fns()
        .map((f) => f.Properties.Description.split(": ")[1])
        .sort(),
    ).toEqual([
      "HTTP API",
      "MOM push channel routes",
      "MOM reports and dependency releases",
      "messages from peer sites",
      "periodic tick (silent MOMs, cycles)",
      "scheduler cycles",
    ]);
    // out of the environment: one SSM String parameter holds the peers, each function names it
    const params = Object.entries(resources).filter(([, r]) => r.Type === "AWS::SSM::Parameter");
    expect(params).toHaveLength(1);
    const [paramId, param] = params[0];
    expect(param.Properties.Type).toBe("String");
    expect(param.Properties.Tier).toBe("Standard");
    for (const f of fns()) {
      const vars = f.Properties.Environment.Variables;
      expect(vars.PEERS).toBeUndefined();
      expect(vars.PEERS_PARAMETER).toEqual({ Ref: paramId });
    }
    {
      const peers = JSON.parse(param.Properties.Value);
      // gust has no link in context: not peered
      expect(peers).toEqual([
        {
          short: "derecho",
          server: "desched1",
          inboxUrl: INBOX,
          secretParameter: "/metaqueue/peer/casper-derecho",
          pull: [{ queue: "main", into: "casper" }],
          accounts: { DERE0001: "NCAR0001" },
        },
      ]);
    }
  });

  it("lets each function read only that parameter and send only to that inbox", () => {
    const statements = Object.values(resources)
      .filter((r) => r.Type === "AWS::IAM::Policy")
      .flatMap((r) => r.Properties.PolicyDocument.Statement as Cfn[]);
    // the peers' parameter: GetParameter of it alone, by each of the five functions
    const [[paramId]] = Object.entries(resources).filter(([, r]) => r.Type === "AWS::SSM::Parameter");
    const config = statements.filter((s) => JSON.stringify(s.Resource).includes(paramId));
    expect(config.length).toBe(5);
    for (const s of config) expect(s.Action).toBe("ssm:GetParameter");
    const ssm = statements.filter(
      (s) => [s.Action].flat().includes("ssm:GetParameter") && JSON.stringify(s.Resource).includes("/peer/"),
    );
    expect(ssm.length).toBe(5);
    for (const s of ssm)
      expect(JSON.stringify(s.Resource)).toMatch(/parameter\/metaqueue\/peer\/casper-derecho"/);
    const send = statements.filter((s) => JSON.stringify(s.Resource).includes(queueArnOfUrl(INBOX)));
    expect(send.length).toBe(5);
    expect(queueArnOfUrl(INBOX)).toBe("arn:aws:sqs:us-east-1:222222222222:metaqueue-derecho-inbox");
  });
});

describe("the peers' parameter, cached", () => {
  it("is read once per PEERS_TTL_MS (concurrent reads share one request), again after, and a failure is not kept", async () => {
    const ssm = mockClient(SSMClient);
    let n = 0;
    ssm.on(GetParameterCommand, { Name: "/mq/casper/peers" }).callsFake(async () => ({
      Parameter: { Value: `v${++n}` },
    }));
    let t = 0;
    const cache = new ParameterCache(new SSMClient({ region: "us-east-1" }), PEERS_TTL_MS, () => t);
    expect(await Promise.all([cache.get("/mq/casper/peers"), cache.get("/mq/casper/peers")])).toEqual([
      "v1",
      "v1",
    ]);
    t += PEERS_TTL_MS - 1;
    expect(await cache.get("/mq/casper/peers")).toBe("v1");
    t += 1;
    expect(await cache.get("/mq/casper/peers")).toBe("v2");
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(2);
    ssm
      .on(GetParameterCommand, { Name: "/mq/other" })
      .rejectsOnce(new Error("throttled"))
      .resolves({
        Parameter: { Value: "ok" },
      });
    await expect(cache.get("/mq/other")).rejects.toThrow(/throttled/);
    expect(await cache.get("/mq/other")).toBe("ok");
    ssm.restore();
  });
});

describe("PEERS at cold start", () => {
  it("reads each pair secret from SSM, decrypted, and refuses bad input", async () => {
    const ssm = mockClient(SSMClient);
    ssm.on(GetParameterCommand, { Name: "/p/casper-derecho", WithDecryption: true }).resolves({
      Parameter: { Value: "0123456789abcdef-secret" },
    });
    const defs = parsePeersEnv(
      JSON.stringify([
        { short: "derecho", server: "desched1", inboxUrl: INBOX, secretParameter: "/p/casper-derecho" },
      ]),
    );
    const peers = await loadPeers(defs, ssmSecrets(new SSMClient({ region: "us-east-1" })));
    expect(peers.get("derecho")).toEqual({
      short: "derecho",
      server: "desched1",
      inboxUrl: INBOX,
      secret: "0123456789abcdef-secret",
    });
    expect(parsePeersEnv(undefined)).toEqual([]);
    expect(() => parsePeersEnv("{")).toThrow(/PEERS is not JSON/);
    expect(() =>
      parsePeersEnv(JSON.stringify([{ short: "x", server: "y", inboxUrl: "nope", secretParameter: "p" }])),
    ).toThrow(/inboxUrl/);
    await expect(loadPeers(defs, async () => "short")).rejects.toThrow(/shorter than 16/);
    ssm.restore();
  });
});
