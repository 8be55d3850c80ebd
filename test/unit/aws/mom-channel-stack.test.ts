/**
 * The MOM push channel in the site stack (infra/aws/constructs/mom-channel.ts): a WebSocket API
 * whose three routes reach one Lambda (lambdas/mom-channel.ts), a stage with access logs and
 * throttling, and the pushing functions (scheduler, API, sweeper) allowed to post to its
 * connections only, with the management endpoint in their environment.
 */
import { App, Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../../shared/config/site-config.js";
import { SiteStack } from "../../../infra/aws/site-stack.js";

const config = parseConfig({
  sites: [
    { name: "casper", server: "casper-pbs", queues: [{ name: "casper" }], nodes: [{ name: "c1", ncpus: 4 }] },
  ],
});
let stack: SiteStack;
let t: Template;

beforeAll(() => {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  stack = new SiteStack(app, "Metaqueue-casper", {
    site: config.sites[0],
    auth: { issuer: "https://issuer.example.org", audience: ["x"] },
  });
  t = Template.fromStack(stack);
});

const logicalId = (c: { node: { defaultChild?: unknown } }) =>
  Stack.of(stack).getLogicalId(c.node.defaultChild as never);

describe("MOM channel", () => {
  it("is a WebSocket API with $connect, $default and $disconnect on one Lambda", () => {
    t.hasResourceProperties("AWS::ApiGatewayV2::Api", { ProtocolType: "WEBSOCKET" });
    const routes = Object.values(t.findResources("AWS::ApiGatewayV2::Route")).filter((r) =>
      String(JSON.stringify(r.Properties.ApiId)).includes(logicalId(stack.channel.api)),
    );
    expect(routes.map((r) => r.Properties.RouteKey).sort()).toEqual(["$connect", "$default", "$disconnect"]);
    // no authorizer: the route's Lambda checks the MOM's signed connect
    for (const r of routes) expect(r.Properties.AuthorizationType ?? "NONE").toBe("NONE");
    const integrations = Object.values(t.findResources("AWS::ApiGatewayV2::Integration")).filter((r) =>
      String(JSON.stringify(r.Properties.ApiId)).includes(logicalId(stack.channel.api)),
    );
    const targets = new Set(integrations.map((i) => JSON.stringify(i.Properties.IntegrationUri)));
    expect(targets.size).toBe(1);
    expect([...targets][0]).toContain(logicalId(stack.channel.handler));
  });

  it("has a stage with access logs and throttling", () => {
    t.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      StageName: "moms",
      AutoDeploy: true,
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp("connectionId") },
      DefaultRouteSettings: Match.objectLike({ ThrottlingBurstLimit: 500, ThrottlingRateLimit: 200 }),
    });
  });

  it("lets the scheduler, the API and the sweeper push, to this API's connections only", () => {
    for (const fn of [stack.scheduler.scheduler, stack.api.handler, stack.scheduler.sweeper]) {
      const env = t.toJSON().Resources[logicalId(fn)].Properties.Environment.Variables;
      expect(JSON.stringify(env.MOM_CHANNEL_ENDPOINT), fn.node.path).toContain(logicalId(stack.channel.api));
      const role = logicalId(fn.role as never);
      const policies = Object.values(t.findResources("AWS::IAM::Policy")).filter((p) =>
        JSON.stringify(p.Properties.Roles).includes(role),
      );
      const manage = policies
        .flatMap((p) => p.Properties.PolicyDocument.Statement)
        .filter((st: { Action: unknown }) =>
          JSON.stringify(st.Action).includes("execute-api:ManageConnections"),
        );
      expect(manage, fn.node.path).toHaveLength(1);
      const resource = JSON.stringify(manage[0].Resource);
      expect(resource).toContain(logicalId(stack.channel.api));
      expect(resource).toContain("@connections");
    }
  });

  it("the route Lambda may read and write the table and send to the events queue, not push", () => {
    const role = logicalId(stack.channel.handler.role as never);
    const actions = Object.values(t.findResources("AWS::IAM::Policy"))
      .filter((p) => JSON.stringify(p.Properties.Roles).includes(role))
      .flatMap((p) => p.Properties.PolicyDocument.Statement)
      .flatMap((st: { Action: string | string[] }) => (Array.isArray(st.Action) ? st.Action : [st.Action]));
    expect(actions).toEqual(
      expect.arrayContaining(["dynamodb:PutItem", "sqs:SendMessage", "ssm:GetParameter"]),
    );
    expect(actions).not.toContain("execute-api:ManageConnections");
  });
});
