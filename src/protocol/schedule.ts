/**
 * Recurring schedules: a task template and when to submit it (a cron expression, a fixed
 * interval or a single time, in an IANA time zone), kept as a durable record in the schedules
 * bucket (key: the schedule's id) together with what the leader has fired so far. Changed
 * through `drover.api.schedules.*`.
 */
import { z } from "zod";
import { OptionalVersion, Version } from "./envelope.ts";
import { taskTemplateShape, TaskId } from "./task.ts";

/** A schedule's id: one KV key, one token of an idempotency key. */
export const ScheduleId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, "must match /^[A-Za-z0-9_-]{1,64}$/");

/** A point in time: an ISO-8601 date-time with an offset (or Z), or epoch milliseconds. */
export const Instant = z.union([z.iso.datetime({ offset: true }), z.number().int().min(0)]);
export type Instant = z.output<typeof Instant>;

/** Epoch milliseconds of an {@link Instant}. */
export function instantMs(i: Instant): number {
  return typeof i === "number" ? i : Date.parse(i);
}

/** Whether `tz` is an IANA time zone this runtime knows. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** The task a schedule submits at each tick: a submit's fields, without when and without a key. */
export const TaskTemplate = z.strictObject(taskTemplateShape);
export type TaskTemplate = z.output<typeof TaskTemplate>;

/** Shortest interval of an `everyMs` schedule: one second. */
export const MIN_EVERY_MS = 1_000;
/** Longest catch-up window and jitter: a week, an hour. */
export const MAX_CATCH_UP_MS = 7 * 86_400_000;
export const MAX_JITTER_MS = 3_600_000;
/** Recent runs a schedule's record lists. */
export const RECENT_RUNS = 10;
/** Most schedules one installation holds (every replica keeps them all in memory). */
export const MAX_SCHEDULES = 10_000;
/** Largest schedule record (its task template included), in bytes of JSON. */
export const MAX_SCHEDULE_BYTES = 65_536;

/**
 * What to do at a tick while the schedule's previous task has not finished.
 * - `skip`: create nothing for this tick, and record it as skipped.
 * - `buffer-one`: hold this tick and submit it once the previous task finishes; one tick at
 *   most is held, later ones are skipped.
 * - `allow`: submit anyway; the runs overlap.
 * - `cancel-previous`: cancel the previous task, then submit.
 */
export const OverlapPolicy = z.enum(["skip", "buffer-one", "allow", "cancel-previous"]);
export type OverlapPolicy = z.output<typeof OverlapPolicy>;

/** Ticks that passed while no scheduler ran the schedule (all down, or the schedule paused). */
export const CatchUp = z.strictObject({
  /**
   * A tick the leader reaches more than this late (by its clock, against the tick's time) is
   * skipped and recorded as skipped; at least a second, so that a timer firing a few
   * milliseconds late never counts as a miss. @default 3600000 (1 h)
   */
  windowMs: z.number().int().min(1_000).max(MAX_CATCH_UP_MS).default(3_600_000),
  /** Within the window: submit once for the latest missed tick (`once`), or once for every one (`all`). @default "once" */
  fire: z.enum(["once", "all"]).default("once"),
});
export type CatchUp = z.output<typeof CatchUp>;

const scheduleFields = {
  /** The task submitted at each tick. */
  task: TaskTemplate,
  /**
   * A cron expression: 5 fields (minute precision), 6 (with seconds first) or an alias
   * (`@yearly`, `@monthly`, `@weekly`, `@daily`, `@hourly`), read in `timezone`.
   */
  cron: z.string().min(1).max(256).optional(),
  /** A fixed interval in ms (≥ 1 s), counted from `startAt`, or from when it was created. */
  everyMs: z
    .number()
    .int()
    .min(MIN_EVERY_MS)
    .max(366 * 86_400_000)
    .optional(),
  /** A single time. */
  at: Instant.optional(),
  /** The IANA time zone a cron expression is read in. @default "UTC" */
  timezone: z
    .string()
    .max(64)
    .refine(isTimeZone, { message: "unknown IANA time zone" })
    .default("UTC"),
  /** No tick before this. */
  startAt: Instant.optional(),
  /** No tick at or after this. */
  endAt: Instant.optional(),
  /** At most this many tasks submitted, then the schedule is done. */
  maxRuns: z.number().int().min(1).optional(),
  /**
   * Each tick's task runs up to this much later (the same delay for a tick whoever fires it):
   * spreads schedules that share a tick. @default 0
   */
  jitterMs: z.number().int().min(0).max(MAX_JITTER_MS).default(0),
  /** @default "skip" */
  overlap: OverlapPolicy.default("skip"),
  /** @default { windowMs: 3600000, fire: "once" } */
  catchUp: CatchUp.prefault({}),
};

function oneWhen(s: { cron?: unknown; everyMs?: unknown; at?: unknown }): boolean {
  return [s.cron, s.everyMs, s.at].filter((x) => x !== undefined).length === 1;
}
const ONE_WHEN = { message: "give exactly one of cron, everyMs and at", path: ["cron"] };
function ordered(s: { startAt?: Instant; endAt?: Instant }): boolean {
  return (
    s.startAt === undefined || s.endAt === undefined || instantMs(s.startAt) < instantMs(s.endAt)
  );
}
const ORDERED = { message: "endAt must be after startAt", path: ["endAt"] };

/** What a schedule is (its record's `spec`, and the body of create and update). */
export const ScheduleSpec = z
  .strictObject(scheduleFields)
  .refine(oneWhen, ONE_WHEN)
  .refine(ordered, ORDERED);
export type ScheduleSpec = z.output<typeof ScheduleSpec>;
export type ScheduleSpecInput = z.input<typeof ScheduleSpec>;

/** A run the leader submitted for a tick. */
export const ScheduleRun = z.strictObject({
  /** The tick (epoch ms): from the schedule, not from any host's clock. */
  tick: z.number(),
  taskId: TaskId,
  /** When the leader submitted it, by its clock. */
  firedAt: z.number(),
});
export type ScheduleRun = z.output<typeof ScheduleRun>;

/** Why a tick created no task. */
export const SkipReason = z.enum(["missed", "overlap"]);
export type SkipReason = z.output<typeof SkipReason>;

/** What the leader has done with a schedule's ticks. */
export const ScheduleState = z.strictObject({
  /** The next tick to handle; null once the schedule is done (its end, its runs, its single time). */
  nextTick: z.number().nullable(),
  /** The last tick handled (submitted or skipped); ticks up to it are never submitted again. */
  lastTick: z.number().nullable(),
  /** Tasks submitted. */
  runs: z.number().int().min(0),
  /** Ticks skipped, and the last one with why. */
  skipped: z.number().int().min(0),
  lastSkip: z.strictObject({ tick: z.number(), reason: SkipReason, at: z.number() }).nullable(),
  /** A tick held by `buffer-one` until the previous task finishes. */
  buffered: z.number().nullable(),
  /** The latest runs, newest last (at most 10). */
  recent: z.array(ScheduleRun).max(RECENT_RUNS),
});
export type ScheduleState = z.output<typeof ScheduleState>;

/** A schedule as kept in the schedules bucket. */
export const ScheduleRecord = z.strictObject({
  v: Version,
  id: ScheduleId,
  spec: ScheduleSpec,
  paused: z.boolean(),
  createdAt: z.number(),
  updatedAt: z.number(),
  state: ScheduleState,
});
export type ScheduleRecord = z.output<typeof ScheduleRecord>;

/** Body of `schedules.create` and `schedules.update`: an id and the spec. */
export const PutScheduleRequest = z
  .strictObject({ v: OptionalVersion, id: ScheduleId, ...scheduleFields })
  .refine(oneWhen, ONE_WHEN)
  .refine(ordered, ORDERED);
export type PutScheduleRequest = z.output<typeof PutScheduleRequest>;
export type PutScheduleRequestInput = z.input<typeof PutScheduleRequest>;

/** Body of `schedules.get`, `.pause`, `.resume` and `.delete`. */
export const ScheduleIdRequest = z.strictObject({ v: OptionalVersion, id: ScheduleId });
export type ScheduleIdRequest = z.output<typeof ScheduleIdRequest>;

/** Body of `schedules.list`. */
export const ListSchedulesRequest = z.strictObject({ v: OptionalVersion });

export const ScheduleReply = z.strictObject({ ok: z.literal(true), schedule: ScheduleRecord });
export type ScheduleReply = z.output<typeof ScheduleReply>;

export const ListSchedulesReply = z.strictObject({
  ok: z.literal(true),
  schedules: z.array(ScheduleRecord),
});
export type ListSchedulesReply = z.output<typeof ListSchedulesReply>;

export const DeleteScheduleReply = z.strictObject({
  ok: z.literal(true),
  deleted: z.literal(true),
});

/** The idempotency key of a tick's task: a second firing of the tick creates nothing. */
export function scheduleTickKey(id: string, tick: number): string {
  return `schedule:${id}:${new Date(tick).toISOString()}`;
}
