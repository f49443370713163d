/**
 * Tasks: states, retry policy, the submit request, the durable task record
 * (the task actor's context, stored in the tasks KV bucket) and the task API bodies.
 */
import { z } from "zod";
import { OptionalVersion, Version } from "./envelope.ts";
import { DroverError, ErrorCode, ErrorReply } from "./errors.ts";
import { Resources } from "./resources.ts";

/**
 * Lifecycle states of a task.
 *
 * - `queued`: waiting for a worker.
 * - `delayed`: waiting for its `runAt` due time.
 * - `assigned`: sent to a worker, not yet started.
 * - `running`: the worker reported it started.
 * - `succeeded`: final; the one accepted completion.
 * - `failed`: terminal after a non-retryable error (`NonRetryableError`); can be re-run with retry.
 * - `retrying`: failed, will be queued again at `nextRunAt` (backoff).
 * - `dead`: retries exhausted (`maxAttempts` failures); can be re-run with retry.
 * - `cancelled`: final; cancelled by a user.
 * - `timed_out`: the last allowed attempt timed out; can be re-run with retry.
 */
export const TaskState = z.enum([
  "queued",
  "delayed",
  "assigned",
  "running",
  "succeeded",
  "failed",
  "retrying",
  "dead",
  "cancelled",
  "timed_out",
]);
/** Lifecycle state of a task; see {@link TaskState}. */
export type TaskState = z.infer<typeof TaskState>;

/** Every task state, in declaration order. */
export const TASK_STATES: readonly TaskState[] = TaskState.options;

/** States in which a task will not move without a user action (retry) or ever. */
export const TERMINAL_STATES: readonly TaskState[] = [
  "succeeded",
  "failed",
  "dead",
  "cancelled",
  "timed_out",
];

/** Terminal states a user may re-run with a retry request. */
export const RERUNNABLE_STATES: readonly TaskState[] = ["failed", "dead", "timed_out"];

/** States that never change again. */
export const FINAL_STATES: readonly TaskState[] = ["succeeded", "cancelled"];

/** States in which a task holds a worker's resources. */
export const ACTIVE_STATES: readonly TaskState[] = ["assigned", "running"];

/** States from which a task waits for a due time (`runAt` / `nextRunAt`). */
export const WAITING_STATES: readonly TaskState[] = ["delayed", "retrying"];

/** Task type name: also usable in subjects and KV keys. */
export const TaskType = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:-]+$/, "must match /^[A-Za-z0-9_.:-]+$/");

/** Task id: one subject token and one KV key part, so no dots or wildcards. */
export const TaskId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_-]+$/, "must match /^[A-Za-z0-9_-]{1,128}$/");

/** Any JSON value. */
export const JsonValue = z.json();
/** Any JSON value. */
export type JsonValue = z.infer<typeof JsonValue>;

/** Backoff between retries. */
export const Backoff = z.strictObject({
  /** `fixed`: always `baseMs`; `exponential`: `baseMs * 2^(failures-1)` capped by `maxMs`. @default "exponential" */
  type: z.enum(["fixed", "exponential"]).default("exponential"),
  /** First delay in ms. @default 1000 */
  baseMs: z.number().int().min(0).default(1000),
  /** Largest delay in ms. @default 60000 */
  maxMs: z.number().int().min(0).default(60_000),
  /** Random spread: the delay is multiplied by a factor in `[1 - jitter, 1 + jitter]`. @default 0.2 */
  jitter: z.number().min(0).max(1).default(0.2),
});
/** Backoff between retries. */
export type Backoff = z.output<typeof Backoff>;

/** Retry policy of a task. */
export const RetryPolicy = z.strictObject({
  /**
   * Largest number of failed attempts (errors or timeouts) before the task is `dead`
   * (or `timed_out`). Attempts handed back by a worker (release, worker lost) do not count.
   * `1` means "never retry". @default 3
   */
  maxAttempts: z.number().int().min(1).max(100).default(3),
  /** Delay between a failure and the next attempt. @default { type: "exponential", baseMs: 1000, maxMs: 60000, jitter: 0.2 } */
  backoff: Backoff.prefault({}),
});
/** Retry policy of a task. */
export type RetryPolicy = z.output<typeof RetryPolicy>;

/** Largest `delayMs`: one year. */
export const MAX_DELAY_MS = 365 * 24 * 3600 * 1000;

/** Largest `timeoutMs`: one day. */
export const MAX_TIMEOUT_MS = 86_400_000;

/** Shortest `retentionMs`: one second (NATS message TTLs count whole seconds). */
export const MIN_RETENTION_MS = 1_000;
/** Longest `retentionMs`: one year. */
export const MAX_RETENTION_MS = 365 * 24 * 3600 * 1000;

/**
 * What a submit says about the task itself: everything but when it runs and its idempotency key.
 * A schedule's task template is these fields (see schedule.ts).
 */
export const taskTemplateShape = {
  /** Task type; a worker must declare it in `types` to be chosen. */
  type: TaskType,
  /** Handler input, any JSON value. @default null */
  payload: JsonValue.default(null),
  /** Higher runs first, range -1000..1000. @default 0 */
  priority: z.number().int().min(-1000).max(1000).default(0),
  /** Resources the task needs on its worker. @default { cpu: 0, memoryMb: 0, slots: 1 } */
  resources: Resources.prefault({}),
  /** Labels a worker must carry (all of them, same values). @default {} */
  labels: z.record(z.string().min(1).max(128), z.string().max(256)).default({}),
  /** Affinity key (consistent-hash placement, grouping). */
  key: z.string().max(256).optional(),
  /** Per-attempt timeout in ms (1 ms .. 1 day). @default 60000 */
  timeoutMs: z.number().int().min(1).max(MAX_TIMEOUT_MS).default(60_000),
  /** Retry policy. @default { maxAttempts: 3, backoff: exponential 1000..60000 ms, jitter 0.2 } */
  retry: RetryPolicy.prefault({}),
  /**
   * How long the record is kept once the task is finished (succeeded, failed, dead,
   * timed out or cancelled), in ms (1 s .. 1 year). @default the deployment's retention (24 h)
   */
  retentionMs: z.number().int().min(MIN_RETENTION_MS).max(MAX_RETENTION_MS).optional(),
};

/** Request body of `drover.api.tasks.submit`. Unknown fields are refused. */
export const SubmitTaskRequest = z
  .strictObject({
    v: OptionalVersion,
    ...taskTemplateShape,
    /** When to run: an ISO-8601 date-time (with offset or Z) or epoch milliseconds. */
    runAt: z.union([z.iso.datetime({ offset: true }), z.number().int().min(0)]).optional(),
    /** Run after this many milliseconds (≤ 1 year). Not together with `runAt`. */
    delayMs: z.number().int().min(0).max(MAX_DELAY_MS).optional(),
    /** A second submit with the same key returns the first task's id (`duplicate: true`). */
    idempotencyKey: z.string().min(1).max(256).optional(),
  })
  .refine((r) => r.runAt === undefined || r.delayMs === undefined, {
    message: "runAt and delayMs are mutually exclusive",
    path: ["delayMs"],
  });
/** Parsed submit request (defaults filled). */
export type SubmitTaskRequest = z.output<typeof SubmitTaskRequest>;
/** Submit request as written by a client. */
export type SubmitTaskRequestInput = z.input<typeof SubmitTaskRequest>;

/** Why a task failed, as stored and reported. */
export const TaskError = z.strictObject({
  /** Application or Drover error code, e.g. `"timeout"`, `"non_retryable"`. */
  code: z.string().max(128),
  /** Human-readable message. */
  message: z.string(),
  /** Whether the policy may retry this failure. */
  retryable: z.boolean(),
});
/** Why a task failed. */
export type TaskError = z.infer<typeof TaskError>;

/** One worker considered by a placement decision. */
export const PlacementCandidate = z.strictObject({
  workerId: z.string(),
  /** Whether the task fits on it (type, labels, free resources). */
  fits: z.boolean(),
  /** Strategy score (lower or higher is better depending on the strategy); null when not scored. */
  score: z.number().nullable(),
  /** Why it was filtered out or how it scored. */
  reason: z.string().optional(),
});
/** One worker considered by a placement decision. */
export type PlacementCandidate = z.infer<typeof PlacementCandidate>;

/** Why a task was (or could not be) placed: answers "why did it run there?". */
export const Placement = z.strictObject({
  /** Strategy name, e.g. `"best-fit"`. */
  strategy: z.string(),
  /** Chosen worker, or null when nothing fits. */
  workerId: z.string().nullable(),
  /** Short explanation (with more than 16 workers, it also counts those not listed). */
  reason: z.string(),
  /**
   * Workers considered: all of them up to 16; beyond that 16, the chosen one and an example of
   * each reason a worker was refused among them (see actors/placement/recorded.ts).
   */
  candidates: z.array(PlacementCandidate),
  /** Decision time (epoch ms). */
  at: z.number(),
});
/** Why a task was (or could not be) placed. */
export type Placement = z.infer<typeof Placement>;

/** Largest number of history entries kept in a record. */
export const MAX_HISTORY = 20;

/** One state change of a task. */
export const TaskHistoryEntry = z.strictObject({
  /** Time (epoch ms). */
  at: z.number(),
  from: TaskState,
  to: TaskState,
  /** Machine event type, e.g. `"FAIL"`. */
  event: z.string(),
  /** Detail: error, release or cancel reason. */
  reason: z.string().optional(),
});
/** One state change of a task. */
export type TaskHistoryEntry = z.infer<typeof TaskHistoryEntry>;

/** Epoch milliseconds or null. */
const Millis = z.number().nullable();

/**
 * The durable task record, value of the tasks KV bucket and context of the task machine.
 * `state` always equals the machine's state value.
 */
export const TaskRecord = z.strictObject({
  v: Version,
  id: TaskId,
  type: TaskType,
  payload: JsonValue,
  priority: z.number().int(),
  resources: Resources,
  labels: z.record(z.string(), z.string()),
  key: z.string().nullable(),
  timeoutMs: z.number().int().min(1),
  retry: RetryPolicy,
  idempotencyKey: z.string().nullable(),
  /**
   * Retention once finished, when the submitter chose one (absent: the deployment's default,
   * so records stay readable by replicas that predate the field).
   */
  retentionMs: z.number().int().min(0).optional(),
  /**
   * The submitter that submitted the task on its own API subjects (`<p>.api.as.<name>.…`); only
   * that submitter (or a request of no named submitter: an admin) may cancel or retry it.
   * Absent for a task submitted on the plain subjects.
   */
  submitter: z.string().optional(),
  state: TaskState,
  /** Assignments so far (including released ones). */
  attempt: z.number().int().min(0),
  /** Failed attempts (errors, timeouts) since submit or the last retry request; limited by `retry.maxAttempts`. */
  failures: z.number().int().min(0),
  /** Increments on every assignment; reports must carry the current epoch (fencing). */
  epoch: z.number().int().min(0),
  /** Leader term of the last assignment; 0 if never assigned. */
  term: z.number().int().min(0),
  /**
   * The worker holding the task in `assigned` / `running`; in `succeeded`, `failed`, `dead`
   * and `timed_out`, the worker that ran its last attempt; null otherwise.
   */
  workerId: z.string().nullable(),
  /** Last placement decision (or why nothing fits). */
  placement: Placement.nullable(),
  createdAt: z.number(),
  updatedAt: z.number(),
  /** Requested due time (epoch ms) for delayed tasks. */
  runAt: Millis,
  /** Due time of the next attempt while `retrying`. */
  nextRunAt: Millis,
  assignedAt: Millis,
  startedAt: Millis,
  /** Time the task reached a terminal state. */
  finishedAt: Millis,
  /** Last progress reported by the worker. */
  progress: JsonValue.nullable(),
  /** Handler result once `succeeded`. */
  result: JsonValue.nullable(),
  /** Last failure. */
  error: TaskError.nullable(),
  /** Reports refused because of a stale epoch (diagnostics). */
  refusedReports: z.number().int().min(0),
  /** Last {@link MAX_HISTORY} state changes, oldest first. */
  history: z.array(TaskHistoryEntry).max(MAX_HISTORY),
});
/** The durable task record. */
export type TaskRecord = z.infer<typeof TaskRecord>;

/**
 * Converts a request's `runAt`/`delayMs` to an absolute due time, or null.
 * @throws DroverError `validation_failed` for a time more than {@link MAX_DELAY_MS} ahead.
 */
export function dueTime(
  req: Pick<SubmitTaskRequest, "runAt" | "delayMs">,
  now: number,
): number | null {
  const due =
    req.runAt !== undefined
      ? typeof req.runAt === "number"
        ? req.runAt
        : Date.parse(req.runAt)
      : req.delayMs !== undefined
        ? now + req.delayMs
        : null;
  if (due !== null && !(due - now <= MAX_DELAY_MS))
    throw new DroverError(
      ErrorCode.ValidationFailed,
      `validation failed: runAt: more than a year ahead (at most ${MAX_DELAY_MS} ms from now)`,
      {
        issues: [{ path: "runAt", message: "must be at most a year ahead", code: "too_big" }],
      },
    );
  return due;
}

/**
 * Builds the initial record of a submitted task. Pure: the id and clock are given.
 * The state is `delayed` when the due time is in the future, else `queued`.
 */
export function newTaskRecord(
  id: string,
  req: SubmitTaskRequest,
  now: number,
  submitter: string | null = null,
): TaskRecord {
  const due = dueTime(req, now);
  const state: TaskState = due !== null && due > now ? "delayed" : "queued";
  return {
    v: 1,
    id,
    type: req.type,
    payload: req.payload,
    priority: req.priority,
    resources: req.resources,
    labels: req.labels,
    key: req.key ?? null,
    timeoutMs: req.timeoutMs,
    retry: req.retry,
    idempotencyKey: req.idempotencyKey ?? null,
    ...(req.retentionMs !== undefined ? { retentionMs: req.retentionMs } : {}),
    ...(submitter !== null ? { submitter } : {}),
    state,
    attempt: 0,
    failures: 0,
    epoch: 0,
    term: 0,
    workerId: null,
    placement: null,
    createdAt: now,
    updatedAt: now,
    runAt: due,
    nextRunAt: null,
    assignedAt: null,
    startedAt: null,
    finishedAt: null,
    progress: null,
    result: null,
    error: null,
    refusedReports: 0,
    history: [],
  };
}

// ---- API bodies ------------------------------------------------------------

/** Reply of submit: the task id; `duplicate` when an idempotency key matched an existing task. */
export const SubmitTaskReply = z.strictObject({
  ok: z.literal(true),
  id: TaskId,
  duplicate: z.boolean(),
});
/** Reply of submit. */
export type SubmitTaskReply = z.infer<typeof SubmitTaskReply>;

/** Tasks in one batch submit at most. */
export const MAX_SUBMIT_BATCH = 1_000;

/**
 * Request body of `drover.api.tasks.submit-many`: up to {@link MAX_SUBMIT_BATCH} submits in
 * one request. Every task is checked first: one invalid task refuses the whole request (its
 * index is in the error's `issues` path) and nothing is created.
 */
export const SubmitManyRequest = z.strictObject({
  v: OptionalVersion,
  tasks: z.array(SubmitTaskRequest).min(1).max(MAX_SUBMIT_BATCH),
});
/** Parsed batch submit request. */
export type SubmitManyRequest = z.output<typeof SubmitManyRequest>;

/**
 * Reply of submit-many: one result per task, in the request's order, each what a submit of
 * that task alone would have answered (accepted, a duplicate of an idempotency key, or an
 * error such as a full task store).
 */
export const SubmitManyReply = z.strictObject({
  ok: z.literal(true),
  results: z.array(z.union([SubmitTaskReply, ErrorReply])),
});
/** Reply of submit-many. */
export type SubmitManyReply = z.infer<typeof SubmitManyReply>;

/** Request body of `drover.api.tasks.get`. */
export const GetTaskRequest = z
  .strictObject({
    v: OptionalVersion,
    id: TaskId.optional(),
    /** Finds the task by the idempotency key it was submitted with, in place of `id`. */
    idempotencyKey: z.string().min(1).max(256).optional(),
  })
  .refine((r) => (r.id === undefined) !== (r.idempotencyKey === undefined), {
    message: "give exactly one of id and idempotencyKey",
  });
/** Request body of get. */
export type GetTaskRequest = z.output<typeof GetTaskRequest>;

/** Request body of `drover.api.tasks.cancel`. */
export const CancelTaskRequest = z.strictObject({
  v: OptionalVersion,
  id: TaskId,
  /** Free-text reason, stored in the task history. */
  reason: z.string().max(512).optional(),
});
/** Request body of cancel. */
export type CancelTaskRequest = z.output<typeof CancelTaskRequest>;

/** Request body of `drover.api.tasks.retry` (re-run a failed, dead or timed-out task). */
export const RetryTaskRequest = z.strictObject({ v: OptionalVersion, id: TaskId });
/** Request body of retry. */
export type RetryTaskRequest = z.output<typeof RetryTaskRequest>;

/** Request body of `drover.api.tasks.list`. */
export const ListTasksRequest = z.strictObject({
  v: OptionalVersion,
  /** Only tasks in this state (or these states). */
  state: z.union([TaskState, z.array(TaskState).min(1)]).optional(),
  /** Only tasks of this type. */
  type: TaskType.optional(),
  /** Only tasks created at or after this time (ms since the epoch). */
  since: z.number().int().min(0).optional(),
  /** Only tasks created before this time (ms since the epoch). */
  until: z.number().int().min(0).optional(),
  /** Page size. @default 100 */
  limit: z.number().int().min(1).max(1000).default(100),
  /** Opaque cursor from a previous reply's `nextCursor`. */
  cursor: z.string().max(1024).optional(),
});
/** Request body of list. */
export type ListTasksRequest = z.output<typeof ListTasksRequest>;

/** Reply of list: one page of tasks. */
export const ListTasksReply = z.strictObject({
  ok: z.literal(true),
  tasks: z.array(TaskRecord),
  /** Cursor of the next page, null on the last page. */
  nextCursor: z.string().nullable(),
});
/** Reply of list. */
export type ListTasksReply = z.infer<typeof ListTasksReply>;

/** Reply of get, cancel and retry: the task record after the operation. */
export const TaskReply = z.strictObject({ ok: z.literal(true), task: TaskRecord });
/** Reply of get, cancel and retry. */
export type TaskReply = z.infer<typeof TaskReply>;
