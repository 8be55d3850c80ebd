/**
 * The one way an entry point reads its environment: `readEnv(who, schema, env)` with a schema
 * declared next to the entry, failing at start with an EnvError that lists every missing or
 * invalid variable at once. The domain (shared/server, scheduler, peers, api) reads no
 * environment: entries read it and hand the domain plain values.
 *
 * A schema is anything that implements Standard Schema v1 (`~standard.validate`), so a zod
 * schema serves as is where the entry already loads zod (the Lambdas, the local runtime, the
 * CDK app). The CLI and the MOMs do not load zod, and their start-up time counts (qsub ≤ 100 ms;
 * a MOM forked per node), so `envSchema` below builds the same kind of schema from a few field
 * readers with no dependency: importing this module costs nothing but this file.
 */
import { EnvError } from "../errors.js";

export type Env = Record<string, string | undefined>;

/** One issue as Standard Schema reports it (zod's issues are of this shape). */
interface Issue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>;
}
type Result<T> =
  | { readonly value: T; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<Issue> };

/** Standard Schema v1, the part readEnv uses. */
export interface EnvSchema<T> {
  readonly "~standard": {
    readonly version: 1;
    readonly vendor: string;
    validate(value: unknown): Result<T> | Promise<Result<T>>;
  };
}

/** Parse `env` with `schema`; throws EnvError naming `who` and every problem. */
export function readEnv<T>(who: string, schema: EnvSchema<T>, env: Env = process.env): T {
  const r = schema["~standard"].validate(env);
  // an environment is read at start, synchronously: an async refinement is a schema bug
  if (r instanceof Promise) throw new Error(`${who}: environment schema must validate synchronously`);
  if (!r.issues) return r.value;
  throw new EnvError(
    who,
    r.issues.map((i) => {
      const name = (i.path ?? []).map((p) => String(typeof p === "object" ? p.key : p)).join(".");
      return name ? `${name}: ${i.message}` : i.message;
    }),
  );
}

/** A field reader: the raw value (undefined when unset or empty) to a value or a problem. */
export type Field<T> = (raw: string | undefined) => { ok: true; value: T } | { ok: false; message: string };

const ok = <T>(value: T) => ({ ok: true as const, value });
const bad = (message: string) => ({ ok: false as const, message });

/** Field readers for `envSchema`; an empty string counts as unset, as a shell's `X=` means. */
export const v = {
  /** a required non-empty string */
  string: (): Field<string> => (raw) => (raw === undefined ? bad("is not set") : ok(raw)),
  /** an optional string: undefined when unset */
  optional: (): Field<string | undefined> => (raw) => ok(raw),
  /** a string with a default */
  text:
    (fallback: string): Field<string> =>
    (raw) =>
      ok(raw ?? fallback),
  /** an integer ≥ min, with a default when unset (no default: required) */
  int:
    (opts: { min?: number; default?: number } = {}): Field<number> =>
    (raw) => {
      if (raw === undefined) return opts.default === undefined ? bad("is not set") : ok(opts.default);
      const n = Number(raw);
      if (!Number.isInteger(n)) return bad(`is not an integer: ${JSON.stringify(raw)}`);
      if (opts.min !== undefined && n < opts.min) return bad(`must be at least ${opts.min}`);
      return ok(n);
    },
  /** an optional integer ≥ min: undefined when unset */
  optionalInt:
    (opts: { min?: number } = {}): Field<number | undefined> =>
    (raw) =>
      raw === undefined ? ok(undefined) : v.int(opts)(raw),
};

/** A schema from field readers, one per variable; the result is typed by them. */
export function envSchema<S extends Record<string, Field<unknown>>>(
  fields: S,
): EnvSchema<{ [K in keyof S]: S[K] extends Field<infer T> ? T : never }> {
  type Out = { [K in keyof S]: S[K] extends Field<infer T> ? T : never };
  return {
    "~standard": {
      version: 1,
      vendor: "metaqueue",
      validate(value) {
        const env = (value ?? {}) as Env;
        const out: Record<string, unknown> = {};
        const issues: Issue[] = [];
        for (const [name, field] of Object.entries(fields)) {
          const raw = env[name];
          const r = field(raw === "" ? undefined : raw);
          if (r.ok) out[name] = r.value;
          else issues.push({ message: r.message, path: [name] });
        }
        return issues.length ? { issues } : { value: out as Out };
      },
    },
  };
}
