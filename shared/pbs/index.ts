/** The pure PBS vocabulary: parsing and formatting of PBS values, options and commands. */
export * from "./array.js";
export * from "./attrlist.js";
export * from "./depend.js";
export * from "./job-start.js";
export * from "./jobid.js";
export * from "./qmgr.js";
export * from "./qsub-options.js";
export * from "./resources.js";
export * from "./select.js";
export * from "./size.js";
export * from "./states.js";
export * from "./time.js";
export type * from "./types.js";
export * from "./walltime.js";
