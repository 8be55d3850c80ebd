/**
 * Job sequence numbers. Each process reserves a block with one atomic ADD and hands numbers
 * out from it, so a submit costs 1/BLOCK of a write for its number instead of one write.
 * Numbers of a block a process did not use before it stopped are skipped, as PBS skips
 * numbers of jobs that failed to enqueue; order across processes is by qtime, not by number.
 */
import type { SiteContext } from "./context.js";

const BLOCK = 10;
const blocks = new WeakMap<object, { next: number; end: number; pending?: Promise<void> }>();

export async function allocateSeq(ctx: SiteContext): Promise<number> {
  let b = blocks.get(ctx.store);
  if (!b) {
    b = { next: 0, end: 0 };
    blocks.set(ctx.store, b);
  }
  for (;;) {
    if (b.next < b.end) return b.next++;
    if (!b.pending) {
      const cur = b;
      cur.pending = ctx.store.reserveSeq(BLOCK).then(
        (first) => {
          cur.next = first;
          cur.end = first + BLOCK;
          cur.pending = undefined;
        },
        (err) => {
          cur.pending = undefined;
          throw err;
        },
      );
    }
    await b.pending;
  }
}
