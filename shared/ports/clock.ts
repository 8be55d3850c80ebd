/** Port: the time, so tests and the simulator can drive it. */
export interface Clock {
  /** epoch milliseconds */
  now(): number;
  /**
   * Wait `ms` of this clock's time (job_accumulation_time). A test clock moves its time and
   * resolves at once, so a wait the domain makes never slows a unit test down.
   */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};
