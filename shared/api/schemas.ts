/** Schemas for every API input: sizes bounded, unknown fields rejected. */
import { z } from "zod";

const str = (max: number) => z.string().max(max);

export const QsubOptionsSchema = z
  .object({
    queue: str(256).optional(),
    name: str(236).optional(),
    account: str(256).optional(),
    resources: z.record(str(64), str(4096)).optional(),
    join: z.enum(["oe", "eo", "n"]).optional(),
    outputPath: str(4096).optional(),
    errorPath: str(4096).optional(),
    variables: z.record(str(256), str(65536)).optional(),
    variablesFromEnv: z.array(str(256)).max(1000).optional(),
    exportEnv: z.boolean().optional(),
    depend: str(16384).optional(),
    attributes: z.record(str(64), str(4096)).optional(),
    hold: z.boolean().optional(),
    priority: z.number().int().min(-1024).max(1023).optional(),
    rerunnable: z.boolean().optional(),
    arrayRange: str(64).optional(),
    quiet: z.boolean().optional(),
    mailPoints: str(16).optional(),
    mailUsers: str(1024).optional(),
    shell: str(1024).optional(),
    executionTime: z.number().optional(),
    project: str(256).optional(),
  })
  .strict();

export const SubmitRequestSchema = z
  .object({
    script: z.string(),
    options: QsubOptionsSchema.default({}),
    submitDir: str(4096),
    env: z.record(str(256), str(131072)).default({}),
    submitHost: str(255).default("localhost"),
    scriptName: str(4096).optional(),
  })
  .strict();

export const HoldSchema = z.object({ holdType: z.enum(["u", "o", "s"]).optional() }).strict();
export const MoveSchema = z.object({ destination: str(512) }).strict();
export const AlterSchema = z.object({ options: QsubOptionsSchema }).strict();
export const QmgrSchema = z.object({ command: str(65536) }).strict();
