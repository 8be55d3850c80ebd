export interface Timer {
  /** no more ticks; resolves once a run in progress has finished */
  stop(): Promise<void>;
}

/**
 * Runs `fn` every `everyMs`, like an EventBridge schedule driving a Lambda, except that it never
 * overlaps itself: a tick that comes while the previous run is still going is skipped. The first
 * run is one period after the start. Errors (throws and rejections) go to `onError`, by default
 * `console.error` with the timer's name, and the schedule goes on.
 */
export function startTimer(
  name: string,
  everyMs: number,
  fn: () => Promise<void>,
  onError: (err: unknown, name: string) => void = (err, n) => console.error(`[timer ${n}]`, err),
): Timer {
  if (!(everyMs > 0)) throw new Error(`timer ${name}: everyMs must be > 0`);
  let running: Promise<void> | null = null;
  let stopped = false;
  const tick = () => {
    if (stopped || running) return;
    running = (async () => {
      try {
        await fn();
      } catch (err) {
        try {
          onError(err, name);
        } catch {
          // ignore a throwing error callback
        }
      } finally {
        running = null;
      }
    })();
  };
  const interval = setInterval(tick, everyMs);
  return {
    stop: async () => {
      stopped = true;
      clearInterval(interval);
      if (running) await running;
    },
  };
}
