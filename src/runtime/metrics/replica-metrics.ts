/**
 * A scheduler replica's Prometheus metrics. Gauges are read from the replica's state at each
 * scrape (its mirror, its scheduler's counters, the election); the flow of tasks is counted
 * where it happens: each state change by the replica that wrote it (sum them over replicas for
 * the cluster's totals), each loss of a worker by the leader that saw it.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { TaskRecord, TaskState } from "../../protocol/index.ts";
import { TERMINAL_STATES } from "../../protocol/index.ts";
import type { Autoscaler } from "../autoscaler.ts";
import type { Mirror } from "../mirror.ts";
import type { Scheduler, SchedulerObserver, SchedulerStats } from "../scheduler.ts";

/** What the metrics read from a replica at scrape time. */
export interface ReplicaSource {
  replicaId: string;
  leading(): boolean;
  /** The term this replica knows (its own while leading), null before any. */
  term(): number | null;
  mirror(): Mirror | null;
  scheduler(): Scheduler | null;
  autoscaler(): Autoscaler | null;
  /** The replica's API (its admission refusals). */
  api?(): { readonly refused: ReadonlyMap<string, number> } | null;
  /** The leader's schedule runner (what it fired, skipped, failed) and the schedules held. */
  schedules?(): {
    readonly stats: { fired: number; skipped: number; failures: number };
    readonly count: number;
  } | null;
}

/** Queue and run latencies: from a few milliseconds to half an hour. */
const LATENCY_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800,
];
/** Worker loss: around the heartbeat TTL. */
const DETECTION_BUCKETS = [0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 5, 10, 30];
const REQUEUE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const TERMINAL: ReadonlySet<TaskState> = new Set(TERMINAL_STATES);

const COUNTERS: readonly [keyof SchedulerStats, string, string][] = [
  ["assignments", "drover_assignments_total", "Assignments written by this replica as leader."],
  [
    "acceptedCompletions",
    "drover_completions_accepted_total",
    "Success reports applied by this replica as leader.",
  ],
  [
    "refusedReports",
    "drover_reports_refused_total",
    "Worker reports refused by this replica as leader: malformed, not matching their subject, or stale (wrong epoch or worker).",
  ],
  [
    "legacyReports",
    "drover_reports_legacy_total",
    "Worker reports accepted on the legacy subject <prefix>.reports.<taskId> (workers of an earlier version).",
  ],
  [
    "droppedReports",
    "drover_reports_dropped_total",
    "Worker reports given up on after their write failed on every delivery.",
  ],
  [
    "workersLost",
    "drover_workers_lost_total",
    "Workers this replica as leader saw expire or leave.",
  ],
  [
    "requeuedOnWorkerLoss",
    "drover_tasks_requeued_total",
    "Tasks this replica as leader requeued because their worker was lost.",
  ],
  [
    "foreignTasks",
    "drover_heartbeat_foreign_tasks_total",
    "Heartbeat entries naming a task the worker does not hold (a forger or a bug).",
  ],
  [
    "lateStartsHeld",
    "drover_late_starts_held_total",
    "Start timeouts that left the task with its worker: its heartbeat lists it, only the start report is late.",
  ],
];

export class ReplicaMetrics {
  readonly registry = new Registry();
  readonly #leaderChanges: Counter;
  readonly #finished: Counter<"state" | "type">;
  readonly #retries: Counter<"type" | "by">;
  readonly #submitToStart: Histogram<"type">;
  readonly #submitToDone: Histogram<"state" | "type">;
  readonly #detection: Histogram;
  readonly #requeue: Histogram;
  /** Hooks the leader's scheduler calls. */
  readonly observer: SchedulerObserver;

  constructor(source: ReplicaSource) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ replica: source.replicaId });
    new Gauge({
      name: "drover_replica_leader",
      help: "1 while this replica is the leader, else 0.",
      registers,
      collect() {
        this.set(source.leading() ? 1 : 0);
      },
    });
    new Gauge({
      name: "drover_leader_term",
      help: "The leader term this replica knows (its own while it leads).",
      registers,
      collect() {
        const term = source.term();
        this.reset();
        if (term !== null) this.set(term);
      },
    });
    this.#leaderChanges = new Counter({
      name: "drover_leader_changes_total",
      help: "Times this replica became the leader (sum over replicas: leader changes).",
      registers,
    });
    new Gauge({
      name: "drover_tasks",
      help: "Unfinished tasks by state and type, as this replica's mirror holds them.",
      labelNames: ["state", "type"],
      registers,
      collect() {
        this.reset();
        for (const { type, state, count } of source.mirror()?.tasks.countsByType() ?? [])
          this.set({ state, type }, count);
      },
    });
    new Gauge({
      name: "drover_queued_no_fit",
      help: "Queued tasks that fit no live worker, by why (the leader's last pass; 0 elsewhere).",
      labelNames: ["reason"],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of source.scheduler()?.noFit ?? []) this.set({ reason }, n);
      },
    });
    new Gauge({
      name: "drover_workers",
      help: "Live workers by pool and state (ready or draining).",
      labelNames: ["pool", "state"],
      registers,
      collect() {
        this.reset();
        for (const { info } of source.mirror()?.workers.values() ?? [])
          this.inc({ pool: info.pool, state: info.state });
      },
    });
    new Gauge({
      name: "drover_pool_desired_workers",
      help: "The autoscaler's desired workers per pool with a policy (the leader; absent elsewhere).",
      labelNames: ["pool"],
      registers,
      collect() {
        this.reset();
        for (const [pool, n] of source.autoscaler()?.desired() ?? []) this.set({ pool }, n);
      },
    });
    new Gauge({
      name: "drover_pool_workers_needed",
      help: "Workers of the pool's template that would hold its queued and running work at full use (the leader).",
      labelNames: ["pool"],
      registers,
      collect() {
        this.reset();
        for (const [pool, d] of source.autoscaler()?.demand() ?? [])
          this.set({ pool }, d.workersAtFullUse);
      },
    });
    new Gauge({
      name: "drover_pool_waiting_tasks",
      help: "Queued tasks of the pool that fit no live worker but would fit a new one (the leader).",
      labelNames: ["pool"],
      registers,
      collect() {
        this.reset();
        for (const [pool, d] of source.autoscaler()?.demand() ?? []) this.set({ pool }, d.waiting);
      },
    });
    new Gauge({
      name: "drover_worker_tasks",
      help: "Assigned and running tasks per live worker, as this replica's mirror holds them.",
      labelNames: ["worker", "pool"],
      registers,
      collect() {
        this.reset();
        const mirror = source.mirror();
        for (const { info } of mirror?.workers.values() ?? [])
          this.set({ worker: info.id, pool: info.pool }, mirror?.byWorker.get(info.id)?.size ?? 0);
      },
    });
    new Counter({
      name: "drover_api_refused_total",
      help: "Submits and retries of named submitters refused by this replica's admission control, by reason (rate, unfinished).",
      labelNames: ["reason"],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of source.api?.()?.refused ?? []) this.inc({ reason }, n);
      },
    });
    new Gauge({
      name: "drover_schedules",
      help: "Schedules in the schedules bucket, as this replica's mirror holds them.",
      registers,
      collect() {
        this.set(source.schedules?.()?.count ?? 0);
      },
    });
    for (const [key, name, help] of [
      [
        "fired",
        "drover_schedule_fires_total",
        "Tasks submitted for schedules' ticks by this replica as leader.",
      ],
      [
        "skipped",
        "drover_schedule_skipped_ticks_total",
        "Schedules' ticks skipped by this replica as leader (missed beyond the catch-up window, or overlapping).",
      ],
      [
        "failures",
        "drover_schedule_look_failures_total",
        "Looks at a schedule that failed (a submit or a write) and were tried again a second later.",
      ],
    ] as const)
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(source.schedules?.()?.stats[key] ?? 0);
        },
      });
    for (const [key, name, help] of COUNTERS)
      new Counter({
        name,
        help,
        registers,
        collect() {
          const stats = source.scheduler()?.stats;
          this.reset();
          if (stats !== undefined) this.inc(stats[key]);
        },
      });
    this.#finished = new Counter({
      name: "drover_tasks_finished_total",
      help: "Tasks that reached a final state, by state and type (counted by the replica that wrote it).",
      labelNames: ["state", "type"],
      registers,
    });
    this.#retries = new Counter({
      name: "drover_task_retries_total",
      help: "Retries: automatic (a failed attempt with attempts left) or asked for by a user.",
      labelNames: ["type", "by"],
      registers,
    });
    this.#submitToStart = new Histogram({
      name: "drover_task_submit_to_start_seconds",
      help: "From submit to the first attempt's start (or its assignment, when it finished before saying it started).",
      labelNames: ["type"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#submitToDone = new Histogram({
      name: "drover_task_submit_to_done_seconds",
      help: "From submit to a final state, by state and type.",
      labelNames: ["state", "type"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#detection = new Histogram({
      name: "drover_worker_loss_detection_seconds",
      help: "From a lost worker's last heartbeat seen to the leader seeing it expire.",
      buckets: DETECTION_BUCKETS,
      registers,
    });
    this.#requeue = new Histogram({
      name: "drover_task_requeue_seconds",
      help: "From the leader seeing a worker lost to each of its tasks being requeued.",
      buckets: REQUEUE_BUCKETS,
      registers,
    });
    this.observer = {
      workerLost: (ms) => this.#detection.observe(ms / 1000),
      requeued: (ms) => this.#requeue.observe(ms / 1000),
    };
  }

  /** This replica became the leader. */
  elected(): void {
    this.#leaderChanges.inc();
  }

  /** A state change this replica wrote. */
  transition(before: TaskRecord, after: TaskRecord, event: string): void {
    const type = after.type;
    if (before.state === "assigned" && after.attempt === 1) {
      const started = after.startedAt ?? after.assignedAt;
      if (started !== null)
        this.#submitToStart.observe({ type }, Math.max(0, started - after.createdAt) / 1000);
    }
    if (after.state === "retrying") this.#retries.inc({ type, by: "policy" });
    if (event === "RETRY") this.#retries.inc({ type, by: "user" });
    if (TERMINAL.has(after.state)) {
      this.#finished.inc({ state: after.state, type });
      const done = after.finishedAt ?? after.updatedAt;
      this.#submitToDone.observe(
        { state: after.state, type },
        Math.max(0, done - after.createdAt) / 1000,
      );
    }
  }
}
