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
import { type SiteConfig, SiteConfigSchema } from "../shared/config/site-config.js";
import { makeDynamoClients } from "../shared/store/clients.js";
import { type ServerObject, SiteStore } from "../shared/store/site-store.js";

/** The server objects a site configuration describes (pure). */
export function siteObjects(sc: SiteConfig, managers: string): Omit<ServerObject, "ver">[] {
  const out: Omit<ServerObject, "ver">[] = [];
  for (const q of sc.queues) {
    out.push({
      kind: "queue",
      name: q.name,
      attrs: { queue_type: "Execution", enabled: true, started: true, ...q.attributes },
    });
  }
  for (const n of sc.nodes) {
    const attrs: ServerObject["attrs"] = {
      state: "free",
      Mom: n.name,
      "resources_available.ncpus": n.ncpus,
      "resources_available.mem": n.mem,
      "resources_available.ngpus": n.ngpus,
    };
    if (n.partition) attrs.partition = n.partition;
    out.push({ kind: "node", name: n.name, attrs });
  }
  for (const s of sc.scheds) {
    out.push({
      kind: "sched",
      name: s.name,
      attrs: { scheduling: true, partition: s.partitions.join(","), ...s.attributes },
    });
  }
  out.push({
    kind: "server",
    name: "server",
    attrs: {
      scheduling: true,
      default_queue: sc.queues[0].name,
      ...(managers ? { managers } : {}),
      ...sc.serverAttributes,
    },
  });
  return out;
}

/** Create the objects that are missing; returns how many were created. */
export async function seedSite(store: SiteStore, sc: SiteConfig, managers: string): Promise<number> {
  let created = 0;
  for (const o of siteObjects(sc, managers)) {
    try {
      await store.putServerObject({ ...o, ver: -1 });
      created++;
    } catch (err) {
      if (!(err as Error).message.includes("already exists")) throw err;
    }
  }
  return created;
}

export const handler = async (event: CloudFormationCustomResourceEvent) => {
  const physicalId = `metaqueue-seed-${event.ResourceProperties.TableName}`;
  if (event.RequestType === "Delete") return { PhysicalResourceId: event.PhysicalResourceId };
  const props = event.ResourceProperties as unknown as { TableName: string; Site: string; Managers?: string };
  const region = process.env.AWS_REGION;
  if (!region) throw new Error("AWS_REGION is not set");
  const site = SiteConfigSchema.parse(JSON.parse(props.Site));
  const { doc } = makeDynamoClients({ region });
  const created = await seedSite(new SiteStore(doc, props.TableName), site, props.Managers ?? "");
  console.log(`seeded ${site.name}: ${created} server object(s) created`);
  return { PhysicalResourceId: physicalId, Data: { Created: created } };
};
