/**
 * What the leader does with a schedule when it looks at it: which ticks to submit now, which to
 * skip and why, whether to cancel the previous run, and the schedule's state afterwards. Pure:
 * the leader's clock (`now`) and which of the schedule's recent tasks are unfinished are
 * arguments. Whether a tick was missed is judged only by `now` against the tick times, never by
 * comparing two hosts' clocks.
 */
import type { ScheduleRecord, ScheduleSpec, ScheduleState, SkipReason } from "../protocol/index.ts";
import { countTicks, firstTick, tickAfter, tickAtOrBefore } from "./schedule-ticks.ts";

/** Ticks submitted by one look at most; the next look takes the rest. */
export const MAX_FIRE_PER_LOOK = 100;
/**
 * Missed ticks of a cron expression counted one by one in a look (an interval's are counted
 * exactly); a longer stretch is counted as this many.
 */
export const MAX_STEPS_PER_LOOK = 1_000;

/** A new schedule's record, created at `now`: nothing fired yet, its first tick next. */
export function newScheduleRecord(id: string, spec: ScheduleSpec, now: number): ScheduleRecord {
  return {
    v: 1,
    id,
    spec,
    paused: false,
    createdAt: now,
    updatedAt: now,
    state: {
      nextTick: firstTick(spec, now),
      lastTick: null,
      runs: 0,
      skipped: 0,
      lastSkip: null,
      buffered: null,
      recent: [],
    },
  };
}

export interface SchedulePlan {
  /** Ticks to submit now, oldest first. */
  fire: number[];
  /** Tasks to cancel first (`cancel-previous`). */
  cancel: string[];
  /** The state to record once the ticks are submitted (without their runs: the caller adds them). */
  state: ScheduleState;
  /** Whether anything changed (otherwise nothing needs writing). */
  changed: boolean;
  /** More ticks are due than this look took. */
  more: boolean;
}

/**
 * Plans one look at `rec` at the leader's time `now`. `unfinished` lists the schedule's recent
 * tasks that have not finished (queued, delayed, assigned, running or retrying).
 */
export function planSchedule(
  rec: ScheduleRecord,
  now: number,
  unfinished: readonly string[],
): SchedulePlan {
  const { spec } = rec;
  const st: ScheduleState = { ...rec.state };
  const none: SchedulePlan = {
    fire: [],
    cancel: [],
    state: rec.state,
    changed: false,
    more: false,
  };
  if (rec.paused) return none;
  const fire: number[] = [];
  let changed = false;
  const skip = (tick: number, reason: SkipReason, count = 1): void => {
    st.skipped += count;
    st.lastSkip = { tick, reason, at: now };
    changed = true;
  };
  const remaining = spec.maxRuns === undefined ? Infinity : spec.maxRuns - st.runs;
  let busy = unfinished.length > 0;

  // A tick held by `buffer-one` goes first, once the run before it has finished.
  if (st.buffered !== null && !busy && remaining > 0) {
    fire.push(st.buffered);
    st.buffered = null;
    busy = true;
    changed = true;
  }

  // Missed ticks beyond the catch-up window (older than `windowMs` by the leader's clock) are
  // skipped without a task.
  const c = rec.createdAt;
  const edge = now - spec.catchUp.windowMs;
  let t = st.nextTick;
  if (t !== null && t < edge) {
    const lastStale = tickAtOrBefore(spec, c, Math.min(edge - 1, now)) ?? t;
    skip(lastStale, "missed", countTicks(spec, c, t, lastStale, MAX_STEPS_PER_LOOK));
    st.lastTick = lastStale;
    t = tickAfter(spec, c, lastStale);
  }

  // The due ticks within the window: the latest alone (`once`), or each of them (`all`).
  const fresh: number[] = [];
  if (t !== null && t <= now) {
    if (spec.catchUp.fire === "once") {
      const last = tickAtOrBefore(spec, c, now) ?? t;
      if (last > t) {
        const before = tickAtOrBefore(spec, c, last - 1) ?? t;
        skip(before, "missed", countTicks(spec, c, t, before, MAX_STEPS_PER_LOOK));
      }
      fresh.push(last);
      t = tickAfter(spec, c, last);
    } else
      while (t !== null && t <= now && fresh.length < MAX_FIRE_PER_LOOK) {
        fresh.push(t);
        t = tickAfter(spec, c, t);
      }
    st.lastTick = fresh.at(-1)!;
  }
  const more = t !== null && t <= now;
  if (t !== st.nextTick) {
    st.nextTick = t;
    changed = true;
  }

  let cancel: string[] = [];
  if (fresh.length > 0) {
    if (!busy) fire.push(...fresh);
    else
      switch (spec.overlap) {
        case "allow":
          fire.push(...fresh);
          break;
        case "cancel-previous":
          cancel = [...unfinished];
          fire.push(...fresh);
          break;
        case "buffer-one": {
          const hold = st.buffered === null ? fresh.pop() : undefined;
          for (const x of fresh) skip(x, "overlap");
          if (hold !== undefined) st.buffered = hold;
          break;
        }
        case "skip":
          for (const x of fresh) skip(x, "overlap");
          break;
      }
  }

  // The limit on runs: the schedule is done once it has submitted that many.
  if (fire.length > remaining) fire.length = Math.max(0, remaining);
  if (spec.maxRuns !== undefined && st.runs + fire.length >= spec.maxRuns) {
    st.nextTick = null;
    st.buffered = null;
  }
  changed ||= fire.length > 0;
  return { fire, cancel, state: st, changed, more: more && st.nextTick !== null };
}

/** The state after `fire`'s tasks were submitted: runs counted, recent runs kept to `max`. */
export function recordRuns(
  state: ScheduleState,
  runs: readonly { tick: number; taskId: string; firedAt: number }[],
  max: number,
): ScheduleState {
  return {
    ...state,
    runs: state.runs + runs.length,
    recent: [...state.recent, ...runs].slice(-max),
  };
}
