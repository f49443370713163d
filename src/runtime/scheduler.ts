/**
 * The leader's duties: match queued tasks to live workers, dispatch assignments, apply worker
 * reports, fire delays/backoffs/timeouts re-derived from stored timestamps, and requeue the
 * tasks of workers whose heartbeat expired. Only the elected leader runs them; every decision
 * is a task-machine transition written with compare-and-set.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type {
  AssignmentFailure,
  DemandResult,
  NoFitStage,
  PlacementStrategy,
  StrategyName,
  WorkerView as PlacementWorker,
} from "../actors/index.ts";
import {
  AssignmentBackoff,
  createStrategy,
  addResources,
  countNoFit,
  judgeAssignmentFailure,
  poolDemand,
  recordedDecision,
  schedulingPass,
} from "../actors/index.ts";
import type {
  Assignment,
  Placement,
  PoolTemplate,
  Resources,
  Subjects,
} from "../protocol/index.ts";
import { AssignmentReply, decode, DEFAULT_POOL, encode } from "../protocol/index.ts";
import type { EventOutbox } from "./event-outbox.ts";
import { InboxRequester } from "./inbox-requester.ts";
import type { ReportStats } from "./report-consumer.ts";
import { ReportConsumer, reportsApplied } from "./report-consumer.ts";
import { isStoreFull } from "./kv-util.ts";
import { rateLimited } from "./log-limit.ts";
import type { Mirror, StoredWorker } from "./mirror.ts";
import type { MirrorTask } from "./mirror-task.ts";
import type { TaskStore } from "./task-store.ts";
import { TaskTimers } from "./task-timers.ts";
import type { ReconcileObserver } from "./worker-reconciler.ts";
import { WorkerReconciler } from "./worker-reconciler.ts";

export interface SchedulerOptions {
  /** Placement strategy. @default "best-fit" */
  strategy: StrategyName;
  /** How long a worker has to acknowledge an assignment before the task is requeued. @default 2000 */
  assignTimeoutMs: number;
  /** Extra time after a task's timeout before the leader times it out itself (the worker normally reports first). @default 2000 */
  timeoutGraceMs: number;
  /** An assigned task that has not started after this long is handed back. @default 10000 */
  startTimeoutMs: number;
  /** A task missing from its worker's heartbeats this long after its assignment is handed back. @default 3000 */
  reconcileAfterMs: number;
  /** A queued task gets a "why not placed" explanation once it has waited this long. @default 1000 */
  noFitAfterMs: number;
  /** While leading, a scheduling pass runs at least this often (timers and events drive the rest). @default 1000 */
  sweepIntervalMs: number;
  /** At most this many NO_FIT explanations are written per scheduling pass (the head of the queue). @default 16 */
  noFitWritesPerPass: number;
}

export const defaultSchedulerOptions: SchedulerOptions = {
  strategy: "best-fit",
  assignTimeoutMs: 2_000,
  timeoutGraceMs: 2_000,
  startTimeoutMs: 10_000,
  reconcileAfterMs: 3_000,
  noFitAfterMs: 1_000,
  sweepIntervalMs: 1_000,
  noFitWritesPerPass: 16,
};

export interface SchedulerDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  store: TaskStore;
  mirror: Mirror;
  subjects: Subjects;
  reportsStream: string;
  /** Where events go (through JetStream, de-duplicated). */
  events: EventOutbox;
  log: Logger;
  options?: Partial<SchedulerOptions>;
  /** Counters shared with metrics. */
  stats?: SchedulerStats;
  /** Timings for metrics. */
  observe?: SchedulerObserver;
}

/** What the leader measures for metrics, as it happens. */
export type SchedulerObserver = ReconcileObserver;

export interface SchedulerStats extends ReportStats {
  assignments: number;
  workersLost: number;
  requeuedOnWorkerLoss: number;
  /** Heartbeat entries naming a task the worker does not hold (see `foreignTasks`). */
  foreignTasks: number;
  /**
   * Start timeouts that did not hand their task back because the worker's heartbeat lists it
   * (its `started` report is late, not lost).
   */
  lateStartsHeld: number;
}

interface Reservation {
  taskId: string;
  workerId: string;
  resources: Resources;
  /** Revision of our ASSIGN write; the reservation ends once the mirror has seen it. */
  revision: number | null;
}

const ZERO: Resources = { cpu: 0, memoryMb: 0, slots: 0 };
/** A task a worker's heartbeat lists but the mirror no longer holds: assume one slot. */
const UNKNOWN_TASK: Resources = { cpu: 0, memoryMb: 0, slots: 1 };

export class Scheduler {
  readonly options: SchedulerOptions;
  readonly stats: SchedulerStats;
  readonly #d: SchedulerDeps;
  readonly #strategy: PlacementStrategy;
  #term: number | null = null;
  #valid: () => boolean = () => false;
  #reports: ReportConsumer | null = null;
  #unlisten: (() => void) | null = null;
  #kickPending = false;
  #sweep: NodeJS.Timeout | null = null;
  readonly #timers: TaskTimers;
  readonly #workers: WorkerReconciler;
  /**
   * When this scheduler first saw each assigned or running task in its current state and
   * epoch, by its own clock. Start timeouts, run-time backstops and heartbeat reconciliation
   * are measured from here, never from a time written by another host (a worker's
   * `heartbeatAt`, a previous leader's `assignedAt`): clocks differ between hosts.
   */
  readonly #seen = new Map<string, { epoch: number; state: string; at: number }>();
  readonly #reserved = new Map<string, Reservation>();
  readonly #lastAssignedAt = new Map<string, number>();
  /** Workers held back after a failed assignment (no placement loop on a dead or full worker). */
  readonly #backoff = new AssignmentBackoff();
  /** While the store refuses writes, no dispatch (see #storeFull). */
  #storeFullUntil = 0;
  readonly #storeFullLog = rateLimited(10_000);
  readonly #perTask = new Map<string, Promise<unknown>>();
  /** Assignment requests, their replies on one subscription (while leading). */
  #assigner: InboxRequester | null = null;
  /** Queued tasks that fit no worker after the last pass, by why. */
  #noFit: ReadonlyMap<NoFitStage, number> = new Map();

  constructor(deps: SchedulerDeps) {
    this.#d = deps;
    this.options = { ...defaultSchedulerOptions, ...deps.options };
    this.stats = deps.stats ?? {
      assignments: 0,
      refusedReports: 0,
      legacyReports: 0,
      droppedReports: 0,
      acceptedCompletions: 0,
      workersLost: 0,
      requeuedOnWorkerLoss: 0,
      foreignTasks: 0,
      lateStartsHeld: 0,
    };
    this.#strategy = createStrategy(this.options.strategy);
    this.#timers = new TaskTimers({
      options: this.options,
      active: () => this.#term !== null && this.#valid(),
      current: (id) => this.#d.mirror.tasks.get(id),
      seenAt: (t) => this.#noteSeen(t),
      heartbeat: (workerId) => this.#d.mirror.workers.get(workerId)?.info,
      fire: (id, timer) =>
        this.#serial(id, () =>
          this.#d.store.apply(id, (rec) => timer.event(rec, Date.now(), Math.random())),
        ),
      held: () => this.stats.lateStartsHeld++,
    });
    this.#workers = new WorkerReconciler({
      mirror: deps.mirror,
      store: deps.store,
      log: deps.log,
      stats: this.stats,
      ...(deps.observe !== undefined ? { observe: deps.observe } : {}),
      reconcileAfterMs: this.options.reconcileAfterMs,
      serial: (id, fn) => this.#serial(id, fn),
      seenAt: (t) => this.#noteSeen(t),
      dispatching: (id) => this.#reserved.has(id),
      forget: (workerId) => {
        for (const [id, r] of this.#reserved)
          if (r.workerId === workerId) this.#reserved.delete(id);
        this.#backoff.forget(workerId);
      },
      reportsApplied: (workerId) =>
        reportsApplied(this.#d.js, this.#d.reportsStream, this.#d.subjects.workerReports(workerId)),
      term: () => this.#term,
      kick: () => this.kick(),
    });
  }

  get leading(): boolean {
    return this.#term !== null;
  }

  /**
   * Queued tasks that fit no worker, by why (the leader's last scheduling pass; empty when not
   * leading or when the queue is empty).
   */
  get noFit(): ReadonlyMap<NoFitStage, number> {
    return this.#term === null || this.#d.mirror.queue.size === 0 ? new Map() : this.#noFit;
  }

  /**
   * Takes up leader duties under `term`. `valid()` must return false as soon as the lease may
   * have lapsed (checked before every assignment, so a paused leader never assigns under a
   * stale term).
   */
  async lead(term: number, valid: () => boolean): Promise<void> {
    if (this.#term !== null) await this.stepDown();
    this.#term = term;
    this.#valid = valid;
    this.#assigner = new InboxRequester(this.#d.nc, { timeoutMs: this.options.assignTimeoutMs });
    const log = this.#d.log.child({ term });
    this.#unlisten = this.#d.mirror.listen({
      task: (t) => this.#onTask(t),
      workerUp: (w, isNew) => {
        if (isNew) log.info({ workerId: w.info.id, types: w.info.types }, "worker joined");
        this.#workers.reconcile(w);
        this.kick();
      },
      workerGone: (id, how, last) => this.#workers.gone(id, how, last),
    });
    // Restore: every task that waits for a time or a worker is re-derived from its stored
    // record. Queued tasks need nothing (the mirror's queue index has them) and terminal ones
    // nothing either, so this touches the work in flight, not the backlog.
    const alive = new Set(this.#d.mirror.workers.keys());
    const { mirror } = this.#d;
    const timed = ["delayed", "retrying", "assigned", "running"] as const;
    for (const t of [...mirror.tasks.slotsIn(timed)].map((slot) => mirror.tasks.at(slot))) {
      const workerId = t.workerId;
      if (
        (t.state === "assigned" || t.state === "running") &&
        workerId !== null &&
        !alive.has(workerId)
      ) {
        this.#serial(t.id, () => this.#workers.lost(t.id, workerId));
      } else {
        // A task a previous leader assigned is timed from now: its times are that host's.
        this.#noteSeen(t);
        this.#timers.arm(t);
      }
    }
    this.#reports = new ReportConsumer(
      {
        js: this.#d.js,
        reportsStream: this.#d.reportsStream,
        store: this.#d.store,
        mirror: this.#d.mirror,
        events: this.#d.events,
        subjects: this.#d.subjects,
        log,
        stats: this.stats,
        serial: (taskId, fn) => this.#serial(taskId, fn),
      },
      term,
    );
    // Back-offs and "waited long enough to be explained" end without an event of their own.
    this.#sweep = setInterval(() => this.kick(), this.options.sweepIntervalMs);
    log.info(
      { tasks: this.#d.mirror.tasks.size, workers: alive.size, strategy: this.options.strategy },
      "leading",
    );
    this.kick();
  }

  /** Stops every leader duty (lease lost, resigned or shutting down). */
  async stepDown(): Promise<void> {
    if (this.#term === null) return;
    this.#d.log.info({ term: this.#term }, "stepping down");
    this.#term = null;
    this.#valid = () => false;
    if (this.#sweep !== null) clearInterval(this.#sweep);
    this.#sweep = null;
    this.#unlisten?.();
    this.#unlisten = null;
    this.#timers.clear();
    this.#seen.clear();
    this.#reserved.clear();
    const r = this.#reports;
    this.#reports = null;
    await r?.stop();
    await Promise.allSettled([...this.#perTask.values()]);
    this.#assigner?.close();
    this.#assigner = null;
  }

  /**
   * Requests a scheduling pass soon (coalesced: any number of events in one turn of the event
   * loop make one pass). A pass costs what can be placed plus one check per shape of queued
   * task, not the size of the backlog, so every event may ask for one.
   */
  kick(): void {
    if (this.#term === null || this.#kickPending) return;
    this.#kickPending = true;
    setImmediate(() => {
      this.#kickPending = false;
      this.#pass();
    });
  }

  /**
   * What each pool's queued and running work needs against what its live workers offer (see
   * demand.ts), as this replica's mirror and reservations stand now.
   */
  demand(
    templates: ReadonlyMap<string, PoolTemplate>,
    autoscaled?: ReadonlySet<string>,
  ): DemandResult {
    const { mirror } = this.#d;
    const workers = this.#workerViews().map((w) => ({
      ...w,
      pool: mirror.workers.get(w.id)?.info.pool ?? DEFAULT_POOL,
    }));
    return poolDemand({
      templates,
      workers,
      queued: mirror.queue.shapes(),
      ...(autoscaled !== undefined ? { autoscaled } : {}),
    });
  }

  // --- scheduling -----------------------------------------------------------------

  #workerViews(): PlacementWorker[] {
    const { mirror } = this.#d;
    const now = Date.now();
    const resourcesOf = (id: string): Resources => mirror.tasks.get(id)?.resources ?? UNKNOWN_TASK;
    return [...mirror.workers.values()]
      .map(({ info, revision }) => {
        // What the records hold on this worker, plus what its heartbeat says it still runs:
        // a cancelled task whose handler ignores its signal keeps its slot on the worker,
        // although its record no longer names the worker.
        const ids = new Set(mirror.byWorker.get(info.id));
        for (const r of info.running) ids.add(r.taskId);
        let used = ZERO;
        for (const id of ids) used = addResources(used, resourcesOf(id));
        for (const r of this.#reserved.values())
          if (r.workerId === info.id && !ids.has(r.taskId)) used = addResources(used, r.resources);
        const heldBack = this.#backoff.heldBack(info.id, revision, now);
        return {
          id: info.id,
          types: info.types,
          labels: info.labels,
          capacity: info.capacity,
          used,
          lastAssignedAt: this.#lastAssignedAt.get(info.id) ?? 0,
          state: info.state,
          ...(heldBack !== undefined ? { heldBack } : {}),
        };
      })
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  #pass(): void {
    if (this.#term === null || !this.#valid() || Date.now() < this.#storeFullUntil) return;
    const { mirror } = this.#d;
    if (mirror.queue.size === 0) return;
    const at = Date.now();
    const { placements, unplaced } = schedulingPass({
      queue: mirror.queue,
      taskAt: (slot) => mirror.tasks.at(slot),
      workers: this.#workerViews(),
      strategy: this.#strategy,
      reserved: (id) => this.#reserved.has(id),
      random: Math.random,
      at,
    });
    this.#noFit = countNoFit(unplaced, mirror.queue);
    let noFitWrites = 0;
    for (const u of unplaced) {
      if (noFitWrites >= this.options.noFitWritesPerPass) break;
      if (this.#explain(u.taskId, u.decision, at)) noFitWrites++;
    }
    for (const { task, workerId, decision } of placements) {
      this.#lastAssignedAt.set(workerId, at);
      const reservation: Reservation = {
        taskId: task.id,
        workerId,
        resources: task.resources,
        revision: null,
      };
      this.#reserved.set(task.id, reservation);
      this.#serial(task.id, () =>
        this.#dispatch(task, workerId, { ...recordedDecision(decision), at }, reservation),
      );
    }
  }

  /**
   * Writes "why not placed" on a queued task that has waited a while, unless its record
   * already says so. On a busy cluster most queued tasks are placed moments later, and the
   * explanation would be a wasted write. Returns whether a write was started.
   */
  #explain(taskId: string, decision: Omit<Placement, "at">, at: number): boolean {
    const t = this.#d.mirror.tasks.get(taskId);
    if (t === undefined || this.#perTask.has(taskId)) return false;
    if (at - t.updatedAt < this.options.noFitAfterMs) return false;
    // As the record keeps it (its reason then counts the candidates left out).
    const recorded = recordedDecision(decision);
    if (t.placementReason === recorded.reason) return false;
    const placement: Placement = { ...recorded, at };
    this.#serial(taskId, () =>
      this.#d.store.apply(
        taskId,
        (rec) => (rec.state === "queued" ? { type: "NO_FIT", at, placement } : null),
        { known: this.#d.mirror.known(taskId) },
      ),
    );
    return true;
  }

  async #dispatch(
    t: MirrorTask,
    workerId: string,
    placement: Placement,
    reservation: Reservation,
  ): Promise<void> {
    const term = this.#term;
    const { store, subjects, log } = this.#d;
    try {
      if (term === null || !this.#valid()) return;
      const res = await store.apply(
        t.id,
        (rec) =>
          rec.state === "queued"
            ? { type: "ASSIGN", at: Date.now(), workerId, term, placement }
            : null,
        // Usually at hand (a task placed moments after its submit); else read from KV.
        { known: this.#d.mirror.known(t.id) },
      );
      if (!res.ok) return;
      reservation.revision = res.revision;
      this.stats.assignments++;
      const rec = res.record;
      const assignment: Assignment = {
        v: 1,
        taskId: rec.id,
        epoch: rec.epoch,
        term,
        attempt: rec.attempt,
        type: rec.type,
        payload: rec.payload,
        timeoutMs: rec.timeoutMs,
        resources: rec.resources,
      };
      // Paused or cut off between the write and the send: the lease may have passed on. Send
      // nothing; the next leader finds the task missing from the worker's heartbeats and
      // hands it back.
      if (!this.#valid()) return;
      const assigner = this.#assigner;
      if (assigner === null) return;
      let failure: AssignmentFailure | null = null;
      try {
        const reply = await assigner.request(subjects.workerAssign(workerId), encode(assignment));
        const body = decode(AssignmentReply, reply.data);
        if (!body.ok)
          failure = { kind: "refused", code: body.error.code, message: body.error.message };
      } catch (err) {
        failure = { kind: "no_answer", message: (err as Error).message };
      }
      if (failure === null) {
        this.#backoff.succeeded(workerId);
        return;
      }
      const verdict = judgeAssignmentFailure(failure);
      if (verdict.action === "fail_task") {
        log.warn(
          { taskId: rec.id, workerId, epoch: rec.epoch, error: verdict.error },
          "assignment can never be accepted; failing the task",
        );
        await store.apply(rec.id, () => ({
          type: "FAIL",
          at: Date.now(),
          epoch: rec.epoch,
          error: verdict.error,
          rand: Math.random(),
        }));
        return;
      }
      // Hold the worker back until it heartbeats again and its back-off has passed, so the
      // task handed back is not offered to it again at once (the placement loop).
      const known = this.#d.mirror.workers.get(workerId)?.revision ?? 0;
      const firstFailure = this.#backoff.heldBack(workerId, known, Date.now()) === undefined;
      this.#backoff.failed(workerId, known, Date.now(), verdict.reason);
      // One line per worker per hold, not one per task: a dead worker may hold many.
      (firstFailure ? log.warn.bind(log) : log.debug.bind(log))(
        { taskId: rec.id, workerId, epoch: rec.epoch, reason: verdict.reason },
        "assignment failed; requeueing and holding the worker back",
      );
      await store.apply(rec.id, () => ({
        type: "RELEASE",
        at: Date.now(),
        epoch: rec.epoch,
        reason: `assignment failed: ${verdict.reason}`,
      }));
    } catch (err) {
      if (isStoreFull(err)) this.#storeFull(err);
      else log.error({ err, taskId: t.id }, "dispatch failed");
    } finally {
      // Keep the reservation until the mirror reflects the assignment (see #onTask). A task
      // the mirror no longer holds has finished (or is gone) since: nothing to reserve for.
      const seen = this.#d.mirror.tasks.revisionOf(t.id);
      if (reservation.revision === null || seen === undefined || seen >= reservation.revision) {
        if (this.#reserved.get(t.id) === reservation) this.#reserved.delete(t.id);
      }
      // Taken out of the queue index for this dispatch: back in if nothing was assigned.
      if (reservation.revision === null) this.#d.mirror.requeue(t.id);
      this.kick();
    }
  }

  /**
   * A write was refused because the task store is full. Assigning would fail the same way
   * (and hand the task back, and try again, in a loop): pause dispatch for a second, and log
   * now and then rather than per task. Reports are not acknowledged, so they come back.
   */
  #storeFull(err: unknown): void {
    this.#storeFullUntil = Date.now() + 1_000;
    this.#storeFullLog((n) =>
      this.#d.log.warn(
        { err: (err as Error).message, refusedWrites: n },
        "task store full: writes refused; dispatch paused until retention frees space",
      ),
    );
  }

  /** Runs work for one task strictly after the previous work for the same task. */
  #serial(taskId: string, fn: () => Promise<unknown>): void {
    const prev = this.#perTask.get(taskId) ?? Promise.resolve();
    const next = prev.then(fn, fn).catch((err: unknown) => {
      if (isStoreFull(err)) this.#storeFull(err);
      else this.#d.log.error({ err, taskId }, "task work failed");
    });
    this.#perTask.set(taskId, next);
    void next.finally(() => {
      if (this.#perTask.get(taskId) === next) this.#perTask.delete(taskId);
    });
  }

  // --- mirror events --------------------------------------------------------------

  /** Records (once per state and epoch) when this scheduler saw an active task; returns it. */
  #noteSeen(t: MirrorTask): number {
    if (t.state !== "assigned" && t.state !== "running") {
      this.#seen.delete(t.id);
      return Date.now();
    }
    const known = this.#seen.get(t.id);
    if (known !== undefined && known.epoch === t.epoch && known.state === t.state) return known.at;
    const at = Date.now();
    this.#seen.set(t.id, { epoch: t.epoch, state: t.state, at });
    return at;
  }

  #onTask(t: MirrorTask): void {
    this.#noteSeen(t);
    const r = this.#reserved.get(t.id);
    if (r !== undefined && r.revision !== null && t.revision >= r.revision)
      this.#reserved.delete(t.id);
    this.#timers.arm(t);
    const s = t.state;
    if (
      s === "queued" ||
      s === "succeeded" ||
      s === "failed" ||
      s === "dead" ||
      s === "cancelled" ||
      s === "timed_out" ||
      s === "retrying"
    )
      this.kick();
  }
}

export type { StoredWorker };
