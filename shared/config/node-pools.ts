/**
 * Node pools in the site configuration (issue 12): nodes that sleep until jobs need them, and
 * what each kind needs to start a node's MOM.
 *
 * - `process`: a child-process MOM per node (the local runtime only).
 * - `fargate`: each node is a long-lived Fargate task; its task size is the smallest valid
 *   Fargate size holding the node's ncpus and mem (checked here: no GPUs, at most 16 vCPU and
 *   120 GiB).
 * - `ec2`: each node is a long-lived task on an Auto Scaling group (from 0 instances, at most
 *   one per pool node) behind an ECS capacity provider; `instanceTypes` may have GPUs (the ECS
 *   GPU-optimized AMI is used then). A node must fit the smallest listed type this file knows.
 * - `external`: ECS Anywhere (launch type EXTERNAL): the centre's own hosts, registered by the
 *   centre with an SSM activation (docs/deploy.md); the stack owns no instance.
 *
 * The ECS kinds run only on AWS: the local runtime cannot RunTask and refuses them
 * (assertLocalPools).
 */
import { z } from "zod";
import { parseSize } from "../pbs/size.js";

export const NODE_POOL_KINDS = ["process", "fargate", "ec2", "external"] as const;
export type NodePoolKind = (typeof NODE_POOL_KINDS)[number];
/** the kinds whose nodes are ECS tasks (a deployed site) */
export const ECS_POOL_KINDS: readonly NodePoolKind[] = ["fargate", "ec2", "external"];

export const NodePoolConfigSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,30}$/),
    kind: z.enum(NODE_POOL_KINDS, {
      message: `a pool's kind is one of ${NODE_POOL_KINDS.join(", ")}`,
    }),
    /** seconds a powered-on node with no job stays up before it is powered off */
    idleOff: z.number().int().nonnegative().default(600),
    /** seconds a powering-on node has to say hello before it goes back to sleep */
    bootTimeout: z.number().int().positive().default(300),
    /** most nodes of the pool powered on in any minute */
    startsPerMinute: z.number().int().positive().default(10),
    /** ec2 only: the Auto Scaling group's instance types (the first is the launch template's) */
    instanceTypes: z
      .array(z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "an EC2 instance type, e.g. g5.xlarge"))
      .min(1)
      .optional(),
    /**
     * ECS pools: the CPU architecture the MOM image is built for (default: arm64 on Fargate, the
     * instance type's on ec2, x86_64 for external hosts)
     */
    arch: z.enum(["arm64", "x86_64"]).optional(),
  })
  .strict();

export type NodePoolConfig = z.infer<typeof NodePoolConfigSchema>;

/** Valid Fargate (Linux) task sizes: cpu units and the memory values (MiB) allowed with them. */
export const FARGATE_SIZES: { cpu: number; memory: number[] }[] = [
  { cpu: 256, memory: [512, 1024, 2048] },
  { cpu: 512, memory: range(1024, 4096, 1024) },
  { cpu: 1024, memory: range(2048, 8192, 1024) },
  { cpu: 2048, memory: range(4096, 16384, 1024) },
  { cpu: 4096, memory: range(8192, 30720, 1024) },
  { cpu: 8192, memory: range(16384, 61440, 4096) },
  { cpu: 16384, memory: range(32768, 122880, 8192) },
];

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let v = from; v <= to; v += step) out.push(v);
  return out;
}

/** The smallest Fargate size with `ncpus` vCPUs and `memMiB`; undefined when none holds it. */
export function fargateNodeSize(ncpus: number, memMiB: number): { cpu: number; memory: number } | undefined {
  const cpuUnits = Math.max(1, Math.ceil(Math.max(0, ncpus) * 1024));
  for (const size of FARGATE_SIZES) {
    if (size.cpu < cpuUnits) continue;
    const memory = size.memory.find((m) => m >= memMiB);
    if (memory !== undefined) return { cpu: size.cpu, memory };
  }
  return undefined;
}

/**
 * What an instance offers one long-lived node task: vCPUs, MiB (the instance's memory less
 * ECS's reserve, about 4%), GPUs. Types not listed are accepted without a size check (the
 * node's task then waits in PROVISIONING and its boot timeout says so).
 */
export const EC2_INSTANCE_TYPES: Record<string, { vcpus: number; memoryMiB: number; gpus: number }> = {
  "g4dn.xlarge": { vcpus: 4, memoryMiB: 15_360, gpus: 1 },
  "g4dn.2xlarge": { vcpus: 8, memoryMiB: 30_720, gpus: 1 },
  "g5.xlarge": { vcpus: 4, memoryMiB: 15_360, gpus: 1 },
  "g5.2xlarge": { vcpus: 8, memoryMiB: 30_720, gpus: 1 },
  "g5.4xlarge": { vcpus: 16, memoryMiB: 61_440, gpus: 1 },
  "g5.12xlarge": { vcpus: 48, memoryMiB: 184_320, gpus: 4 },
  "g6.xlarge": { vcpus: 4, memoryMiB: 15_360, gpus: 1 },
  "g6.2xlarge": { vcpus: 8, memoryMiB: 30_720, gpus: 1 },
  "p4d.24xlarge": { vcpus: 96, memoryMiB: 1_105_920, gpus: 8 },
  "c7g.4xlarge": { vcpus: 16, memoryMiB: 30_720, gpus: 0 },
  "c7g.16xlarge": { vcpus: 64, memoryMiB: 122_880, gpus: 0 },
  "m7g.4xlarge": { vcpus: 16, memoryMiB: 61_440, gpus: 0 },
  "m7g.16xlarge": { vcpus: 64, memoryMiB: 245_760, gpus: 0 },
  "r7g.4xlarge": { vcpus: 16, memoryMiB: 122_880, gpus: 0 },
  "c7i.16xlarge": { vcpus: 64, memoryMiB: 122_880, gpus: 0 },
  "m7i.4xlarge": { vcpus: 16, memoryMiB: 61_440, gpus: 0 },
};

/** Graviton families carry a `g` after the generation (c7g, m7gd, g5g): arm64; the rest x86_64. */
export function instanceArch(instanceType: string): "arm64" | "x86_64" {
  const family = instanceType.split(".")[0];
  return /^[a-z]+\d+[a-z]*g[a-z]*$/.test(family) && !/^[a-z]+\d+$/.test(family) ? "arm64" : "x86_64";
}

/** A pool's CPU architecture (the MOM image is built for it). */
export function poolArch(pool: NodePoolConfig): "arm64" | "x86_64" {
  if (pool.arch) return pool.arch;
  if (pool.kind === "ec2" && pool.instanceTypes?.length) return instanceArch(pool.instanceTypes[0]);
  return pool.kind === "fargate" ? "arm64" : "x86_64";
}

const MiB = 1024 * 1024;

interface PoolNode {
  name: string;
  ncpus: number;
  mem: string;
  ngpus: number;
  pool?: string;
}

/**
 * Problems of a site's pools and their nodes, one message each (site-config.ts adds them as
 * zod issues): kinds and fields that do not go together, nodes a pool cannot hold.
 */
export function poolProblems(site: string, pools: NodePoolConfig[], nodes: PoolNode[]): string[] {
  const out: string[] = [];
  const byName = new Map(pools.map((p) => [p.name, p]));
  for (const p of pools) {
    const at = `node pool ${p.name} of site ${site}`;
    if (p.kind !== "ec2" && p.instanceTypes)
      out.push(`${at}: instanceTypes are for ec2 pools only (this one is ${p.kind})`);
    if (p.kind === "ec2" && !p.instanceTypes)
      out.push(`${at}: an ec2 pool needs instanceTypes (e.g. ["g5.xlarge"])`);
    if (p.kind === "process" && p.arch)
      out.push(`${at}: arch is for ECS pools (a process pool runs on the runtime's host)`);
    if (p.kind === "ec2" && p.instanceTypes && p.arch === undefined) {
      const archs = new Set(p.instanceTypes.map(instanceArch));
      if (archs.size > 1)
        out.push(`${at}: instance types of both arm64 and x86_64: one MOM image serves a pool, split it`);
    }
  }
  if (pools.some((p) => p.kind === "process") && pools.some((p) => p.kind !== "process"))
    out.push(
      `site ${site}: process pools (local) and ECS pools (fargate, ec2, external) cannot be mixed: a site runs locally or on AWS`,
    );
  for (const n of nodes) {
    const p = n.pool === undefined ? undefined : byName.get(n.pool);
    if (!p) continue;
    const at = `node ${n.name} of site ${site} (pool ${p.name}, ${p.kind})`;
    let memMiB: number;
    try {
      memMiB = Math.ceil(parseSize(n.mem) / MiB);
    } catch (err) {
      out.push(`${at}: mem ${n.mem}: ${(err as Error).message}`);
      continue;
    }
    if (p.kind === "fargate") {
      if (n.ngpus > 0)
        out.push(`${at}: ngpus=${n.ngpus}, but Fargate has no GPUs: put GPU nodes in an ec2 pool`);
      else if (!fargateNodeSize(n.ncpus, memMiB))
        out.push(
          `${at}: ncpus=${n.ncpus} mem=${n.mem} is more than the largest Fargate task (16 vCPU, 120 GiB): put it in an ec2 pool`,
        );
    }
    if (p.kind === "ec2" && p.instanceTypes) {
      const known = p.instanceTypes.map((t) => EC2_INSTANCE_TYPES[t]);
      // the group may launch any of its types: the node must fit the smallest known one
      for (const [i, k] of known.entries()) {
        if (!k) continue;
        const t = p.instanceTypes[i];
        if (n.ncpus > k.vcpus || memMiB > k.memoryMiB || n.ngpus > k.gpus)
          out.push(
            `${at}: ncpus=${n.ncpus} mem=${n.mem} ngpus=${n.ngpus} does not fit a ${t} (${k.vcpus} vCPU, ${k.memoryMiB} MiB for tasks, ${k.gpus} GPU)`,
          );
      }
    }
  }
  return out;
}

/** The local runtime runs `process` pools only: an ECS pool needs RunTask, which it has not. */
export function assertLocalPools(site: { name: string; nodePools: NodePoolConfig[] }): void {
  const ecs = site.nodePools.filter((p) => p.kind !== "process");
  if (ecs.length)
    throw new Error(
      `site ${site.name}: node pool(s) ${ecs.map((p) => `${p.name} (${p.kind})`).join(", ")} start ECS tasks, which the local runtime cannot: deploy the site to AWS (docs/deploy.md), or make them kind "process" to run locally`,
    );
}

/** The AWS stack runs ECS pools only: a `process` pool forks MOMs on the server's host. */
export function assertAwsPools(site: { name: string; nodePools: NodePoolConfig[] }): void {
  const local = site.nodePools.filter((p) => p.kind === "process");
  if (local.length)
    throw new Error(
      `site ${site.name}: node pool(s) ${local.map((p) => p.name).join(", ")} are kind "process" (child processes of the local runtime), which a deployed site has no host for: use fargate, ec2 or external`,
    );
}
