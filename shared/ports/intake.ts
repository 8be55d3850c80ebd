/**
 * Port: the site's intake, what consumes its queues and ticks (issue 14, "an idle AWS site
 * costs nothing but storage and alarms"). On AWS it is the Lambda event source mappings of the
 * site's queues and the tick's EventBridge rule, whose pollers and invocations are billed
 * whether or not a message comes; locally, the runtime's pollers. shared/server/dormancy.ts
 * decides when; an adapter only does what it is told, and may be told twice.
 */
export interface IntakeSwitch {
  /** Stop consuming the site's queues (their messages wait there) and its tick. Idempotent. */
  pause(): Promise<void>;
  /** Start them again. Idempotent; a failure throws (the caller must not assume it is awake). */
  resume(): Promise<void>;
}
