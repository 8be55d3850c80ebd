/**
 * Lambda entry: a CloudFormation custom resource (CDK Provider framework) that turns the site's
 * configuration into server objects at deploy time: queues, nodes, scheds and the server
 * (with its managers). Each object is created only if it is missing, so what qmgr changed
 * later is never overwritten; a configuration update adds the new objects. Deleting the stack
 * leaves the table (retained) and its objects alone.
 *
 * The local runtime seeds the same objects on its first start (infra/local/runtime.ts).
 */
import type { CloudFormationCustomResourceEvent } from "aws-lambda";
import { SiteConfigSchema } from "../shared/config/site-config.js";
import { makeDynamoClients } from "../shared/adapters/aws-clients.js";
import { DynamoSiteStore } from "../shared/adapters/dynamodb/index.js";
import { seedSite } from "../shared/server/seed.js";

export const handler = async (event: CloudFormationCustomResourceEvent) => {
  const physicalId = `metaqueue-seed-${event.ResourceProperties.TableName}`;
  if (event.RequestType === "Delete") return { PhysicalResourceId: event.PhysicalResourceId };
  const props = event.ResourceProperties as unknown as { TableName: string; Site: string; Managers?: string };
  const region = process.env.AWS_REGION;
  if (!region) throw new Error("AWS_REGION is not set");
  const site = SiteConfigSchema.parse(JSON.parse(props.Site));
  const { doc } = makeDynamoClients({ region });
  const created = await seedSite(new DynamoSiteStore(doc, props.TableName), site, props.Managers ?? "");
  console.log(`seeded ${site.name}: ${created} server object(s) created`);
  return { PhysicalResourceId: physicalId, Data: { Created: created } };
};
