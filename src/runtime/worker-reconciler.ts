/**
 * The leader's side of workers coming and going: what a heartbeat says the worker holds,
 * against what the records say, and what a worker's loss hands back.
 *
 * - A task the records give a worker, missing from a heartbeat that arrived well after the
 *   leader saw the assignment, was lost (an assignment that never arrived, or a worker that
 *   fenced itself and came back): handed back (`RELEASE`).
 * - A task a heartbeat lists that the records do not give that worker is flagged, once (see
 *   `foreignTasks`).
 * - A worker whose heartbeat expired or that left: each task it held is requeued
 *   (`WORKER_LOST`). A worker that left on its own stored its last reports before it deleted
 *   its key, but the leader reads the two from different streams: its reports are applied
 *   first, so that a task it finished while draining is not requeued and run again.
 */
import type { Logger } from "pino";
import { foreignTasks, heartbeatLists } from "../actors/index.ts";
import type { Mirror, StoredWorker } from "./mirror.ts";
import type { MirrorTask } from "./mirror-task.ts";
import type { TaskStore } from "./task-store.ts";

/** The counters this keeps (shared with the scheduler's metrics). */
export interface ReconcileStats {
  workersLost: number;
  requeuedOnWorkerLoss: number;
  foreignTasks: number;
}

/** Timings for metrics, as they happen. */
export interface ReconcileObserver {
  /** A worker's heartbeat expired: the time from its last heartbeat seen to this moment. */
  workerLost(sinceLastHeartbeatMs: number): void;
  /** A lost worker's task was requeued: the time from seeing the loss to the write. */
  requeued(ms: number): void;
}

export interface WorkerReconcilerDeps {
  mirror: Mirror;
  store: TaskStore;
  log: Logger;
  stats: ReconcileStats;
  observe?: ReconcileObserver;
  /** A task missing from a heartbeat this long after its assignment was seen is handed back. */
  reconcileAfterMs: number;
  /** Runs work for one task after the work already pending for it. */
  serial(taskId: string, fn: () => Promise<unknown>): void;
  /** When this leader saw the task enter its current state and epoch (its own clock). */
  seenAt(t: MirrorTask): number;
  /** Whether an assignment of this task is being written now (the records lag behind it). */
  dispatching(taskId: string): boolean;
  /** Forgets what the leader keeps about a worker that is gone (reservations, back-off). */
  forget(workerId: string): void;
  /**
   * Resolves once the reports stream holds none of this worker's reports (the leader removes
   * each after applying it), or after a bound; never rejects.
   */
  reportsApplied(workerId: string): Promise<void>;
  /** The term led now, null when not leading: a requeue decided under one term ends with it. */
  term(): number | null;
  /** Asks for a scheduling pass. */
  kick(): void;
}

/** Heartbeat entries flagged as foreign, remembered to flag each once. */
const FLAGGED_MAX = 10_000;

export class WorkerReconciler {
  readonly #d: WorkerReconcilerDeps;
  readonly #flagged = new Set<string>();

  constructor(deps: WorkerReconcilerDeps) {
    this.#d = deps;
  }

  /** A heartbeat arrived: hands back what it should list and does not, flags what it should not. */
  reconcile(w: StoredWorker): void {
    this.#flagForeign(w);
    const { mirror, store } = this.#d;
    const ids = mirror.byWorker.get(w.info.id);
    if (ids === undefined || ids.size === 0) return;
    for (const id of ids) {
      const record = mirror.tasks.get(id);
      if (record === undefined || this.#d.dispatching(id)) continue;
      // Both times are this host's: when the heartbeat arrived, when the assignment was seen.
      const since = this.#d.seenAt(record);
      if (heartbeatLists(w.info, id, record.epoch) || w.seenAt - since < this.#d.reconcileAfterMs)
        continue;
      const epoch = record.epoch;
      this.#d.serial(id, () =>
        store.apply(id, (rec) =>
          rec.epoch === epoch &&
          rec.workerId === w.info.id &&
          (rec.state === "assigned" || rec.state === "running")
            ? { type: "RELEASE", at: Date.now(), epoch, reason: `not in ${w.info.id}'s heartbeat` }
            : null,
        ),
      );
    }
  }

  /** A worker's heartbeat expired or it left: requeues every task it held. */
  gone(workerId: string, how: "expired" | "deleted", last: StoredWorker | undefined): void {
    this.#d.stats.workersLost++;
    const seenGone = Date.now();
    if (how === "expired" && last !== undefined)
      this.#d.observe?.workerLost(seenGone - last.seenAt);
    // What it held, and under which epoch: a worker of the same id that comes back keeps
    // what it is given then.
    const held = [...(this.#d.mirror.byWorker.get(workerId) ?? [])].map((id) => ({
      id,
      epoch: this.#d.mirror.tasks.get(id)?.epoch,
    }));
    this.#d.log.warn({ workerId, how, tasks: held.length }, "worker gone; requeueing its tasks");
    this.#d.forget(workerId);
    const requeue = (): void => {
      for (const t of held)
        this.#d.serial(t.id, () => this.lost(t.id, workerId, seenGone, t.epoch));
      this.#d.kick();
    };
    if (how === "expired" || held.length === 0) {
      requeue();
      return;
    }
    const term = this.#d.term();
    void this.#d.reportsApplied(workerId).then(() => {
      if (this.#d.term() === term) requeue();
    });
  }

  /**
   * Requeues one task of a worker that is gone, if the record still gives it that worker (and
   * the same epoch, when given).
   */
  async lost(
    taskId: string,
    workerId: string,
    seenGone = Date.now(),
    epoch?: number,
  ): Promise<void> {
    const res = await this.#d.store.apply(taskId, (rec) =>
      rec.workerId === workerId && (epoch === undefined || rec.epoch === epoch)
        ? { type: "WORKER_LOST", at: Date.now(), workerId }
        : null,
    );
    if (res.ok && res.changed) {
      this.#d.stats.requeuedOnWorkerLoss++;
      this.#d.observe?.requeued(Date.now() - seenGone);
    }
  }

  /** Counts and logs, once each, the tasks a heartbeat lists that its worker does not hold. */
  #flagForeign(w: StoredWorker): void {
    if (w.info.running.length === 0) return;
    const { tasks } = this.#d.mirror;
    for (const f of foreignTasks(w.info.id, w.info.running, (id) => tasks.get(id))) {
      const key = `${w.info.id}:${f.taskId}:${f.epoch}`;
      if (this.#flagged.has(key)) continue;
      if (this.#flagged.size >= FLAGGED_MAX) this.#flagged.clear();
      this.#flagged.add(key);
      this.#d.stats.foreignTasks++;
      this.#d.log.warn(
        { workerId: w.info.id, taskId: f.taskId, epoch: f.epoch, reason: f.reason },
        "a worker lists a task it was not assigned",
      );
    }
  }
}
