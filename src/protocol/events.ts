/**
 * Observability events published on `drover.events.<kind>` (dashboards, `nats sub`).
 */
import { z } from "zod";
import { Version } from "./envelope.ts";
import { TaskId, TaskState, TaskType } from "./task.ts";

/** Published after every accepted task state change, on `drover.events.task`. */
export const TaskTransitionEvent = z.strictObject({
  v: Version,
  kind: z.literal("task"),
  taskId: TaskId,
  type: TaskType,
  from: TaskState,
  to: TaskState,
  /** Machine event type, e.g. `"SUCCEED"`. */
  event: z.string(),
  epoch: z.number().int().min(0),
  /** Leader term of the task's last assignment (0 before the first). */
  term: z.number().int().min(0),
  attempt: z.number().int().min(0),
  workerId: z.string().nullable(),
  at: z.number(),
});
/** A task state change event. */
export type TaskTransitionEvent = z.infer<typeof TaskTransitionEvent>;

/**
 * `<prefix>.events.report.dropped`: the leader gave up on a worker's report because writing
 * it failed on every delivery (the reports consumer's `max_deliver`).
 */
export const ReportDroppedEvent = z.strictObject({
  v: Version,
  kind: z.literal("report.dropped"),
  taskId: TaskId,
  epoch: z.number().int().min(0),
  /** The report's kind (`started`, `progress`, `succeeded`, `failed`). */
  report: z.string(),
  workerId: z.string(),
  deliveries: z.number().int().min(1),
  /** Why the last write failed. */
  error: z.string(),
  at: z.number(),
});
export type ReportDroppedEvent = z.infer<typeof ReportDroppedEvent>;
