/**
 * A deployed site's node pools as its Lambdas read them (issue 12): the pools' power policies
 * (every function), and for the ECS executor the pools' task definitions and every pool node's
 * size. The CDK stack writes this document to an SSM parameter (infra/aws/constructs/
 * node-pools.ts) and the functions read it at cold start (lambdas/node-pools-env.ts): in the
 * functions' environment (4 KB for all variables) a site could have ~40 pool nodes.
 *
 * Nodes are written as runs of names: consecutive nodes of one pool and one size whose names
 * count up (`f0001`, `f0002`, ...) are one entry `f[0001-2000]`, so a site of thousands of
 * uniform nodes fits in a standard parameter (4 KB), and any site in an advanced one (8 KB) as
 * long as its node names mostly come in runs. `decodeNodePools(encodeNodePools(x))` is `x`.
 */
import { z } from "zod";

export const NodePoolPoliciesSchema = z.array(
  z
    .object({
      name: z.string().min(1),
      idleOff: z.number().int().nonnegative(),
      bootTimeout: z.number().int().positive(),
      startsPerMinute: z.number().int().positive(),
    })
    .strict(),
);
export type NodePoolPolicy = z.infer<typeof NodePoolPoliciesSchema>[number];

/** [name, pool, ncpus, memoryMiB, gpus] */
const NodeTuple = z.tuple([
  z.string().min(1),
  z.string().min(1),
  z.number().positive(),
  z.number().nonnegative(),
  z.number().int().nonnegative(),
]);
export type EcsPoolNode = z.infer<typeof NodeTuple>;

export const EcsNodePoolsSchema = z
  .object({
    pools: z.array(
      z
        .object({
          name: z.string().min(1),
          kind: z.enum(["fargate", "ec2", "external"]),
          taskDefinition: z.string().min(1),
          capacityProvider: z.string().min(1).optional(),
        })
        .strict(),
    ),
    nodes: z.array(NodeTuple),
  })
  .strict();
export type EcsNodePools = z.infer<typeof EcsNodePoolsSchema>;

export interface NodePoolsDoc {
  policies: NodePoolPolicy[];
  ecs: EcsNodePools;
}

/** The parameter's form: nodes as runs of names (`prefix[first-last]`). */
const StoredSchema = z
  .object({
    v: z.literal(1),
    policies: NodePoolPoliciesSchema,
    pools: EcsNodePoolsSchema.shape.pools,
    nodes: z.array(NodeTuple),
  })
  .strict();

/** A node name with a number at its end: the prefix, the digits. */
const NUMBERED = /^(.*?)(\d+)$/;
const RUN = /^(.*)\[(\d+)-(\d+)\]$/;
/** zero-padded digits keep their width; others have none */
const widthOf = (digits: string) => (digits.length > 1 && digits.startsWith("0") ? digits.length : 0);
const numbered = (prefix: string, n: number, width: number) => `${prefix}${String(n).padStart(width, "0")}`;

/** The document as the parameter holds it (JSON text). */
export function encodeNodePools(doc: NodePoolsDoc): string {
  const nodes: EcsPoolNode[] = [];
  // the run being built: its first node, prefix, width, first and last number
  let run: { node: EcsPoolNode; prefix: string; width: number; first: number; last: number } | undefined;
  const close = () => {
    if (!run) return;
    const { node, prefix, width, first, last } = run;
    const name =
      first === last ? node[0] : `${prefix}[${numbered("", first, width)}-${numbered("", last, width)}]`;
    nodes.push([name, node[1], node[2], node[3], node[4]]);
    run = undefined;
  };
  for (const n of doc.ecs.nodes) {
    if (n[0].includes("[")) throw new Error(`node name ${n[0]}: "[" is not allowed in a pool node's name`);
    const m = NUMBERED.exec(n[0]);
    const same =
      run &&
      m &&
      run.node[1] === n[1] &&
      run.node[2] === n[2] &&
      run.node[3] === n[3] &&
      run.node[4] === n[4] &&
      m[1] === run.prefix &&
      numbered(run.prefix, run.last + 1, run.width) === n[0];
    if (run && same) {
      run.last++;
      continue;
    }
    close();
    if (m) {
      const first = Number(m[2]);
      // a number too large to count exactly, or digits the width rule would not give back: alone
      if (Number.isSafeInteger(first) && numbered(m[1], first, widthOf(m[2])) === n[0])
        run = { node: n, prefix: m[1], width: widthOf(m[2]), first, last: first };
      else nodes.push(n);
    } else nodes.push(n);
  }
  close();
  return JSON.stringify({ v: 1, policies: doc.policies, pools: doc.ecs.pools, nodes });
}

/** The parameter's text back to the document; throws naming what is wrong. */
export function decodeNodePools(text: string): NodePoolsDoc {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error("the node pools' parameter is not JSON", { cause: err });
  }
  const r = StoredSchema.safeParse(raw);
  if (!r.success)
    throw new Error(
      `the node pools' parameter: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  const nodes: EcsPoolNode[] = [];
  for (const [name, pool, ncpus, mem, gpus] of r.data.nodes) {
    const m = RUN.exec(name);
    if (!m) {
      nodes.push([name, pool, ncpus, mem, gpus]);
      continue;
    }
    const width = widthOf(m[2]);
    const [first, last] = [Number(m[2]), Number(m[3])];
    if (last < first) throw new Error(`the node pools' parameter: node run ${name} counts down`);
    for (let i = first; i <= last; i++) nodes.push([numbered(m[1], i, width), pool, ncpus, mem, gpus]);
  }
  return { policies: r.data.policies, ecs: { pools: r.data.pools, nodes } };
}
