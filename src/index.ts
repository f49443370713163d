/**
 * Drover's public surface, what `import … from "drover"` gives: the client, handlers and the
 * worker, and the protocol's types and errors. Everything else (the scheduler's internals, the
 * CLI) is not part of it and may change.
 */
export { DroverClient } from "./runtime/client.ts";
export type { ClientOptions, ListOptions, SubmitManyResult } from "./runtime/client.ts";
export type { ScheduleClient } from "./runtime/schedule-client.ts";
export { defineHandlers } from "./runtime/handler.ts";
export type { HandlerMap, TaskContext, TaskHandler } from "./runtime/handler.ts";
export { Worker } from "./runtime/worker.ts";
export type { WorkerOptions } from "./runtime/worker.ts";
export { startWorker } from "./runtime/start-worker.ts";
export type { RunningWorker, StartWorkerOptions } from "./runtime/start-worker.ts";
export type { NatsAuth } from "./runtime/nats-auth.ts";
export { DroverError, ErrorCode, NonRetryableError } from "./protocol/errors.ts";
export type {
  JsonValue,
  PutScheduleRequestInput,
  Resources,
  ScheduleRecord,
  SubmitTaskRequestInput,
  TaskRecord,
  TaskState,
  TaskTransitionEvent,
} from "./protocol/index.ts";
export { TERMINAL_STATES } from "./protocol/index.ts";
