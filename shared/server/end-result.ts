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
  /**
   * partitions (of `partitions`) whose cycle offers its room to the peers even within the offer
   * interval: a peer said it has jobs waiting (BACKLOG), and an offer held back by the interval
   * would leave them waiting for the next tick (shared/peers/offers.ts)
   */
  offer?: string[];
}
