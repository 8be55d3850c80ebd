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
import { z } from "zod";
import { readEnv } from "../shared/config/env.js";
import { SiteConfigSchema } from "../shared/config/site-config.js";
import { makeDynamoClients } from "../shared/adapters/aws-clients.js";
import { DynamoSiteStore } from "../shared/adapters/dynamodb/index.js";
import { seedSite } from "../shared/server/seed.js";
import { logger, siteHandler } from "./middleware.js";

/** Lambda sets AWS_REGION; the table and the site come in the resource's properties. */
const SeedEnvSchema = z.object({ AWS_REGION: z.string().min(1) });

export const handler = siteHandler(async (event: CloudFormationCustomResourceEvent) => {
  const physicalId = `metaqueue-seed-${event.ResourceProperties.TableName}`;
  if (event.RequestType === "Delete") return { PhysicalResourceId: event.PhysicalResourceId };
  const props = event.ResourceProperties as unknown as { TableName: string; Site: string; Managers?: string };
  const { AWS_REGION: region } = readEnv("seed Lambda", SeedEnvSchema);
  const site = SiteConfigSchema.parse(JSON.parse(props.Site));
  const { doc } = makeDynamoClients({ region });
  const created = await seedSite(new DynamoSiteStore(doc, props.TableName), site, props.Managers ?? "");
  logger.info(`seeded ${site.name}: ${created} server object(s) created`);
  return { PhysicalResourceId: physicalId, Data: { Created: created } };
});
