/**
 * The leader's schedules: it looks at every schedule when its next tick is due (and at least
 * once a second), plans the look (`planSchedule`, pure), and carries the plan out: cancels the
 * previous run when the overlap policy says so, submits each tick's task with the idempotency
 * key `schedule:<id>:<tick>`, then records what it fired with compare-and-set on the revision
 * it planned from.
 *
 * Exactly one task per tick: a leader that dies after a submit and before the record is
 * written leaves the tick unrecorded, and the next leader fires it again; the key makes that
 * submit answer with the task the first one created. A record that changed meanwhile (a
 * user's pause, another leader's write) fails the compare-and-set: the look is planned again
 * from the record as it is now, and ticks already recorded are never fired again.
 */
import type { Logger } from "pino";
import { planSchedule, recordRuns, tickJitter } from "../actors/index.ts";
import type { ScheduleRecord, SubmitTaskRequest } from "../protocol/index.ts";
import { RECENT_RUNS, scheduleTickKey } from "../protocol/index.ts";
import type { CancelDeps } from "./cancel-task.ts";
import { cancelTask } from "./cancel-task.ts";
import { rateLimited } from "./log-limit.ts";
import type { Mirror } from "./mirror.ts";
import type { ScheduleStore, StoredSchedule } from "./schedule-store.ts";
import type { TaskIntake } from "./task-intake.ts";

export interface ScheduleRunnerDeps {
  schedules: Pick<ScheduleStore, "records" | "held" | "read" | "writeState" | "onChange">;
  intake: Pick<TaskIntake, "accept">;
  /** Which of a schedule's recent tasks are unfinished (the mirror holds only those). */
  mirror: Pick<Mirror, "tasks">;
  cancel: CancelDeps;
  log: Logger;
  /** The longest wait between two looks. @default 1000 */
  maxWaitMs?: number;
  /** This host's wall clock, which judges whether a tick is due or missed. @default Date.now */
  now?: () => number;
}

/** Fires whose lateness is kept for benchmarks. */
export const LATE_SAMPLES = 100_000;
/** The wait before looking again at schedules the lease stopped. */
const DEFERRED_WAIT_MS = 50;
/** Schedules looked at together. */
const LOOKS_AT_ONCE = 16;
/** Plans of one schedule in one look (a conflict, or more ticks due than one plan takes). */
const PLANS_PER_LOOK = 20;

export class ScheduleRunner {
  readonly #d: ScheduleRunnerDeps;
  #valid: () => boolean = () => false;
  #leading = false;
  #timer: NodeJS.Timeout | null = null;
  #busy = false;
  #again = false;
  #unlisten: (() => void) | null = null;
  /** Since the start: tasks submitted, ticks skipped, looks that failed (metrics). */
  readonly stats = { fired: 0, skipped: 0, failures: 0 };
  /** How late the latest fires were (ms from tick to submit, by this clock): a ring of {@link LATE_SAMPLES}. */
  readonly #late: number[] = [];

  readonly #now: () => number;
  readonly #failLog = rateLimited(5_000);

  constructor(deps: ScheduleRunnerDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  /** The lateness of the latest fires (ms from tick to submit), oldest first not guaranteed. */
  lateness(): readonly number[] {
    return this.#late;
  }

  lead(valid: () => boolean): void {
    this.stepDown();
    this.#leading = true;
    this.#valid = valid;
    // A schedule created or changed through any replica is looked at at once.
    this.#unlisten = this.#d.schedules.onChange(() => this.#arm(0));
    this.#arm(0);
  }

  stepDown(): void {
    this.#leading = false;
    this.#valid = () => false;
    this.#unlisten?.();
    this.#unlisten = null;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(delayMs: number): void {
    if (!this.#leading) return;
    if (this.#busy) {
      this.#again = true;
      return;
    }
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#look(), Math.max(0, delayMs));
  }

  /** Looks at every due schedule, then sleeps until the next tick (a second at most). */
  async #look(): Promise<void> {
    this.#timer = null;
    if (!this.#leading) return;
    this.#busy = true;
    this.#again = false;
    // Due schedules left for a moment when the lease was not certainly held (a renewal late on
    // a loaded machine): looked at again shortly, so that a tick is not made late by a second.
    let deferred = false;
    try {
      const now = this.#now();
      const due = [...this.#d.schedules.records()].filter((s) => isDue(s, now));
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(LOOKS_AT_ONCE, due.length) }, async () => {
          while (next < due.length && this.#leading)
            if ((await this.#run(due[next++]!.id)) === "not-valid") deferred = true;
        }),
      );
    } finally {
      this.#busy = false;
    }
    if (!this.#leading) return;
    const maxWait = this.#d.maxWaitMs ?? 1_000;
    let wait = this.#again ? 0 : deferred ? Math.min(maxWait, DEFERRED_WAIT_MS) : maxWait;
    const now = this.#now();
    // A schedule still due (its look failed) is tried again at the next look, a second later
    // at most, not at once: a failing submit must not spin.
    for (const s of this.#d.schedules.records())
      if (!s.paused && s.state.nextTick !== null && s.state.nextTick > now)
        wait = Math.min(wait, s.state.nextTick - now);
    this.#arm(wait);
  }

  /** Plans and carries out one schedule's due ticks; "not-valid" when the lease stopped it. */
  async #run(id: string): Promise<"not-valid" | void> {
    let held: StoredSchedule | null | undefined = this.#d.schedules.held(id);
    for (let i = 0; i < PLANS_PER_LOOK && held !== null && held !== undefined; i++) {
      if (!this.#leading) return;
      if (!this.#valid()) return "not-valid";
      const rec = held.record;
      const unfinished = rec.state.recent
        .filter((r) => this.#d.mirror.tasks.has(r.taskId))
        .map((r) => r.taskId);
      const now = this.#now();
      const plan = planSchedule(rec, now, unfinished);
      if (!plan.changed) return;
      try {
        for (const taskId of plan.cancel)
          await cancelTask(
            this.#d.cancel,
            taskId,
            `schedule ${id}: a new run started (overlap policy cancel-previous)`,
          );
        const runs = [];
        for (const tick of plan.fire) {
          if (!this.#valid()) return "not-valid";
          const { id: taskId } = await this.#d.intake.accept(submitOf(rec, tick), 0, null);
          runs.push({ tick, taskId, firedAt: now });
        }
        const written = await this.#d.schedules.writeState(
          held,
          recordRuns(plan.state, runs, RECENT_RUNS),
        );
        if (written === false) {
          // Changed meanwhile: plan again from the record as it is now.
          held = await this.#d.schedules.read(id);
          continue;
        }
        this.stats.skipped += plan.state.skipped - rec.state.skipped;
        for (const r of runs) this.#late[this.stats.fired++ % LATE_SAMPLES] = r.firedAt - r.tick;
        for (const r of runs)
          this.#d.log.debug(
            { schedule: id, tick: new Date(r.tick).toISOString(), taskId: r.taskId },
            "schedule fired",
          );
        if (!plan.more) return;
        held = written;
      } catch (err) {
        this.stats.failures++;
        // One line now and then: a full task store fails every schedule's every look.
        this.#failLog((n) =>
          this.#d.log.warn(
            { schedule: id, err: (err as Error).message, failures: n },
            "schedule look failed; trying again at the next look",
          ),
        );
        return;
      }
    }
  }
}

/** Whether a look at `s` at `now` may do something. */
function isDue(s: ScheduleRecord, now: number): boolean {
  if (s.paused) return false;
  return s.state.buffered !== null || (s.state.nextTick !== null && s.state.nextTick <= now);
}

/** The submit of a tick's task: the template, the tick's key, and its jittered start. */
function submitOf(rec: ScheduleRecord, tick: number): SubmitTaskRequest {
  const jitter = tickJitter(rec.id, tick, rec.spec.jitterMs);
  return {
    ...rec.spec.task,
    idempotencyKey: scheduleTickKey(rec.id, tick),
    ...(jitter > 0 ? { runAt: tick + jitter } : {}),
  };
}
