/**
 * The runtime: the only layer that talks to NATS. Turns subjects into machine events and
 * machine decisions into KV writes and publishes.
 */
export * from "./connection.ts";
export * from "./nats-auth.ts";
export * from "./nats-roles.ts";
export * from "./nats-jwt.ts";
export * from "./resources.ts";
export { ConfigDriftError } from "./drift.ts";
export { isPermissionDenied } from "./kv-util.ts";
export * from "./handler.ts";
export * from "./task-store.ts";
export * from "./mirror.ts";
export * from "./scheduler.ts";
export * from "./leadership.ts";
export * from "./api.ts";
export * from "./scheduler-replica.ts";
export * from "./worker.ts";
export * from "./client.ts";
export { MetricsServer } from "./metrics/http.ts";
export type { HttpRoutes, Probe } from "./metrics/http.ts";
export { ReplicaMetrics } from "./metrics/replica-metrics.ts";
export { workerMetrics } from "./metrics/worker-metrics.ts";
export { ScheduleClient } from "./schedule-client.ts";
export { LATE_SAMPLES } from "./schedule-runner.ts";
