export interface Timer {
  /** no more ticks; resolves once a run in progress has finished */
  stop(): Promise<void>;
}

/** Runs `fn`; an error goes to `onError` (whose own throw is ignored) and yields undefined. */
async function guarded<T>(
  name: string,
  fn: () => Promise<T>,
  onError: (err: unknown, name: string) => void,
): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    try {
      onError(err, name);
    } catch {
      // ignore a throwing error callback
    }
    return undefined;
  }
}

export interface BackoffTimer extends Timer {
  /** something happened that may have made work: the next run comes at most `everyMs` after the poke (or after the run under way) */
  poke(): void;
}

/**
 * A schedule that slows down while there is nothing to do. `fn` resolves with whether it saw
 * work: after a run that did (or that threw), the next comes `everyMs` later; after each run
 * that did not, the pause doubles, up to `idleMaxMs`. `poke()` brings the next run to within
 * `everyMs` and starts the doubling again. Runs never overlap, and the first run is one
 * `everyMs` after the start. With `idleMaxMs = everyMs` it is a plain schedule, like an
 * EventBridge rule driving a Lambda, except that it never overlaps itself.
 */
export function startBackoffTimer(
  name: string,
  opts: { everyMs: number; idleMaxMs: number },
  fn: () => Promise<boolean>,
  onError: (err: unknown, name: string) => void = (err, n) => console.error(`[timer ${n}]`, err),
): BackoffTimer {
  const { everyMs } = opts;
  if (!(everyMs > 0)) throw new Error(`timer ${name}: everyMs must be > 0`);
  const idleMaxMs = Math.max(everyMs, opts.idleMaxMs);
  let pause = everyMs;
  let running: Promise<void> | null = null;
  let stopped = false;
  /** a poke during a run: that run's "idle" may predate the work the poke is about */
  let pokedWhileRunning = false;
  let timer: NodeJS.Timeout | undefined;
  /** when the pending run is due (ms since the epoch) */
  let dueAt = 0;
  const schedule = (ms: number) => {
    clearTimeout(timer);
    dueAt = Date.now() + ms;
    timer = setTimeout(run, ms);
  };
  const run = () => {
    if (stopped || running) return;
    running = (async () => {
      let busy = true;
      try {
        // a run that threw counts as busy: the next comes everyMs later
        busy = (await guarded(name, fn, onError)) ?? true;
      } finally {
        running = null;
      }
      pause = busy || pokedWhileRunning ? everyMs : Math.min(idleMaxMs, pause * 2);
      pokedWhileRunning = false;
      if (!stopped) schedule(pause);
    })();
  };
  schedule(everyMs);
  return {
    poke: () => {
      pause = everyMs;
      if (stopped) return;
      if (running) {
        // the run under way schedules the next one `everyMs` after it ends
        pokedWhileRunning = true;
        return;
      }
      if (dueAt - Date.now() > everyMs) schedule(everyMs);
    },
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      if (running) await running;
    },
  };
}
