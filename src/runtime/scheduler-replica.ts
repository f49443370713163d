/**
 * One scheduler replica: a warm mirror of tasks and workers, the API, and the election.
 * Exactly one replica leads at a time and runs the {@link Scheduler}; the others answer API
 * requests and stand by with a full view so a failover starts scheduling at once.
 */
import type { NatsAuth } from "./nats-auth.ts";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { JetStreamClient } from "@nats-io/jetstream";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { AdmissionLimits, StrategyName } from "../actors/index.ts";
import type { Subjects } from "../protocol/index.ts";
import { resourceNames, subjects } from "../protocol/index.ts";
import { ApiService } from "./api.ts";
import { Autoscaler } from "./autoscaler.ts";
import { CapacityGate } from "./capacity.ts";
import { monotonicMs } from "./clock.ts";
import { EventOutbox } from "./event-outbox.ts";
import { Leadership } from "./leadership.ts";
import { LeaseThread } from "./lease-thread.ts";
import type { Probe } from "./metrics/http.ts";
import { ReplicaMetrics } from "./metrics/replica-metrics.ts";
import { FinishedIndex } from "./finished-index.ts";
import { JsPublisher } from "./js-publisher.ts";
import { retryTransient } from "./kv-util.ts";
import { Mirror } from "./mirror.ts";
import { PoolStore } from "./pool-store.ts";
import { poolRoutes } from "./pools-api.ts";
import { ScheduleRunner } from "./schedule-runner.ts";
import { ScheduleStore } from "./schedule-store.ts";
import { scheduleRoutes } from "./schedules-api.ts";
import { TaskIntake } from "./task-intake.ts";
import { workerRoutes } from "./workers-api.ts";
import { processStats } from "./process-stats.ts";
import type { Buckets, ResourceSettings } from "./resources.ts";
import { ensureResources } from "./resources.ts";
import type { SchedulerOptions } from "./scheduler.ts";
import { Scheduler } from "./scheduler.ts";
import { TaskStore } from "./task-store.ts";
import {
  lastTransitionEvent,
  publishTransition,
  republishLast,
  transitionEvent,
} from "./task-events.ts";

/**
 * How far back a new leader re-publishes state changes: well beyond a lease TTL (the longest
 * a dead leader can have been writing unnoticed) and within the events stream's duplicate
 * window (2 min), so that nothing already stored is stored again.
 */
const REPUBLISH_WINDOW_MS = 10_000;
/** How long after its election a leader starts re-publishing. */
const REPUBLISH_DELAY_MS = 1_000;
/** How long after a cancel or retry the leader publishes its own copy of the event. */
const USER_CHANGE_REPUBLISH_MS = 2_000;

export interface ReplicaOptions {
  prefix: string;
  /** @default "<host>-<pid>-<random>" */
  replicaId?: string;
  strategy?: StrategyName;
  resources?: ResourceSettings;
  scheduler?: Partial<SchedulerOptions>;
  /**
   * Keep the leadership lease in a worker thread with its own connection to these servers
   * (see lease-thread.ts): renewals then never wait behind API work or a long scheduling
   * pass. Without it the lease is kept on the main thread and connection.
   */
  leaseThread?: { servers: string[]; auth?: NatsAuth; watchdogMs?: number };
  /** How long a finished task's record is kept when its submit did not say. @default 86_400_000 (24 h) */
  retentionMs?: number;
  /** Each named submitter's limits (per replica). @default DEFAULT_ADMISSION_LIMITS */
  admission?: AdmissionLimits;
  /** How often the leader measures demand and runs the pools' autoscalers. @default 1000 */
  autoscaleIntervalMs?: number;
  /**
   * The wall clock the leader judges schedules' ticks by (tests give one that is skewed).
   * @default Date.now
   */
  scheduleClock?: () => number;
}

/** What the replica needs of an election, in-process ({@link Leadership}) or in a thread ({@link LeaseThread}). */
interface Election {
  readonly state: string;
  readonly term: number | null;
  readonly leaderId: string | null;
  valid(): boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export class SchedulerReplica {
  readonly replicaId: string;
  readonly #nc: NatsConnection;
  readonly #log: Logger;
  readonly #o: ReplicaOptions;
  #js: JetStreamClient | null = null;
  #buckets: Buckets | null = null;
  #mirror: Mirror | null = null;
  #scheduler: Scheduler | null = null;
  #leadership: Election | null = null;
  #api: ApiService | null = null;
  #events: EventOutbox | null = null;
  #publisher: JsPublisher | null = null;
  #pools: PoolStore | null = null;
  #autoscaler: Autoscaler | null = null;
  #schedules: ScheduleStore | null = null;
  #scheduleRunner: ScheduleRunner | null = null;
  #closed = false;
  #started = false;
  /** Prometheus metrics of this replica (see metrics/replica-metrics.ts). */
  readonly metrics: ReplicaMetrics;

  constructor(nc: NatsConnection, log: Logger, options: ReplicaOptions) {
    this.#nc = nc;
    this.#o = options;
    this.replicaId =
      options.replicaId ??
      `${hostname()
        .replace(/[^A-Za-z0-9_-]/g, "-")
        .slice(0, 40)}-${process.pid}-${randomBytes(3).toString("hex")}`;
    this.#log = log.child({ replicaId: this.replicaId });
    this.metrics = new ReplicaMetrics({
      replicaId: this.replicaId,
      leading: () => this.leading,
      term: () => this.term,
      mirror: () => this.#mirror,
      scheduler: () => this.#scheduler,
      autoscaler: () => this.#autoscaler,
      api: () => this.#api,
      schedules: () =>
        this.#scheduleRunner === null || this.#schedules === null
          ? null
          : { stats: this.#scheduleRunner.stats, count: this.#schedules.size },
    });
  }

  /** Alive: its NATS connection is not closed for good. */
  healthy(): Probe {
    return this.#nc.isClosed() ? { ok: false, reason: "NATS connection closed" } : { ok: true };
  }

  /** Ready: started (mirror loaded, API serving, in the election) and not closing. */
  ready(): Probe {
    if (this.#closed) return { ok: false, reason: "closing" };
    if (!this.#started) return { ok: false, reason: "starting" };
    return this.healthy();
  }

  get leading(): boolean {
    return this.#scheduler?.leading ?? false;
  }
  get term(): number | null {
    return this.#leadership?.term ?? null;
  }
  /** This replica's mirror of tasks and workers (null before start). */
  get mirror(): Mirror | null {
    return this.#mirror;
  }
  get scheduler(): Scheduler | null {
    return this.#scheduler;
  }
  /** The leader's schedule runner (fires on this replica only while it leads). */
  get scheduleRunner(): ScheduleRunner | null {
    return this.#scheduleRunner;
  }

  async start(): Promise<void> {
    const { prefix } = this.#o;
    const resources = await ensureResources(this.#nc, prefix, this.#o.resources, this.#log);
    this.#buckets = resources;
    // The cluster's TTLs, which may be longer than this replica's settings (never shorter).
    const { leaseTtlMs, heartbeatTtlMs } = resources;
    this.#js = jetstream(this.#nc);
    const subj = subjects(prefix);
    const names = resourceNames(prefix);
    // Every state change is also published on `<prefix>.events.task.<state>` (kept for an
    // hour in the events stream) for dashboards and `nats sub`, through JetStream, at least
    // once, with a de-duplicating id (see event-outbox.ts).
    // The leader publishes several times per task: acks come back on one subscription.
    const publisher = new JsPublisher(this.#nc);
    this.#publisher = publisher;
    const { publish } = publisher;
    const events = new EventOutbox(this.#js, this.#log, { publish });
    this.#events = events;
    const finished = new FinishedIndex(this.#js, names.streams.finished, subj, publish);
    const store = new TaskStore(this.#buckets.tasks, {
      js: this.#js,
      publish,
      finished,
      bucket: names.buckets.tasks,
      idempotencyBucket: names.buckets.idempotency,
      ...(this.#o.retentionMs !== undefined ? { retentionMs: this.#o.retentionMs } : {}),
      onTransition: (before, after, event) => {
        this.metrics.transition(before, after, event);
        publishTransition(events, subj, transitionEvent(before, after, event));
      },
      // What this replica writes reaches its own mirror at once, not a watch delivery later.
      onWrite: (record, revision, isUpdate) => this.#mirror?.wrote(record, revision, isUpdate),
      onWriting: (record, data) => this.#mirror?.writing(record, data),
      onRetry: (err, what) =>
        this.#log.warn({ err: (err as Error).message, what }, "task store call failed; retrying"),
    });
    const mirror = new Mirror(this.#buckets, this.#log, heartbeatTtlMs);
    this.#mirror = mirror;
    // A cancel or a retry is written by whichever replica took the request; if that replica
    // dies before it publishes the event, the leader's copy (a moment later, same id) stands in.
    mirror.listen({
      record: (record) => {
        const e = lastTransitionEvent(record);
        if (e === null || (e.event !== "CANCEL" && e.event !== "RETRY")) return;
        setTimeout(() => {
          if (this.#scheduler?.leading === true) publishTransition(events, subj, e);
        }, USER_CHANGE_REPUBLISH_MS).unref();
      },
    });
    await mirror.start();
    const pools = new PoolStore(this.#buckets.pools, this.#log);
    this.#pools = pools;
    await pools.start();
    const schedules = new ScheduleStore(this.#buckets.schedules, this.#log);
    this.#schedules = schedules;
    await schedules.start();
    const scheduler = new Scheduler({
      nc: this.#nc,
      js: this.#js,
      store,
      mirror,
      subjects: subj,
      reportsStream: names.streams.reports,
      events,
      log: this.#log,
      observe: this.metrics.observer,
      options: {
        ...this.#o.scheduler,
        ...(this.#o.strategy !== undefined ? { strategy: this.#o.strategy } : {}),
      },
    });
    this.#scheduler = scheduler;
    const autoscaler = new Autoscaler({
      pools,
      mirror,
      demand: (templates, autoscaled) => scheduler.demand(templates, autoscaled),
      events,
      subjects: subj,
      log: this.#log,
      ...(this.#o.autoscaleIntervalMs !== undefined
        ? { intervalMs: this.#o.autoscaleIntervalMs }
        : {}),
    });
    this.#autoscaler = autoscaler;
    const election = {
      replicaId: this.replicaId,
      leaseTtlMs,
      log: this.#log,
      onElected: async (term: number): Promise<void> => {
        this.metrics.elected();
        // What the last leader wrote just before it died may never have been published.
        this.#republishRecent(store, events, subj, mirror);
        await scheduler.lead(term, () => leadership.valid());
        autoscaler.lead(term, () => leadership.valid());
        this.#scheduleRunner?.lead(() => leadership.valid());
      },
      onDeposed: (): Promise<void> => {
        this.#scheduleRunner?.stepDown();
        autoscaler.stepDown();
        return scheduler.stepDown();
      },
    };
    const thread = this.#o.leaseThread;
    const leadership: Election =
      thread === undefined
        ? new Leadership({ ...election, kv: this.#buckets.leader })
        : new LeaseThread({
            ...election,
            servers: thread.servers,
            ...(thread.auth !== undefined ? { auth: thread.auth } : {}),
            bucket: names.buckets.leader,
            ...(thread.watchdogMs !== undefined ? { watchdogMs: thread.watchdogMs } : {}),
          });
    this.#leadership = leadership;
    const capacity = new CapacityGate(
      await retryTransient(() => jetstreamManager(this.#nc), { attempts: 40 }),
      `KV_${names.buckets.tasks}`,
    );
    const idempotencyKv = this.#buckets.idempotency;
    this.#scheduleRunner = new ScheduleRunner({
      schedules,
      intake: new TaskIntake({ store, idempotencyKv, log: this.#log, capacity }),
      mirror,
      cancel: { nc: this.#nc, store, subjects: subj },
      log: this.#log,
      ...(this.#o.scheduleClock !== undefined ? { now: this.#o.scheduleClock } : {}),
    });
    this.#api = new ApiService({
      capacity,
      finished,
      nc: this.#nc,
      store,
      mirror,
      idempotencyKv: this.#buckets.idempotency,
      subjects: subj,
      log: this.#log,
      status: () => ({
        replicaId: this.replicaId,
        role: leadership.state,
        term: leadership.term,
        leaderId: leadership.leaderId,
      }),
      // Measuring starts with the replica; each health reply covers the time since the
      // previous health request this process answered.
      processStats: processStats().readAndReset,
      routes: (decode) => [
        ...workerRoutes({ nc: this.#nc, subjects: subj, mirror }, decode),
        ...poolRoutes({ subjects: subj, pools, mirror }, decode),
        ...scheduleRoutes({ subjects: subj, schedules }, decode),
      ],
      adminOnly: [
        subj.api.pools.set,
        subj.api.pools.delete,
        subj.api.drain,
        subj.api.schedules.create,
        subj.api.schedules.update,
        subj.api.schedules.pause,
        subj.api.schedules.resume,
        subj.api.schedules.delete,
      ],
      ...(this.#o.admission !== undefined ? { admission: this.#o.admission } : {}),
    });
    this.#api.start();
    await leadership.start();
    this.#started = true;
    this.#log.info({ prefix, strategy: scheduler.options.strategy }, "ready");
  }

  /**
   * Re-publishes, in the background, the last state change of every task whose record this
   * replica saw change in the last {@link REPUBLISH_WINDOW_MS}; the events stream drops the
   * ones it holds already.
   */
  #republishRecent(store: TaskStore, events: EventOutbox, subj: Subjects, mirror: Mirror): void {
    const ids = mirror.changes.since(monotonicMs() - REPUBLISH_WINDOW_MS);
    // After the new leader's first assignments, and a batch at a time: a failover must not
    // wait behind thousands of reads and publishes.
    new Promise((r) => setTimeout(r, REPUBLISH_DELAY_MS))
      .then(() => republishLast(store, events, subj, ids, { pauseMs: 20 }))
      .then((n) => this.#log.info({ events: n }, "re-published the last changes of recent tasks"))
      .catch((err: unknown) =>
        this.#log.warn({ err: (err as Error).message }, "re-publishing recent events failed"),
      );
  }

  /** Graceful stop: hands leadership over at once, then stops serving. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#leadership?.stop();
    this.#autoscaler?.stepDown();
    this.#scheduleRunner?.stepDown();
    await this.#scheduler?.stepDown();
    await this.#api?.stop();
    await this.#events?.flush();
    this.#publisher?.close();
    this.#mirror?.stop();
    this.#pools?.stop();
    this.#schedules?.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
