/**
 * Schemas for every API input: sizes bounded, unknown fields rejected. The limits are well
 * above what PBS accepts and well below what could hurt a DynamoDB item (400 KB) or the
 * API (2 MB body locally, 10 MB on API Gateway).
 */
import { z } from "zod";
import { MAX_SUBMIT_ARGUMENTS } from "./views.js";

/** Any text field: no NUL (a NUL in a path or an environment variable ends it early in C). */
const str = (max: number) =>
  z
    .string()
    .max(max, `over the limit of ${max} characters`)
    .refine((s) => !s.includes("\0"), "must not contain NUL characters");

/** A map with at most `n` entries. */
const map = (key: z.ZodType<string>, value: z.ZodType<string>, n: number) =>
  z.record(key, value).refine((o) => Object.keys(o).length <= n, `at most ${n} entries`);

/** Resource and attribute names: PBS names, never paths or expressions. */
const attrName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]{0,63}$/, "not a valid attribute name");
/** Environment variable names (Variable_List): anything a POSIX environment can hold (qsub -V). */
const envName = z.string().regex(/^[^=\0]{1,256}$/, "not a valid variable name");

/** Largest script the schema lets through; the site's maxScriptBytes (256 KB) decides after. */
export const MAX_SCRIPT_CHARS = 1024 * 1024;
export { MAX_DEPEND_JOBS } from "../pbs/depend.js";

export const QsubOptionsSchema = z
  .object({
    queue: str(256).optional(),
    name: str(236).optional(),
    account: str(256).optional(),
    resources: map(attrName, str(4096), 64).optional(),
    join: z.enum(["oe", "eo", "n"]).optional(),
    outputPath: str(4096).optional(),
    errorPath: str(4096).optional(),
    variables: map(envName, str(65536), 1000).optional(),
    variablesFromEnv: z.array(str(256)).max(1000).optional(),
    exportEnv: z.boolean().optional(),
    depend: str(16384).optional(),
    attributes: map(attrName, str(4096), 64).optional(),
    hold: z.boolean().optional(),
    priority: z.number().int().min(-1024).max(1023).optional(),
    rerunnable: z.boolean().optional(),
    arrayRange: str(64).optional(),
    quiet: z.boolean().optional(),
    block: z.boolean().optional(),
    interactive: z.boolean().optional(),
    mailPoints: str(16).optional(),
    mailUsers: str(1024).optional(),
    shell: str(1024).optional(),
    executionTime: z.number().finite().optional(),
    project: str(256).optional(),
  })
  .strict();

export const SubmitRequestSchema = z
  .object({
    script: str(MAX_SCRIPT_CHARS),
    options: QsubOptionsSchema.default({}),
    submitDir: str(4096),
    env: map(envName, str(131072), 1000).default({}),
    submitHost: str(255).default("localhost"),
    scriptName: str(4096).optional(),
    submitArguments: str(MAX_SUBMIT_ARGUMENTS).optional(),
  })
  .strict();

export const HoldSchema = z.object({ holdType: z.enum(["u", "o", "s"]).optional() }).strict();
export const MoveSchema = z.object({ destination: str(512) }).strict();
export const AlterSchema = z
  .object({
    options: QsubOptionsSchema.refine((o) => Object.keys(o).length > 0, "nothing to alter"),
  })
  .strict();
export const QmgrSchema = z.object({ command: str(65536) }).strict();
export const EmptySchema = z.object({}).strict();

/** Query parameters any route may read; anything else is refused. */
export const QuerySchema = z
  .object({
    history: z.enum(["0", "1", "true", "false"]).optional(),
    // qdel -x / -W force / a job past -W suppress_email's count (DELETE /v1/jobs/{id})
    purge: z.enum(["0", "1"]).optional(),
    force: z.enum(["0", "1"]).optional(),
    nomail: z.enum(["0", "1"]).optional(),
    queue: str(256).optional(),
    user: str(64).optional(),
    /** accounting: one project; the jobs page: jobs of one project */
    project: str(64).optional(),
    // the dashboard's paging and filters (validated again as numbers where they are read)
    limit: str(8).optional(),
    before: str(20).optional(),
    // qstat's paging (GET /v1/jobs, oldest first): the last page's `next`
    after: str(20).optional(),
    state: str(32).optional(),
    id: str(128).optional(),
    stream: z.enum(["o", "e"]).optional(),
    bytes: str(12).optional(),
    from: str(20).optional(),
    since: str(20).optional(),
  })
  .strict();
