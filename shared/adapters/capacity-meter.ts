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
      addConsumed(counts, kind, cmd, r.output?.ConsumedCapacity);
      return r;
    },
    { step: "initialize", name: "metaqueueCapacityMeter" },
  );
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
