/**
 * A site configuration becomes server objects (queues, nodes, scheds, the server). Used by the
 * local runtime at start and by the deploy-time custom resource (lambdas/seed.ts): objects are
 * only created when missing, so what qmgr changed later is never overwritten.
 */
import type { SiteConfig } from "../config/site-config.js";
import type { SiteStore } from "../ports/store.js";
import type { ServerObject } from "../server/records.js";

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
    // a pool node starts powered off (shared/scheduler/power.ts): jobs power it on
    if (n.pool) Object.assign(attrs, { pool: n.pool, power_state: "sleep", power_since: 0 });
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
