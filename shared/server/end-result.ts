/**
 * What a handler that changes jobs leaves to do after it: the partitions to run a cycle for and
 * the jobs whose dependents must be looked at. Its own module so the peer protocol
 * (shared/peers/) can return it without importing job-end.ts, which imports the protocol.
 */
export interface EndResult {
  /** partitions that got room or new work: run a cycle */
  partitions: string[];
  /** job keys that ended (their dependents must be looked at) */
  ended: string[];
}
