/**
 * The job item's cold fields, packed into one compressed binary attribute `z` (issue 14: cost).
 *
 * DynamoDB bills a write per started KB of the item (the larger of before and after), and a job
 * item is written three times per job (submit, claim, end). A realistic finished job was 1.8 KB:
 * 2 WRU a write. Most of it is text no query and no condition looks at — the environment
 * (PBS_O_*), the trace (`hist`), paths, comment, names — and that text is repetitive: deflate
 * with a preset dictionary of PBS vocabulary (the PBS_O_ names, the trace's message templates,
 * the record's field names) takes it to a quarter, and the item under 1 KB: 1 WRU a write.
 *
 * What may be cold: a field no index projects (table.ts READY/RUN/LIST/WAIT_ATTRS: a projected
 * attribute must exist as itself on the item) and no expression names (conditions and filters
 * read only state, ver, obittime, hasDeps, user, project, the keys). A test checks the first.
 *
 * Shapes on the table, both read (stripItem, items.ts): an item written before this change has
 * its cold fields inline and no `z`; a new or rewritten one has `z` and none inline. An inline
 * field wins over `z` (a write from a partial record, below, sets it inline). An old item is
 * converted by its first write that changes a cold field: that write SETs `z` and REMOVEs every
 * cold name (DynamoDB ignores REMOVE of an absent attribute). Nothing rewrites old items in bulk:
 * a finished job that is never written again keeps its inline shape until it expires.
 *
 * The format is a version byte then the deflate-raw stream. The dictionary of a version must never
 * change (items written with it would no longer inflate): a new dictionary is a new version byte,
 * the old one kept for reading.
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { StoreError } from "../../errors.js";
import type { JobRecord } from "../../server/job.js";

/** Fields kept in `z`: never projected by an index, never named in an expression. */
export const COLD_FIELDS = [
  "env",
  "hist",
  "delivered",
  "comment",
  "outPath",
  "errPath",
  "submitDir",
  "extra",
  "execVnode",
  "execHost",
  "name",
  "submitHost",
  "account",
] as const;

export const PACKED = "z";

/**
 * Version 1's preset dictionary: generic PBS vocabulary only (attribute and variable names, the
 * trace's message templates as shared/server and shared/scheduler write them, common values),
 * nothing of any site. Deflate finds matches in it as if it preceded the data. FROZEN: see above.
 */
const DICT_V1 = Buffer.from(
  [
    '{"env":{"PBS_O_HOME":"/home/","PBS_O_LANG":"en_US.UTF-8","PBS_O_LOGNAME":"","PBS_O_MAIL":"/var/spool/mail/",',
    '"PBS_O_PATH":"/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/opt/pbs/bin","PBS_O_SHELL":"/bin/bash",',
    '"PBS_O_TZ":"America/","PBS_O_SYSTEM":"Linux","PBS_O_HOST":"","PBS_O_WORKDIR":"/","PBS_O_QUEUE":"workq"},',
    '"hist":[{"time":17,"source":"S","message":"Job Queued at request of root@, owner = root@, job name = , queue = "},',
    '{"time":17,"source":"L","message":"Job run on (:ncpus=1:mem=kb)"},{"time":17,"source":"S","message":',
    '"Exit_status=0 resources_used.walltime=00:00:00 resources_used.cput=00:00:00 resources_used.mem=kb"}],',
    '"delivered":{"o":"/","e":"/"},"comment":"Job run at Mon Tue Wed Thu Fri Sat Sun Jan Feb Mar Apr May Jun Jul ',
    'Aug Sep Oct Nov Dec at  on  and finished","outPath":"/","errPath":"/","submitDir":"/",',
    '"extra":{"Mail_Points":"n","umask":"022"},"execVnode":"(:ncpus=1:mem=kb)","execHost":"/0","name":"",',
    '"submitHost":"","account":""}',
  ].join(""),
);
const V1 = 1;

/** The cold fields of `job` that are set, as one object (what `z` holds). */
function coldOf(job: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of COLD_FIELDS) if (job[f] !== undefined) out[f] = job[f];
  return out;
}

/** `z` for a record: its cold fields, JSON, deflated with the version's dictionary. */
export function pack(job: Record<string, unknown>): Uint8Array {
  const body = deflateRawSync(JSON.stringify(coldOf(job)), { dictionary: DICT_V1 });
  const out = new Uint8Array(body.byteLength + 1);
  out[0] = V1;
  out.set(body, 1);
  return out;
}

/** The fields `z` holds. A version this code does not know is a StoreError, never a silent loss. */
export function unpack(z: Uint8Array): Record<string, unknown> {
  if (z[0] !== V1)
    throw new StoreError(
      "UnknownItemFormat",
      `job item packed with format ${z[0]}, unknown to this version`,
      {
        status: 500,
        retryable: false,
      },
    );
  try {
    return JSON.parse(inflateRawSync(z.subarray(1), { dictionary: DICT_V1 }).toString("utf8"));
  } catch (cause) {
    throw new StoreError("CorruptItem", "job item's packed fields do not inflate", {
      status: 500,
      retryable: false,
      cause,
    });
  }
}

/** A job item in the packed shape: the cold fields in `z`, none inline. */
export function packItem(item: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...item, [PACKED]: pack(item) };
  for (const f of COLD_FIELDS) delete out[f];
  return out;
}

/** A stored item with its cold fields back inline (an inline one, from a partial write, wins). */
export function unpackItem(item: Record<string, unknown>): Record<string, unknown> {
  const z = item[PACKED];
  if (!(z instanceof Uint8Array)) return item;
  const { [PACKED]: _z, ...rest } = item;
  return { ...unpack(z), ...rest };
}

/**
 * A record read whole (from the table, not from an index's projection): it has its trace. Only
 * a whole `before` and `after` may rewrite `z`, which holds every cold field: from a partial
 * record (the scheduler's ready rows, the sweeper's run rows) it would drop the ones not read.
 */
export function isWhole(job: JobRecord): boolean {
  return Array.isArray((job as { hist?: unknown }).hist);
}
