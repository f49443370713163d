/**
 * A schedule's ticks: when a cron expression, a fixed interval or a single time comes due, in
 * the schedule's own time zone. Tick times follow from the schedule alone (its spec and when it
 * was created), so every replica computes the same ones whatever its host's clock or zone.
 *
 * Cron expressions are read by croner (pinned): 5 fields, 6 with seconds first, or an alias such
 * as `@hourly`. At a daylight-saving change, a wall-clock time that does not exist that day (the
 * spring-forward gap) fires once at the first time after the gap, and one that exists twice
 * (the repeated hour) fires once, at its first occurrence; a pattern that matches every hour or
 * more often fires in both occurrences of the repeated hour, since both are real hours.
 */
import { Cron } from "croner";
import type { ScheduleSpec } from "../protocol/index.ts";
import { DroverError, ErrorCode, instantMs } from "../protocol/index.ts";

/** Parsed cron expressions by pattern and zone (parsing costs more than a next tick). */
const parsed = new Map<string, Cron>();
const PARSED_MAX = 4_096;

function cronOf(pattern: string, timezone: string): Cron {
  const k = `${timezone}\u0000${pattern}`;
  let c = parsed.get(k);
  if (c === undefined) {
    c = new Cron(pattern, { timezone, mode: "5-or-6-parts", paused: true });
    if (parsed.size >= PARSED_MAX) parsed.clear();
    parsed.set(k, c);
  }
  return c;
}

/**
 * Refuses a spec whose cron expression croner cannot read, or which never fires.
 * @throws DroverError `validation_failed`, naming the field.
 */
export function checkScheduleSpec(spec: ScheduleSpec, now: number): void {
  if (spec.cron === undefined) return;
  let next: Date | null;
  try {
    next = cronOf(spec.cron, spec.timezone).nextRun(new Date(now));
  } catch (err) {
    throw invalid("cron", `invalid cron expression: ${(err as Error).message}`);
  }
  if (next === null) throw invalid("cron", "the cron expression never fires after now");
}

function invalid(path: string, message: string): DroverError {
  return new DroverError(ErrorCode.ValidationFailed, message, {
    issues: [{ path, message, code: "custom" }],
  });
}

/** The bounds a spec puts on its ticks, in epoch ms. */
function bounds(spec: ScheduleSpec): { start: number; end: number } {
  return {
    start: spec.startAt === undefined ? Number.NEGATIVE_INFINITY : instantMs(spec.startAt),
    end: spec.endAt === undefined ? Number.POSITIVE_INFINITY : instantMs(spec.endAt),
  };
}

/**
 * The first tick strictly after `after`, or null when there is none (past `endAt`, or a single
 * time already passed). `createdAt` anchors an interval without `startAt`: its ticks are
 * `createdAt + k·everyMs` for k ≥ 1; with `startAt`, `startAt + k·everyMs` for k ≥ 0.
 */
export function tickAfter(spec: ScheduleSpec, createdAt: number, after: number): number | null {
  const { start, end } = bounds(spec);
  let t: number | null;
  if (spec.at !== undefined) {
    const at = instantMs(spec.at);
    t = at > after ? at : null;
  } else if (spec.everyMs !== undefined) {
    const every = spec.everyMs;
    const base = spec.startAt !== undefined ? start : createdAt;
    const first = spec.startAt !== undefined ? base : base + every;
    t = after < first ? first : base + (Math.floor((after - base) / every) + 1) * every;
  } else {
    // croner counts whole seconds: the next run after `after`, and never before `startAt`.
    const from = Math.max(after, start - 1);
    const d = cronOf(spec.cron ?? "", spec.timezone).nextRun(new Date(from));
    t = d === null ? null : d.getTime();
  }
  return t !== null && t < end ? t : null;
}

/** The last tick at or before `x`, or null when there is none. */
export function tickAtOrBefore(spec: ScheduleSpec, createdAt: number, x: number): number | null {
  const { start, end } = bounds(spec);
  const upTo = Math.min(x, end - 1);
  if (spec.at !== undefined) {
    const at = instantMs(spec.at);
    return at <= upTo ? at : null;
  }
  if (spec.everyMs !== undefined) {
    const every = spec.everyMs;
    const base = spec.startAt !== undefined ? start : createdAt;
    const first = spec.startAt !== undefined ? base : base + every;
    return upTo < first ? null : base + Math.floor((upTo - base) / every) * every;
  }
  // croner's previous run is strictly before its reference, in whole seconds.
  const ref = new Date(Math.floor(upTo / 1_000) * 1_000 + 1_000);
  const prev = cronOf(spec.cron ?? "", spec.timezone).previousRuns(1, ref)[0];
  return prev === undefined || prev.getTime() < start ? null : prev.getTime();
}

/**
 * How many ticks lie in [from, to] (both ticks of the schedule): exact for an interval or a
 * single time; a cron expression's are counted one by one up to `cap`.
 */
export function countTicks(
  spec: ScheduleSpec,
  createdAt: number,
  from: number,
  to: number,
  cap: number,
): number {
  if (to < from) return 0;
  if (spec.at !== undefined) return 1;
  if (spec.everyMs !== undefined) return Math.round((to - from) / spec.everyMs) + 1;
  let n = 1;
  for (let t = tickAfter(spec, createdAt, from); t !== null && t <= to && n < cap; n++)
    t = tickAfter(spec, createdAt, t);
  return n;
}

/** A new schedule's first tick: a single time even when it has passed (catch-up decides). */
export function firstTick(spec: ScheduleSpec, createdAt: number): number | null {
  return tickAfter(spec, createdAt, spec.at !== undefined ? Number.NEGATIVE_INFINITY : createdAt);
}

/**
 * The tick after a spec changed at `now`: ticks of the new spec before the change are not owed,
 * except a single time not yet handled.
 */
export function tickAfterUpdate(
  spec: ScheduleSpec,
  createdAt: number,
  lastTick: number | null,
  now: number,
): number | null {
  const handled = lastTick ?? Number.NEGATIVE_INFINITY;
  return tickAfter(spec, createdAt, spec.at !== undefined ? handled : Math.max(now, handled));
}

/**
 * How much later a tick's task runs, in [0, jitterMs]: a hash of the schedule and the tick, so
 * that a leader firing the tick again asks for the same time.
 */
export function tickJitter(id: string, tick: number, jitterMs: number): number {
  if (jitterMs <= 0) return 0;
  // FNV-1a, 32 bits.
  let h = 0x811c9dc5;
  const s = `${id}:${tick}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % (jitterMs + 1);
}
