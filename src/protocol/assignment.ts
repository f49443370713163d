/**
 * Leader → worker messages: assignments (request/reply) and cancel notices.
 */
import { z } from "zod";
import { Version } from "./envelope.ts";
import { ErrorReply } from "./errors.ts";
import { Resources } from "./resources.ts";
import { JsonValue, TaskId, TaskType } from "./task.ts";

/** Sent by the leader on `drover.worker.<id>.assign`; the worker must reply. */
export const Assignment = z.strictObject({
  v: Version,
  taskId: TaskId,
  /** Fencing token: every report must carry it. */
  epoch: z.number().int().min(1),
  /** Leader term that made the assignment. */
  term: z.number().int().min(0),
  /** Assignment number (1 for the first). */
  attempt: z.number().int().min(1),
  type: TaskType,
  payload: JsonValue,
  /** Per-attempt timeout in ms. */
  timeoutMs: z.number().int().min(1),
  resources: Resources,
});
/** An assignment. */
export type Assignment = z.output<typeof Assignment>;

/** Worker's acknowledgement of an {@link Assignment}. */
export const AssignmentAck = z.strictObject({ ok: z.literal(true) });
/** Worker's acknowledgement of an assignment. */
export type AssignmentAck = z.infer<typeof AssignmentAck>;

/** Reply to an assignment: accepted, or refused with an error (the task is then released). */
export const AssignmentReply = z.discriminatedUnion("ok", [AssignmentAck, ErrorReply]);
/** Reply to an assignment. */
export type AssignmentReply = z.infer<typeof AssignmentReply>;

/** Sent by the leader on `drover.worker.<id>.cancel`: stop running this task (fire and forget). */
export const CancelNotice = z.strictObject({
  v: Version,
  taskId: TaskId,
  epoch: z.number().int().min(0),
  reason: z.string(),
});
/** A cancel notice. */
export type CancelNotice = z.infer<typeof CancelNotice>;
