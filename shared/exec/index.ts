export * from "./mom.js";
export * from "./run-job.js";
