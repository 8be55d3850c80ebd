/**
 * Ports: the only ways the domain reaches the outside world. Lambda handlers, the local runtime
 * and tests each plug in their own implementations (shared/adapters).
 */
export * from "./bus.js";
export * from "./clock.js";
export * from "./executor.js";
export * from "./identity.js";
export * from "./output.js";
export * from "./store.js";
export * from "./mailer.js";
export * from "./channel.js";
export * from "./intake.js";
