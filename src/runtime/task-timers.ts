/**
 * The leader's per-task timers: at most one per task, re-armed whenever the task changes,
 * all cleared when the leader steps down. Which timer a task needs, and what it writes when
 * due, is the pure `taskTimer` (src/actors/task-timer.ts); this class keeps the timeouts and
 * holds off a start timeout while the worker's heartbeat lists the task.
 */
import type { HeldTasks, TaskTimer, TaskTimerOptions } from "../actors/index.ts";
import { heartbeatLists, taskTimer } from "../actors/index.ts";
import type { MirrorTask } from "./mirror-task.ts";

/** The longest one timeout waits (a day); a later due time is reached in steps. */
const MAX_TIMER_MS = 86_400_000;

export interface TaskTimersDeps {
  options: TaskTimerOptions;
  /** Whether the leader may still act (leading, its lease valid). */
  active(): boolean;
  /** The task as the mirror holds it now. */
  current(taskId: string): MirrorTask | undefined;
  /** When this leader saw the task enter its current state and epoch. */
  seenAt(t: MirrorTask): number;
  /** The last heartbeat of a worker, as the mirror holds it. */
  heartbeat(workerId: string): HeldTasks | undefined;
  /** Writes the due timer's event (after the task's other pending work). */
  fire(taskId: string, timer: TaskTimer): void;
  /** A start timeout was held off: the worker's heartbeat lists the task. */
  held(): void;
}

export class TaskTimers {
  readonly #d: TaskTimersDeps;
  readonly #timeouts = new Map<string, NodeJS.Timeout>();

  constructor(deps: TaskTimersDeps) {
    this.#d = deps;
  }

  /** (Re)arms the one timer `t` may need; a task that needs none has none after this. */
  arm(t: MirrorTask): void {
    const old = this.#timeouts.get(t.id);
    if (old !== undefined) clearTimeout(old);
    this.#timeouts.delete(t.id);
    const timer = taskTimer(t, this.#d.seenAt(t), this.#d.options);
    if (timer === null) return;
    const { id, workerId, epoch } = t;
    const onDue = (): void => {
      this.#timeouts.delete(id);
      if (!this.#d.active()) return;
      if (Date.now() < timer.dueAt) {
        // Node's timers overflow past 2^31 - 1 ms and fire at once: a long wait is taken in
        // steps, re-armed from the task as it is then.
        const now = this.#d.current(id);
        if (now !== undefined) this.arm(now);
        return;
      }
      if (
        timer.kind === "start" &&
        workerId !== null &&
        heartbeatLists(this.#d.heartbeat(workerId), id, epoch)
      ) {
        this.#d.held();
        this.#timeouts.set(id, setTimeout(onDue, this.#d.options.startTimeoutMs));
        return;
      }
      this.#d.fire(id, timer);
    };
    this.#timeouts.set(
      id,
      setTimeout(onDue, Math.min(MAX_TIMER_MS, Math.max(0, timer.dueAt - Date.now()))),
    );
  }

  /** Clears every timer (stepping down). */
  clear(): void {
    for (const t of this.#timeouts.values()) clearTimeout(t);
    this.#timeouts.clear();
  }
}
