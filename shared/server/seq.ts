/**
 * Job sequence numbers. Each process reserves a block with one atomic ADD and hands numbers
 * out from it, so a submit costs 1/BLOCK of a write for its number instead of one write.
 * Numbers of a block a process did not use before it stopped are skipped, as PBS skips
 * numbers of jobs that failed to enqueue; order across processes is by qtime, not by number.
 *
 * A block is used for SEQ_BLOCK_MAX_AGE_MS at most, then its rest is skipped too. Why: the
 * script-lease pass walks jobs in seq order and stops where it may assume every later seq was
 * submitted no earlier than SEQ_ORDER_SLACK_S before the job it stands at (script-lease.ts). A
 * block kept for days by a quiet process would hand out seqs below those of jobs submitted since.
 * The price: a site submitting fewer than BLOCK jobs in that time sees its job ids skip.
 */
import type { SiteContext } from "./context.js";

const BLOCK = 10;
/** How long a reserved block is used: far above a busy site's, so only quiet sites skip ids. */
export const SEQ_BLOCK_MAX_AGE_MS = 6 * 3600_000;
/**
 * How much earlier than a job with a lower seq a job with a higher seq may have been submitted:
 * the block's age, plus a generous allowance for a slow submit and for clocks of processes apart.
 */
export const SEQ_ORDER_SLACK_S = SEQ_BLOCK_MAX_AGE_MS / 1000 + 18 * 3600;

interface Block {
  next: number;
  end: number;
  /** when this block was reserved (the context's clock) */
  at: number;
  pending?: Promise<void>;
}
const blocks = new WeakMap<object, Block>();

export async function allocateSeq(ctx: Pick<SiteContext, "store" | "clock">): Promise<number> {
  let b = blocks.get(ctx.store);
  if (!b) {
    b = { next: 0, end: 0, at: 0 };
    blocks.set(ctx.store, b);
  }
  for (;;) {
    // a block past its age is given up, its rest skipped (above: why)
    if (b.next < b.end && ctx.clock.now() - b.at <= SEQ_BLOCK_MAX_AGE_MS) return b.next++;
    if (!b.pending) {
      const cur = b;
      // stamped before the reservation: a block is never used longer than its age from here
      const at = ctx.clock.now();
      cur.pending = ctx.store.reserveSeq(BLOCK).then(
        (first) => {
          cur.next = first;
          cur.end = first + BLOCK;
          cur.at = at;
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
