/**
 * The task actor: one XState machine per task whose context IS the durable
 * {@link TaskRecord} (the value in the tasks KV bucket).
 *
 * Pure (machines import only xstate and the protocol): no clock, no randomness, no I/O. Every event carries
 * its time `at` (ms) and failure events carry `rand` for backoff jitter, both chosen by
 * the runtime. No XState `after` delays (invariant 4): due times are stored in the record
 * (`runAt`, `nextRunAt`) and the runtime sends `DUE` when they pass.
 *
 * The runtime applies events with {@link applyTaskEvent}: an illegal or stale event is
 * refused and the record is left untouched.
 */
import { setup, assign } from "xstate";
import { pureTransition } from "./pure-transition.ts";
import type {
  JsonValue,
  Placement,
  Report,
  TaskError,
  TaskHistoryEntry,
  TaskRecord,
  TaskState,
} from "../protocol/index.ts";
import { MAX_HISTORY } from "../protocol/index.ts";
import { backoffDelay } from "./backoff.ts";

/** Events of the task machine. `at` is the event time in epoch ms (injected clock). */
export type TaskEvent =
  /** A `delayed` / `retrying` task's due time (`runAt` / `nextRunAt`) has passed. */
  | { type: "DUE"; at: number }
  /** The leader placed the task on a worker (queued → assigned; new epoch). */
  | { type: "ASSIGN"; at: number; workerId: string; term: number; placement: Placement }
  /** The leader found no fitting worker; only the placement explanation changes. */
  | { type: "NO_FIT"; at: number; placement: Placement }
  /** The worker started the handler. */
  | { type: "START"; at: number; epoch: number; workerId: string }
  /** Progress report (implies start). */
  | { type: "PROGRESS"; at: number; epoch: number; progress: JsonValue; from?: string }
  /** The handler returned: the one accepted completion. */
  | { type: "SUCCEED"; at: number; epoch: number; result: JsonValue; from?: string }
  /** The handler threw. `rand` ∈ [0, 1) drives backoff jitter. */
  | { type: "FAIL"; at: number; epoch: number; error: TaskError; rand: number; from?: string }
  /** The attempt exceeded `timeoutMs`. */
  | { type: "TIME_OUT"; at: number; epoch: number; rand: number; from?: string }
  /** The worker handed the task back (drain, refusal, no ack); not a failure. */
  | { type: "RELEASE"; at: number; epoch: number; reason: string; from?: string }
  /** The worker's heartbeat expired; not a failure. */
  | { type: "WORKER_LOST"; at: number; workerId: string }
  /** User cancel. */
  | { type: "CANCEL"; at: number; reason?: string }
  /** User re-run of a `failed`, `dead` or `timed_out` task. */
  | { type: "RETRY"; at: number };

/** Type of a {@link TaskEvent}. */
export type TaskEventType = TaskEvent["type"];

/** Every task event type. */
export const TASK_EVENT_TYPES: readonly TaskEventType[] = [
  "DUE",
  "ASSIGN",
  "NO_FIT",
  "START",
  "PROGRESS",
  "SUCCEED",
  "FAIL",
  "TIME_OUT",
  "RELEASE",
  "WORKER_LOST",
  "CANCEL",
  "RETRY",
];

/** Longest reason kept in a history entry. */
const MAX_REASON = 200;

function short(s: string): string {
  return s.length > MAX_REASON ? `${s.slice(0, MAX_REASON - 1)}…` : s;
}

function eventEpoch(event: TaskEvent): number | undefined {
  return "epoch" in event ? event.epoch : undefined;
}

/**
 * The worker a report came from (`from`, set for events built from reports): it must be the
 * one the task is assigned to. Events the leader makes itself carry none.
 */
function reporterMatches(context: TaskRecord, event: TaskEvent): boolean {
  return !("from" in event) || event.from === undefined || event.from === context.workerId;
}

/** The event is for the current epoch and, if a worker reported it, from the assigned worker. */
function epochMatches(context: TaskRecord, event: TaskEvent): boolean {
  return eventEpoch(event) === context.epoch && reporterMatches(context, event);
}

/** Whether one more failure still leaves an attempt under `retry.maxAttempts`. */
function failuresLeft(context: TaskRecord): boolean {
  return context.failures + 1 < context.retry.maxAttempts;
}

function dueAt(context: TaskRecord): number | null {
  return context.state === "delayed" ? context.runAt : context.nextRunAt;
}

function timeoutError(context: TaskRecord): TaskError {
  return {
    code: "timeout",
    message: `attempt ${context.attempt} timed out after ${context.timeoutMs} ms`,
    retryable: true,
  };
}

/** History detail of a transition, if any. */
function reasonOf(context: TaskRecord, event: TaskEvent): string | undefined {
  switch (event.type) {
    case "FAIL":
      return `${event.error.code}: ${event.error.message}`;
    case "TIME_OUT":
      return timeoutError(context).message;
    case "RELEASE":
      return event.reason;
    case "WORKER_LOST":
      return `worker ${event.workerId} lost`;
    case "CANCEL":
      return event.reason;
    case "RETRY":
      return context.error
        ? `previous error ${context.error.code}: ${context.error.message}`
        : undefined;
    case "ASSIGN":
      return `worker ${event.workerId} (epoch ${context.epoch + 1}, term ${event.term})`;
    default:
      return undefined;
  }
}

/** Fields cleared when a task leaves a worker without finishing. */
const UNASSIGNED = { workerId: null, assignedAt: null, startedAt: null, progress: null } as const;

/**
 * Data changes of one accepted transition to `to`. Guards have already decided
 * legality and target; this only computes the new record.
 */
function applyEvent(context: TaskRecord, event: TaskEvent, to: TaskState): TaskRecord {
  const from = context.state;
  let history = context.history;
  // Self-transitions (PROGRESS while running, NO_FIT while queued) are not history:
  // they would push the real state changes out of the 20 kept entries.
  if (from !== to) {
    const reason = reasonOf(context, event);
    const entry: TaskHistoryEntry = { at: event.at, from, to, event: event.type };
    if (reason !== undefined) entry.reason = short(reason);
    history = [...history, entry].slice(-MAX_HISTORY);
  }
  const base: TaskRecord = { ...context, state: to, updatedAt: event.at, history };

  switch (event.type) {
    case "DUE":
      return { ...base, nextRunAt: null };
    case "ASSIGN":
      return {
        ...base,
        attempt: context.attempt + 1,
        epoch: context.epoch + 1,
        term: event.term,
        workerId: event.workerId,
        placement: event.placement,
        assignedAt: event.at,
        startedAt: null,
        progress: null,
        nextRunAt: null,
      };
    case "NO_FIT":
      return { ...base, placement: event.placement };
    case "START":
      return { ...base, startedAt: event.at };
    case "PROGRESS":
      return { ...base, progress: event.progress, startedAt: context.startedAt ?? event.at };
    case "SUCCEED":
      // The record keeps the worker that ran the accepted attempt (see TaskRecord.workerId).
      return { ...base, result: event.result, error: null, finishedAt: event.at };
    case "FAIL":
    case "TIME_OUT": {
      const failures = context.failures + 1;
      const error = event.type === "FAIL" ? event.error : timeoutError(context);
      const retrying = to === "retrying";
      return {
        ...base,
        failures,
        error,
        // A finished task keeps the worker of its last attempt; one waiting to retry has none.
        workerId: retrying ? null : context.workerId,
        nextRunAt: retrying ? event.at + backoffDelay(context.retry, failures, event.rand) : null,
        finishedAt: retrying ? null : event.at,
      };
    }
    case "RELEASE":
    case "WORKER_LOST":
      return { ...base, ...UNASSIGNED };
    case "CANCEL":
      return {
        ...base,
        workerId: null,
        nextRunAt: null,
        finishedAt: event.at,
        error: { code: "cancelled", message: event.reason ?? "cancelled", retryable: false },
      };
    case "RETRY":
      return {
        ...base,
        workerId: null,
        failures: 0,
        error: null,
        result: null,
        progress: null,
        nextRunAt: null,
        finishedAt: null,
      };
  }
}

const machineSetup = setup({
  types: {
    context: {} as TaskRecord,
    events: {} as TaskEvent,
    input: {} as TaskRecord,
  },
  guards: {
    /** Reports must carry the current epoch (fencing). */
    epochMatches: ({ context, event }) => epochMatches(context, event),
    /** START must come from the assigned worker with the current epoch. */
    startValid: ({ context, event }) =>
      event.type === "START" && epochMatches(context, event) && event.workerId === context.workerId,
    /** A deposed leader (older term) must not assign. */
    termCurrent: ({ context, event }) => event.type === "ASSIGN" && event.term >= context.term,
    /** The stored due time has passed. */
    isDue: ({ context, event }) => {
      const due = dueAt(context);
      return due === null || event.at >= due;
    },
    failRetryable: ({ context, event }) =>
      event.type === "FAIL" &&
      epochMatches(context, event) &&
      event.error.retryable &&
      failuresLeft(context),
    failPermanent: ({ context, event }) =>
      event.type === "FAIL" && epochMatches(context, event) && !event.error.retryable,
    timeoutRetryable: ({ context, event }) => epochMatches(context, event) && failuresLeft(context),
    workerMatches: ({ context, event }) =>
      event.type === "WORKER_LOST" && event.workerId === context.workerId,
  },
  actions: {
    apply: assign(({ context, event }, params: { to: TaskState }) =>
      applyEvent(context, event, params.to),
    ),
  },
});

/** The `apply` action moving the record to `to`. */
function apply(to: TaskState) {
  return { type: "apply", params: { to } } as const;
}

const cancel = { target: "cancelled", actions: apply("cancelled") } as const;

/** FAIL from an active state: retry, fail permanently, or die of exhaustion. */
const fail = [
  { guard: "failRetryable", target: "retrying", actions: apply("retrying") },
  { guard: "failPermanent", target: "failed", actions: apply("failed") },
  { guard: "epochMatches", target: "dead", actions: apply("dead") },
] as const;

/** TIME_OUT from an active state: retry, or `timed_out` when exhausted. */
const timeOut = [
  { guard: "timeoutRetryable", target: "retrying", actions: apply("retrying") },
  { guard: "epochMatches", target: "timed_out", actions: apply("timed_out") },
] as const;

/** Transitions shared by `assigned` and `running`. */
const active = {
  SUCCEED: { guard: "epochMatches", target: "succeeded", actions: apply("succeeded") },
  FAIL: fail,
  TIME_OUT: timeOut,
  RELEASE: { guard: "epochMatches", target: "queued", actions: apply("queued") },
  WORKER_LOST: { guard: "workerMatches", target: "queued", actions: apply("queued") },
  CANCEL: cancel,
} as const;

const rerun = { on: { RETRY: { target: "queued", actions: apply("queued") } } } as const;

/**
 * The task machine. Start it with the record as input, or (normally) rebuild a snapshot
 * from a stored record with `taskMachine.resolveState({ value: record.state, context: record })`.
 */
export const taskMachine = machineSetup.createMachine({
  id: "task",
  context: ({ input }) => input,
  initial: "queued",
  states: {
    queued: {
      on: {
        ASSIGN: { guard: "termCurrent", target: "assigned", actions: apply("assigned") },
        NO_FIT: { actions: apply("queued") },
        CANCEL: cancel,
      },
    },
    delayed: {
      on: {
        DUE: { guard: "isDue", target: "queued", actions: apply("queued") },
        CANCEL: cancel,
      },
    },
    assigned: {
      on: {
        START: { guard: "startValid", target: "running", actions: apply("running") },
        PROGRESS: { guard: "epochMatches", target: "running", actions: apply("running") },
        ...active,
      },
    },
    running: {
      on: {
        PROGRESS: { guard: "epochMatches", actions: apply("running") },
        ...active,
      },
    },
    retrying: {
      on: {
        DUE: { guard: "isDue", target: "queued", actions: apply("queued") },
        CANCEL: cancel,
      },
    },
    succeeded: { type: "final" },
    failed: rerun,
    dead: rerun,
    timed_out: rerun,
    cancelled: { type: "final" },
  },
});

/** Result of {@link applyTaskEvent}. */
export type ApplyResult =
  | { ok: true; record: TaskRecord; changed: boolean }
  | {
      ok: false;
      reason: string;
      /** true when refused for a stale epoch (count it in `refusedReports`). */ stale: boolean;
    };

/** Event types the machine accepts in `state` (ignoring guards). */
export function acceptedEvents(state: TaskState): readonly string[] {
  return taskMachine.states[state]?.ownEvents ?? [];
}

function refusal(
  record: TaskRecord,
  event: TaskEvent,
): { ok: false; reason: string; stale: boolean } {
  const refuse = (reason: string, stale = false) => ({ ok: false as const, reason, stale });
  if (!acceptedEvents(record.state).includes(event.type)) {
    return refuse(`illegal event ${event.type} in state ${record.state}`);
  }
  const epoch = eventEpoch(event);
  if (epoch !== undefined && epoch !== record.epoch) {
    return refuse(`stale epoch ${epoch} (current ${record.epoch})`, true);
  }
  // A report of the current epoch from a worker that does not hold the task: a forgery or a
  // confused worker; counted like a stale report.
  if ("from" in event && event.from !== undefined && !reporterMatches(record, event)) {
    return refuse(
      `report from worker ${event.from}, but ${record.workerId ?? "no worker"} holds the task`,
      true,
    );
  }
  switch (event.type) {
    case "START":
    case "WORKER_LOST":
      return refuse(
        `worker ${event.workerId} does not hold the task (held by ${record.workerId ?? "nobody"})`,
      );
    case "ASSIGN":
      return refuse(`stale term ${event.term} (current ${record.term})`);
    case "DUE":
      return refuse(`not due until ${dueAt(record) ?? "?"} (now ${event.at})`);
    default:
      return refuse(`event ${event.type} refused in state ${record.state}`);
  }
}

function samePlacement(a: Placement | null, b: Placement | null): boolean {
  if (a === null || b === null) return a === b;
  return JSON.stringify({ ...a, at: 0 }) === JSON.stringify({ ...b, at: 0 });
}

/**
 * Applies one event to a stored record, purely. Illegal events (wrong state, stale epoch,
 * wrong worker, older term, not yet due) are refused and nothing changes.
 *
 * `changed` is false when the new record only differs in timestamps (a repeated NO_FIT with
 * the same explanation, a PROGRESS with the same value): the runtime may skip the KV write.
 */
export function applyTaskEvent(record: TaskRecord, event: TaskEvent): ApplyResult {
  let snapshot;
  try {
    snapshot = taskMachine.resolveState({ value: record.state, context: record });
  } catch {
    return { ok: false, reason: `unknown state ${String(record.state)}`, stale: false };
  }
  if (snapshot.status !== "active" || !snapshot.can(event)) return refusal(record, event);
  const next = pureTransition(taskMachine, snapshot, event);
  const out = next.context;
  let changed = true;
  if (out.state === record.state) {
    if (event.type === "PROGRESS")
      changed = JSON.stringify(out.progress) !== JSON.stringify(record.progress);
    else if (event.type === "NO_FIT") changed = !samePlacement(out.placement, record.placement);
  }
  return { ok: true, record: out, changed };
}

/** Counts a refused stale report in the record (diagnostics). */
export function recordRefusedReport(record: TaskRecord, at: number): TaskRecord {
  return { ...record, refusedReports: record.refusedReports + 1, updatedAt: at };
}

/**
 * Maps a worker report to the machine event. `at` is the leader's clock (the worker's
 * `at` is informational); `rand` ∈ [0, 1) is used for backoff jitter on failures.
 */
export function eventFromReport(report: Report, at: number, rand: number): TaskEvent {
  const { epoch } = report;
  switch (report.kind) {
    case "started":
      return { type: "START", at, epoch, workerId: report.workerId };
    case "progress":
      return { type: "PROGRESS", at, epoch, progress: report.progress, from: report.workerId };
    case "succeeded":
      return { type: "SUCCEED", at, epoch, result: report.result, from: report.workerId };
    case "failed":
      return { type: "FAIL", at, epoch, error: report.error, rand, from: report.workerId };
    case "timed_out":
      return { type: "TIME_OUT", at, epoch, rand, from: report.workerId };
    case "released":
      return { type: "RELEASE", at, epoch, reason: report.reason, from: report.workerId };
  }
}
