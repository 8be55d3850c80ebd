/**
 * cdk-nag's AwsSolutions pack over the site stack, as AWS engineers check a stack before a
 * first deploy: a site on its own and a peered site (inbox function, peer grants). Any finding
 * not acknowledged in code (infra/aws/nag.ts, or at the construct: the API's open routes)
 * fails the test, so a new resource arrives fixed or with a reviewed reason.
 */
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../shared/config/site-config.js";
import { peerLinks, tableCapacity } from "../../../infra/aws/settings.js";
import { SiteStack } from "../../../infra/aws/site-stack.js";

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
  ],
});
const INBOX = "https://sqs.us-east-1.amazonaws.com/222222222222/metaqueue-derecho-inbox";

/** the peered variant also bills its table provisioned (context tableCapacity), so nag sees both modes */
function stackOf(peered: boolean): SiteStack {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  return new SiteStack(app, "Metaqueue-casper", {
    site: config.sites[0],
    auth: { issuer: "https://issuer.example.org", audience: ["x"] },
    alarmEmail: "hpc-ops@example.org",
    ...(peered
      ? {
          tableCapacity: tableCapacity("provisioned:writes=5-1000,reads=5-500"),
          otherSites: config.sites.slice(1),
          peerAccounts: ["222222222222"],
          peers: peerLinks({
            derecho: { inboxUrl: INBOX, secretParameter: "/metaqueue/peer/casper-derecho" },
          }),
        }
      : {}),
  });
}

/** the findings left after acknowledgements, one line each */
function findings(stack: SiteStack): string[] {
  const report = new AwsSolutionsChecks().validateScope(stack);
  return report.violations.map(
    (v) =>
      `${v.ruleName} (${v.severity}) at ${v.violatingResources.map((r) => r.constructPath ?? r.resourceLogicalId).join(", ")}: ${v.description}`,
  );
}

describe("cdk-nag AwsSolutions", () => {
  for (const peered of [false, true]) {
    it(`leaves no unacknowledged finding (${peered ? "peered site, provisioned table" : "site on its own"})`, () => {
      expect(findings(stackOf(peered))).toEqual([]);
    }, 120_000);
  }

  it("acknowledgements name one rule and carry a reason", () => {
    const stack = stackOf(true);
    const acks = stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
      .flatMap((m) => Object.entries(m.data as Record<string, string>))
      // aws-cdk-lib acknowledges some of its own validations; ours are the AwsSolutions ones
      .filter(([id]) => id.includes("AwsSolutions"));
    expect(acks.length).toBeGreaterThan(0);
    for (const [id, reason] of acks) {
      // one rule (or one finding of it), never a wildcard over rules
      expect(id).toMatch(/AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(reason.length, id).toBeGreaterThan(40);
    }
  }, 120_000);
});
