/**
 * DynamoDB capacity metering for the cost bench: a client middleware that asks every data-plane
 * request for `ReturnConsumedCapacity: "INDEXES"` and adds what the answer reports to a counter
 * record, keyed `ddbcu.<R|W>.<Command>.<table|gsi:name>`. DynamoDB Local reports it as AWS does
 * (table and each global index apart), so the per-job read and write units are measured.
 *
 * The keys share the request counters (aws-clients.ts) so the MOM processes' figures come back
 * through the same `counts` reply as their request counts; `summarizeCapacity` reads them.
 */

/** Commands that take ReturnConsumedCapacity, and whether they read (R) or write (W). */
const METERED: Record<string, "R" | "W"> = {
  GetItem: "R",
  BatchGetItem: "R",
  Query: "R",
  Scan: "R",
  TransactGetItems: "R",
  PutItem: "W",
  UpdateItem: "W",
  DeleteItem: "W",
  BatchWriteItem: "W",
  TransactWriteItems: "W",
};

interface Units {
  CapacityUnits?: number;
  ReadCapacityUnits?: number;
  WriteCapacityUnits?: number;
}
interface Consumed extends Units {
  Table?: Units;
  GlobalSecondaryIndexes?: Record<string, Units>;
  LocalSecondaryIndexes?: Record<string, Units>;
}

const units = (u: Units | undefined) =>
  u?.CapacityUnits ?? (u?.ReadCapacityUnits ?? 0) + (u?.WriteCapacityUnits ?? 0);

/** Add one answer's ConsumedCapacity (an object, or a list for batch and transaction calls). */
export function addConsumed(
  counts: Record<string, number>,
  kind: "R" | "W",
  cmd: string,
  consumed: Consumed | Consumed[] | undefined,
): void {
  const add = (part: string, v: number) => {
    if (!v) return;
    const k = `ddbcu.${kind}.${cmd}.${part}`;
    counts[k] = (counts[k] ?? 0) + v;
  };
  for (const c of Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) {
    const gsi = c.GlobalSecondaryIndexes ?? {};
    const lsi = c.LocalSecondaryIndexes ?? {};
    // No breakdown (an older engine): the total goes to the table.
    const table = c.Table
      ? units(c.Table)
      : units(c) - [...Object.values(gsi), ...Object.values(lsi)].reduce((a, u) => a + units(u), 0);
    add("table", table);
    for (const [name, u] of Object.entries(gsi)) add(`gsi:${name}`, units(u));
    for (const [name, u] of Object.entries(lsi)) add(`lsi:${name}`, units(u));
  }
}

// biome-ignore lint/suspicious/noExplicitAny: the middleware stack type is generic over every client
export function meterCapacity(client: { middlewareStack: any }, counts: Record<string, number>): void {
  client.middlewareStack.add(
    // biome-ignore lint/suspicious/noExplicitAny: SDK middleware signature
    (next: any, context: any) => async (args: any) => {
      const cmd = String(context.commandName ?? "").replace(/Command$/, "");
      const kind = METERED[cmd];
      if (!kind) return next(args);
      const r = await next({ ...args, input: { ...args.input, ReturnConsumedCapacity: "INDEXES" } });
      const actions = args.input?.TransactItems ?? [];
      // a transaction of several items apart: what DynamoDB Local reports of it is too low (below)
      const as = cmd === "TransactWriteItems" && actions.length > 1 ? "TransactWriteItemsN" : cmd;
      addConsumed(counts, kind, as, r.output?.ConsumedCapacity);
      if (as === "TransactWriteItemsN") countTransaction(counts, actions);
      if (kind === "W") countKeysWritten(counts, cmd, args.input);
      return r;
    },
    { step: "initialize", name: "metaqueueCapacityMeter" },
  );
}

/**
 * What DynamoDB bills a transaction, from its actions: 2 WRU per KB (rounded up) of each item.
 * Needed because DynamoDB Local under-reports a transaction of several items: it reports the
 * units of one item for several of the same size (3 items of 1.5 KB: 4 WRU, AWS bills 12;
 * checked against DynamoDB Local 2.x, 2026-12). Puts are counted from their item; an update's
 * item is not in the request, so it is counted as `txupdate` (its KB taken from the job item
 * sizes the bench knows) and the summary prices it apart; a project's charge (an ADD to its small
 * `PROJ` item) is 2 WRU.
 */
export function countTransaction(
  counts: Record<string, number>,
  actions: Record<string, { Item?: unknown; [field: string]: unknown } | undefined>[],
): void {
  for (const a of actions) {
    const [op, body] = Object.entries(a)[0] ?? [];
    const pk = (body?.Key as { pk?: unknown } | undefined)?.pk;
    if (op === "Put" && body?.Item) {
      counts["ddbtx.put.wru"] =
        (counts["ddbtx.put.wru"] ?? 0) + 2 * Math.ceil(marshalledSize(body.Item) / 1024);
    } else if (op === "Update" && (pk === "PROJ" || (pk as { S?: string } | undefined)?.S === "PROJ")) {
      // a project's charge (ADD to an item of a few hundred bytes, table.ts keys.project): 1 KB
      counts["ddbtx.put.wru"] = (counts["ddbtx.put.wru"] ?? 0) + 2;
    } else if (op) counts[`ddbtx.${op.toLowerCase()}`] = (counts[`ddbtx.${op.toLowerCase()}`] ?? 0) + 1;
  }
  counts["ddbtx.actions"] = (counts["ddbtx.actions"] ?? 0) + actions.length;
  counts["ddbtx.requests"] = (counts["ddbtx.requests"] ?? 0) + 1;
}

/**
 * Which table keys a write request writes, by key class (`ddbkey.<class>`): `JOB#<n>` for every
 * job's own partition, `SRV/SEQ` for the sequence counter, `ACCT#<day>`, `PROJ/<account>`... so
 * the bench can say how often one key is written per job (a key DynamoDB writes more than
 * 1,000 WCU/s to throttles, whatever the table's capacity). ConditionCheck writes nothing.
 */
export function countKeysWritten(counts: Record<string, number>, cmd: string, input: unknown): void {
  const inp = (input ?? {}) as Record<string, unknown>;
  const keysOf: { pk?: unknown; sk?: unknown }[] = [];
  const add = (body: Record<string, unknown> | undefined) => {
    const k = (body?.Item ?? body?.Key) as { pk?: unknown; sk?: unknown } | undefined;
    if (k) keysOf.push(k);
  };
  if (cmd === "PutItem" || cmd === "UpdateItem" || cmd === "DeleteItem") add(inp);
  else if (cmd === "BatchWriteItem")
    for (const reqs of Object.values((inp.RequestItems ?? {}) as Record<string, Record<string, unknown>[]>))
      for (const r of reqs) add((r.PutRequest ?? r.DeleteRequest) as Record<string, unknown> | undefined);
  else if (cmd === "TransactWriteItems")
    for (const a of (inp.TransactItems ?? []) as Record<string, unknown>[])
      add((a.Put ?? a.Update ?? a.Delete) as Record<string, unknown> | undefined);
  for (const k of keysOf) {
    const c = keyClass(plain(k.pk), plain(k.sk));
    counts[`ddbkey.${c}`] = (counts[`ddbkey.${c}`] ?? 0) + 1;
  }
}

const plain = (v: unknown) => String((v as { S?: string } | undefined)?.S ?? v ?? "");

/** A key with what varies per job, day or message replaced: `JOB#<n>`, `ACCT#<day>`. */
export function keyClass(pk: string, sk: string): string {
  if (pk === "SRV") return `SRV/${sk.replace(/#.*/, "#<name>")}`;
  if (pk === "PROJ") return "PROJ/<account>";
  if (pk === "STAT") return "STAT/<minute>";
  const p = pk
    .replace(/^(ACCT|AUDIT)#.*/, "$1#<day>")
    .replace(/^(PMSG)#[^#]*#.*/, "$1#<peer>#<id>")
    .replace(/^(JOB|XFER|MOM|BOOT)#.*/, "$1#<id>");
  return `${p}/${pk.startsWith("JOB#") ? sk.replace(/#.*/, "#…") : "…"}`;
}

/** An item's size as DynamoDB counts it (attribute names and values, UTF-8), marshalled or not. */
function marshalledSize(v: unknown): number {
  if (v === null || v === undefined) return 1;
  if (typeof v === "string") return Buffer.byteLength(v);
  if (typeof v === "number") return 21;
  if (typeof v === "boolean") return 1;
  if (Array.isArray(v)) return 3 + v.reduce((a: number, x) => a + 1 + marshalledSize(x), 0);
  if (v instanceof Uint8Array) return v.byteLength;
  let n = 3;
  for (const [k, x] of Object.entries(v as Record<string, unknown>))
    n += Buffer.byteLength(k) + marshalledSize(x);
  return n;
}

export interface CapacitySummary {
  /** read and write units in all */
  rru: number;
  wru: number;
  /** units by command and part: `W.UpdateItem.gsi:list` -> n */
  by: Record<string, number>;
}

export function summarizeCapacity(counts: Record<string, number>): CapacitySummary {
  const out: CapacitySummary = { rru: 0, wru: 0, by: {} };
  for (const [k, v] of Object.entries(counts)) {
    if (!k.startsWith("ddbcu.")) continue;
    const rest = k.slice("ddbcu.".length);
    out.by[rest] = v;
    if (rest.startsWith("R.")) out.rru += v;
    else out.wru += v;
  }
  return out;
}

/**
 * SQS requests by queue for the cost bench: `sqsq.<queue>.<Command>` (the last segment of the
 * request's QueueUrl), beside the plain per-command counters.
 */
// biome-ignore lint/suspicious/noExplicitAny: the middleware stack type is generic over every client
export function meterQueues(client: { middlewareStack: any }, counts: Record<string, number>): void {
  client.middlewareStack.add(
    // biome-ignore lint/suspicious/noExplicitAny: SDK middleware signature
    (next: any, context: any) => async (args: any) => {
      const cmd = String(context.commandName ?? "").replace(/Command$/, "");
      const queue =
        String(args.input?.QueueUrl ?? "")
          .split("/")
          .pop() || "-";
      const k = `sqsq.${queue}.${cmd}`;
      counts[k] = (counts[k] ?? 0) + 1;
      return next(args);
    },
    { step: "initialize", name: "metaqueueQueueMeter" },
  );
}
