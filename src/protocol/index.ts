/**
 * Drover wire protocol: schemas, subjects, errors. Depends on zod only.
 */
export * from "./errors.ts";
export * from "./envelope.ts";
export * from "./decode.ts";
export * from "./resources.ts";
export * from "./task.ts";
export * from "./worker.ts";
export * from "./pools.ts";
export * from "./schedule.ts";
export * from "./assignment.ts";
export * from "./report.ts";
export * from "./events.ts";
export * from "./health.ts";
export * from "./subjects.ts";
export * from "./json-schema.ts";
