/**
 * The one retry loop of the domain: try an optimistic read-decide-write again when another
 * writer won the race (ConflictError), with a short jittered backoff, and give up after
 * `attempts` lost races. Nothing else is retried here: a StoreError fails the same way every
 * time, and throttling was already retried by the store (shared/adapters/dynamodb/errors.ts).
 */
import { ConflictError } from "../errors.js";

export async function retryConflicts<T>(
  what: string,
  attempts: number,
  attempt: (i: number) => Promise<T>,
  opts: { backoff?: boolean } = {},
): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    try {
      return await attempt(i);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      // jitter keeps two writers that lost to each other from colliding again at once; a caller
      // whose only rival is a message it can re-read at once asks for none (receiver.ts onAbort)
      if (opts.backoff !== false) await new Promise((r) => setTimeout(r, Math.random() * 20 * (i + 1)));
    }
  }
  throw new ConflictError(`${what} is changing too fast; try again`);
}
