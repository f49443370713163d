/**
 * The one timer a task may need while a leader holds it, derived from what its record stores
 * and when this leader saw it — never from a time another host wrote, for an active task.
 * Pure: the runtime (src/runtime/task-timers.ts) sets the timeout and writes the event.
 *
 * - `delayed` / `retrying`: due at `runAt` / `nextRunAt`, then `DUE` (back to the queue).
 * - `assigned`: a worker that accepted an assignment reports `started` at once; one that has
 *   not after `startTimeoutMs` was lost (say, the previous leader died between the write and
 *   the request) and is handed back (`RELEASE`) — unless the worker's heartbeat lists it: the
 *   worker has it and only its report is late, so the leader looks again one start timeout
 *   later instead of running it twice.
 * - `running`: the worker aborts and reports at the task's timeout; `TIME_OUT` after
 *   `timeoutMs + timeoutGraceMs` is the backstop for a worker that cannot.
 */
import type { TaskRecord, TaskState } from "../protocol/index.ts";
import type { TaskEvent } from "./task-machine.ts";

/** What a task's timer is derived from. */
export interface TimedTask {
  readonly id: string;
  readonly state: TaskState;
  readonly epoch: number;
  readonly workerId: string | null;
  readonly timeoutMs: number;
  readonly runAt: number | null;
  readonly nextRunAt: number | null;
}

export interface TaskTimerOptions {
  startTimeoutMs: number;
  timeoutGraceMs: number;
}

export interface TaskTimer {
  /** When it is due (epoch ms, this host's clock). */
  dueAt: number;
  /** `start`: an assignment's start timeout, which a heartbeat listing the task holds off. */
  kind: "due" | "start" | "backstop";
  /** The event to write when due, judged on the record as stored then (null: nothing to do). */
  event(rec: TaskRecord, now: number, rand: number): TaskEvent | null;
}

/**
 * The timer `t` needs, or null. `seenAt` is when this leader saw the task enter its current
 * state and epoch (an `assigned` or `running` task's deadlines count from it).
 */
export function taskTimer(t: TimedTask, seenAt: number, o: TaskTimerOptions): TaskTimer | null {
  const { epoch } = t;
  switch (t.state) {
    case "delayed":
    case "retrying": {
      const dueAt = t.state === "delayed" ? t.runAt : t.nextRunAt;
      if (dueAt === null) return null;
      const state = t.state;
      return {
        dueAt,
        kind: "due",
        event: (rec, now) =>
          rec.state === state ? { type: "DUE", at: Math.max(now, dueAt) } : null,
      };
    }
    case "assigned":
      return {
        dueAt: seenAt + o.startTimeoutMs,
        kind: "start",
        event: (rec, now) =>
          rec.epoch === epoch && rec.state === "assigned"
            ? { type: "RELEASE", at: now, epoch, reason: "not started in time" }
            : null,
      };
    case "running":
      return {
        dueAt: seenAt + t.timeoutMs + o.timeoutGraceMs,
        kind: "backstop",
        event: (rec, now, rand) =>
          rec.epoch === epoch && rec.state === "running"
            ? { type: "TIME_OUT", at: now, epoch, rand }
            : null,
      };
    default:
      return null;
  }
}
