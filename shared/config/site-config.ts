/**
 * The site configuration file (metaqueue.config.json): which sites exist, their server names,
 * queues and nodes. One schema for the local runtime and the CDK app.
 */
import { z } from "zod";
import { NodePoolConfigSchema, type NodePoolConfig, poolProblems } from "./node-pools.js";

/**
 * A site's short name: it ends job IDs (123.casper) and names the site's AWS stack
 * (Metaqueue-<site>), whose name allows only letters, digits and "-": a "_" is refused here,
 * at parse, rather than by CloudFormation at the first deploy.
 */
const name = z
  .string()
  .regex(
    /^[A-Za-z][A-Za-z0-9-]{0,30}$/,
    "letters, digits and - only, starting with a letter (it names the AWS stack Metaqueue-<site>, which allows no _)",
  );
const serverName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/);

export const QueueConfigSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,14}$/),
    /** PBS queue attributes by name (priority, max_run, resources_max.walltime, partition, ...) */
    attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  })
  .strict();

export const NodeConfigSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/),
    ncpus: z.number().int().positive(),
    mem: z.string().default("4gb"),
    ngpus: z.number().int().nonnegative().default(0),
    partition: z.string().optional(),
    /**
     * the node pool it belongs to (`nodePools`): powered on when jobs need it and off after the
     * pool's idleOff; absent = always on, its MOM started with the site
     */
    pool: z.string().optional(),
  })
  .strict();

/** A node pool (issue 12): see node-pools.ts for the kinds and what each needs. */
export { NodePoolConfigSchema };

export const SchedConfigSchema = z
  .object({
    name: name,
    partitions: z.array(z.string()).min(1),
    attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  })
  .strict();

/** How this site federates: which peer queues it pulls from, and how it maps peers' names. */
export const FederationConfigSchema = z
  .object({
    /** pull directives: take queued jobs of `from` (queue@server) into local queue `queue` */
    pull: z
      .array(z.object({ queue: z.string(), from: z.string().regex(/^[^@\s]+@[^@\s]+$/) }).strict())
      .default([]),
    /** the acid mapper, per peer (site name): its account and user names to ours */
    peers: z
      .record(
        z.string(),
        z
          .object({
            accounts: z.record(z.string().max(64), z.string().max(64)).optional(),
            users: z.record(z.string().max(64), z.string().max(64)).optional(),
          })
          .strict(),
      )
      .default({}),
  })
  .strict();

export const SiteConfigSchema = z
  .object({
    /** short name, used in job IDs: 123.casper */
    name: name,
    /** PBS server name: casper-pbs */
    server: serverName,
    /** local mode: fixed API port (0 or absent = any free port) */
    apiPort: z.number().int().nonnegative().optional(),
    serverAttributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
    queues: z.array(QueueConfigSchema).min(1),
    nodes: z.array(NodeConfigSchema).min(1),
    nodePools: z.array(NodePoolConfigSchema).default([]),
    scheds: z.array(SchedConfigSchema).default([]),
    /**
     * where jobs start: "home-login" (PBS's way: the owner's $HOME, a login shell) or
     * "workdir" (the submit directory, no login shell); default home-login
     */
    jobStart: z.enum(["home-login", "workdir"]).optional(),
    /**
     * job mail (-m/-M), local runtime only: `sendmail` is the program's absolute path (default:
     * /usr/sbin/sendmail, else /usr/lib/sendmail, when executable), or false for no mail;
     * `from` is the envelope sender (PBS's mail_from, default "adm"). A site on AWS has no
     * mailer whatever this says.
     */
    mail: z
      .object({
        sendmail: z.union([z.string().regex(/^\//, "an absolute path"), z.literal(false)]).optional(),
        from: z
          .string()
          .regex(/^[A-Za-z0-9_][A-Za-z0-9_.+=-]*(@[A-Za-z0-9][A-Za-z0-9.-]*)?$/, "user or user@host")
          .optional(),
      })
      .strict()
      .optional(),
    federation: FederationConfigSchema.optional(),
  })
  .strict();

export const MetaqueueConfigSchema = z
  .object({
    /** short name of the site the CLI uses when no server is named */
    defaultSite: z.string().optional(),
    sites: z.array(SiteConfigSchema).min(1),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    for (const s of cfg.sites) {
      const pools = new Set(s.nodePools.map((p) => p.name));
      for (const n of s.nodes)
        if (n.pool !== undefined && !pools.has(n.pool))
          ctx.addIssue({
            code: "custom",
            message: `node ${n.name} of site ${s.name}: no node pool ${n.pool}`,
          });
      for (const message of poolProblems(s.name, s.nodePools, s.nodes))
        ctx.addIssue({ code: "custom", message });
    }
    const seen = new Set<string>();
    for (const s of cfg.sites) {
      for (const n of [s.name, s.server]) {
        if (seen.has(n) && !(n === s.name && n === s.server)) {
          ctx.addIssue({ code: "custom", message: `site or server name ${n} used twice` });
        }
        seen.add(n);
      }
    }
    if (
      cfg.defaultSite &&
      !cfg.sites.some((s) => s.name === cfg.defaultSite || s.server === cfg.defaultSite)
    ) {
      ctx.addIssue({ code: "custom", message: `defaultSite ${cfg.defaultSite} is not a configured site` });
    }
  });

export type QueueConfig = z.infer<typeof QueueConfigSchema>;
export type NodeConfig = z.infer<typeof NodeConfigSchema>;
export type { NodePoolConfig };
export type SiteConfig = z.infer<typeof SiteConfigSchema>;
export type MetaqueueConfig = z.infer<typeof MetaqueueConfigSchema>;

/** Parse and validate; the error lists every problem with its path. */
export function parseConfig(json: unknown): MetaqueueConfig {
  const r = MetaqueueConfigSchema.safeParse(json);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new Error(`invalid metaqueue configuration:\n${lines.join("\n")}`);
  }
  return r.data;
}

/** The pull directives and identity maps `site` applies to `peer` (by site or server name). */
export function federationFor(
  site: SiteConfig,
  peer: Pick<SiteConfig, "name" | "server">,
): {
  pull: { queue: string; into: string }[];
  accounts?: Record<string, string>;
  users?: Record<string, string>;
} {
  const fed = site.federation;
  const pull = (fed?.pull ?? [])
    .map((d) => ({ into: d.queue, queue: d.from.split("@")[0], server: d.from.split("@")[1] }))
    .filter((d) => d.server === peer.name || d.server === peer.server)
    .map(({ queue, into }) => ({ queue, into }));
  const maps = fed?.peers[peer.name] ?? fed?.peers[peer.server];
  return { pull, accounts: maps?.accounts, users: maps?.users };
}
