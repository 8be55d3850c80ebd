export * from "./mom.js";
export * from "./run-job.js";
export * from "./outputs.js";
