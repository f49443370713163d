/**
 * Worker → leader reports, published to the reports stream on
 * `drover.reports.<workerId>.<taskId>`. Each becomes one task machine event; a report whose
 * epoch is not the task's current epoch, or whose worker does not hold the task, is refused
 * (fencing).
 */
import { z } from "zod";
import { Version } from "./envelope.ts";
import { JsonValue, TaskError, TaskId } from "./task.ts";
import { WorkerId } from "./worker.ts";

/** Fields common to every report. */
const base = {
  v: Version,
  taskId: TaskId,
  /** Epoch of the assignment this report is about. */
  epoch: z.number().int().min(0),
  workerId: WorkerId,
  /** Worker clock (epoch ms), informational: the leader stamps its own time. */
  at: z.number(),
};

/** The handler started. */
export const StartedReport = z.strictObject({ ...base, kind: z.literal("started") });
/** Progress update (any JSON). */
export const ProgressReport = z.strictObject({
  ...base,
  kind: z.literal("progress"),
  progress: JsonValue,
});
/** The handler returned. */
export const SucceededReport = z.strictObject({
  ...base,
  kind: z.literal("succeeded"),
  result: JsonValue.default(null),
});
/** The handler threw. `retryable: false` for a `NonRetryableError`. */
export const FailedReport = z.strictObject({
  ...base,
  kind: z.literal("failed"),
  error: TaskError,
});
/** The worker stopped the handler at its timeout. */
export const TimedOutReport = z.strictObject({ ...base, kind: z.literal("timed_out") });
/** The worker hands the task back without running it to the end (drain, refusal). */
export const ReleasedReport = z.strictObject({
  ...base,
  kind: z.literal("released"),
  reason: z.string().default("released"),
});

/** Any worker report, discriminated on `kind`. */
export const Report = z.discriminatedUnion("kind", [
  StartedReport,
  ProgressReport,
  SucceededReport,
  FailedReport,
  TimedOutReport,
  ReleasedReport,
]);
/** Any worker report. */
export type Report = z.output<typeof Report>;
/** A report kind, e.g. `"succeeded"`. */
export type ReportKind = Report["kind"];

/** What a report's subject names (see `Subjects.parseReport`). */
export interface ReportSubject {
  /** null: a legacy subject (`<p>.reports.<taskId>`), which names no worker. */
  workerId: string | null;
  taskId: string;
}

/**
 * Why a report cannot be trusted given the subject it came on, or null if it can: the subject
 * must have a known shape, and name the report's task and (unless legacy) its worker. NATS
 * permissions decide who may publish on a subject, so a worker that is allowed only its own
 * subjects cannot speak for another worker through the body.
 */
export function reportSubjectMismatch(subject: ReportSubject | null, r: Report): string | null {
  if (subject === null) return "the subject is not a report subject";
  if (subject.taskId !== r.taskId)
    return `the subject names task ${subject.taskId}, the body task ${r.taskId}`;
  if (subject.workerId !== null && subject.workerId !== r.workerId)
    return `the subject names worker ${subject.workerId}, the body worker ${r.workerId}`;
  return null;
}
