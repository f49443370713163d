/**
 * A worker process: registers its task types, capacity and labels; heartbeats into the
 * workers bucket (whose TTL expires a silent worker); accepts assignments within its free
 * capacity; runs handlers; reports through the reports stream tagged with the assignment's
 * epoch. It fences itself — aborts its tasks and stops reporting them — when it cannot renew
 * its heartbeat within the TTL, before the leader may run them elsewhere.
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { WorkerEvent, WorkerSnapshot } from "../actors/index.ts";
import {
  applyWorkerEvent,
  heartbeatOverdue,
  initialWorkerSnapshot,
  workerState,
  workerUsedResources,
} from "../actors/index.ts";
import type { Report, Resources, Subjects, WorkerHeartbeat } from "../protocol/index.ts";
import {
  DEFAULT_POOL,
  Assignment,
  CancelNotice,
  DrainNotice,
  DroverError,
  encode,
  ErrorCode,
  errorReply,
  MAX_MESSAGE_BYTES,
  safeDecode,
} from "../protocol/index.ts";
import type { HandlerMap } from "./handler.ts";
import type { Probe } from "./metrics/http.ts";
import { monotonicMs } from "./clock.ts";
import type { Execution, ReportBody } from "./execution.ts";
import { runHandler } from "./execution.ts";
import { reconnectIfSilent } from "./connection.ts";
import { JsPublisher } from "./js-publisher.ts";
import { retryTransient } from "./kv-util.ts";
import { DEFAULT_HEARTBEAT_TTL_MS } from "./resources.ts";

export interface WorkerOptions {
  /** Unique worker id. @default "<host>-<pid>-<random>" */
  id?: string;
  handlers: HandlerMap;
  /** Total capacity. @default { cpu: 1, memoryMb: 1024, slots: 4 } */
  capacity?: Resources;
  labels?: Record<string, string>;
  /** The worker's pool (workers with the same types, labels and capacity). @default "default" */
  pool?: string;
  /**
   * The heartbeat TTL. The worker runs with the workers bucket's TTL when that is shorter (it
   * reads it at start), since the server expires its heartbeat by the bucket's.
   * @default the bucket's (1200 when it has none)
   */
  heartbeatTtlMs?: number;
  /** On drain, running tasks get this long to finish before they are handed back. @default 30000 */
  drainGraceMs?: number;
  /** Minimum interval between progress reports of one task. @default 250 */
  progressIntervalMs?: number;
  /** A handler still running after this long is reported `started` (quicker ones report only their result). @default 20 */
  startedReportDelayMs?: number;
  version?: string;
}

export interface WorkerDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  workersKv: KV;
  subjects: Subjects;
  log: Logger;
}

/** Counters for tests, benchmarks and metrics. */
export interface WorkerStats {
  executions: number;
  succeeded: number;
  failed: number;
  fenced: number;
  /** Reconnects forced because the server did not answer a ping during a heartbeat. */
  reconnects: number;
}

/** Finished executions a heartbeat lists at most, and for how long after they finished. */
const RECENT_MAX = 512;
const RECENT_MS = 30_000;

const sanitize = (s: string): string => s.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40);

export class Worker {
  readonly id: string;
  readonly stats: WorkerStats = {
    executions: 0,
    succeeded: 0,
    failed: 0,
    fenced: 0,
    reconnects: 0,
  };
  readonly #d: WorkerDeps;
  readonly #o: Required<Omit<WorkerOptions, "id" | "heartbeatTtlMs">> & { heartbeatTtlMs: number };
  readonly #configuredTtlMs: number | undefined;
  #snap: WorkerSnapshot;
  readonly #running = new Map<string, Execution>();
  /** Finished executions, of which heartbeats list those of the last 30 s (at most 512). */
  #recent: { taskId: string; epoch: number; at: number }[] = [];
  /** The highest leader term seen in an assignment. */
  #highestTerm = 0;
  /** Final reports still being published (a drain waits for them). */
  readonly #outbox = new Set<Promise<void>>();
  #subs: Subscription[] = [];
  /** Reports, their acknowledgements on one subscription (see js-publisher.ts). */
  #publisher: JsPublisher | null = null;
  #hbTimer: NodeJS.Timeout | null = null;
  #fenceTimer: NodeJS.Timeout | null = null;
  #startedAt = Date.now();
  #stopped = false;
  #draining: Promise<void> | null = null;
  readonly #closed = Promise.withResolvers<void>();
  #closing: Promise<void> | null = null;
  /** The heartbeat being written, if any (closing waits for it before removing the key). */
  #beat: Promise<void> | null = null;
  /** Why running tasks are handed back (said in their `released` reports). */
  #releaseReason = "worker draining";
  #idle: (() => void) | null = null;

  constructor(deps: WorkerDeps, options: WorkerOptions) {
    this.#d = deps;
    this.id =
      options.id ?? `${sanitize(hostname())}-${process.pid}-${randomBytes(3).toString("hex")}`;
    this.#o = {
      handlers: options.handlers,
      capacity: options.capacity ?? { cpu: 1, memoryMb: 1024, slots: 4 },
      labels: options.labels ?? {},
      pool: options.pool ?? DEFAULT_POOL,
      heartbeatTtlMs: options.heartbeatTtlMs ?? DEFAULT_HEARTBEAT_TTL_MS,
      drainGraceMs: options.drainGraceMs ?? 30_000,
      progressIntervalMs: options.progressIntervalMs ?? 250,
      startedReportDelayMs: options.startedReportDelayMs ?? 20,
      version: options.version ?? "0.1.0",
    };
    this.#configuredTtlMs = options.heartbeatTtlMs;
    this.#snap = this.#initialSnapshot();
  }

  #initialSnapshot(): WorkerSnapshot {
    return initialWorkerSnapshot({
      workerId: this.id,
      capacity: this.#o.capacity,
      heartbeatTtlMs: this.#o.heartbeatTtlMs,
    });
  }

  get state(): string {
    return workerState(this.#snap);
  }
  get runningCount(): number {
    return this.#running.size;
  }
  get pool(): string {
    return this.#o.pool;
  }
  /** What the worker offers, and what its running tasks hold of it. */
  get load(): { capacity: Resources; used: Resources; running: number } {
    const used = workerUsedResources(this.#snap.context);
    return { capacity: this.#o.capacity, used, running: this.#running.size };
  }
  /** Alive: its NATS connection is not closed for good. */
  healthy(): Probe {
    return this.#d.nc.isClosed() ? { ok: false, reason: "NATS connection closed" } : { ok: true };
  }

  /** Ready: registered and taking assignments (not starting, draining or fenced). */
  ready(): Probe {
    const h = this.healthy();
    if (!h.ok) return h;
    return this.accepting ? { ok: true } : { ok: false, reason: `worker is ${this.state}` };
  }

  /** Whether the worker takes assignments now (registered, not draining, not fenced). */
  get accepting(): boolean {
    const s = this.state;
    return s === "ready.idle" || s === "ready.busy";
  }

  #send(event: WorkerEvent): boolean {
    const res = applyWorkerEvent(this.#snap, event);
    if (!res.ok) return false;
    this.#snap = res.snapshot;
    return true;
  }

  get #log(): Logger {
    return this.#d.log;
  }

  async start(): Promise<void> {
    const { nc, subjects } = this.#d;
    const { ttl } = await retryTransient(() => this.#d.workersKv.status());
    if (ttl > 0) {
      this.#o.heartbeatTtlMs = Math.min(ttl, this.#configuredTtlMs ?? ttl);
      this.#snap = this.#initialSnapshot();
    }
    this.#startedAt = Date.now();
    this.#send({ type: "CONNECTED", at: monotonicMs() });
    this.#subs = [
      nc.subscribe(subjects.workerAssign(this.id), {
        callback: (err, msg) => (err ? undefined : this.#onAssign(msg)),
      }),
      nc.subscribe(subjects.workerCancel(this.id), {
        callback: (err, msg) => (err ? undefined : this.#onCancel(msg)),
      }),
      nc.subscribe(subjects.workerDrain(this.id), {
        callback: (err, msg) => (err ? undefined : this.#onDrain(msg)),
      }),
    ];
    await nc.flush();
    await this.#heartbeat();
    this.#scheduleHeartbeat();
    this.#fenceTimer = setInterval(
      () => this.#checkFence(),
      Math.max(50, this.#o.heartbeatTtlMs / 10),
    );
    this.#log.info(
      {
        workerId: this.id,
        types: Object.keys(this.#o.handlers),
        capacity: this.#o.capacity,
        labels: this.#o.labels,
      },
      "ready",
    );
  }

  /** The finished executions a heartbeat lists (the last 30 s, at most 512). */
  #recentReports(): { taskId: string; epoch: number; at: number }[] {
    const now = Date.now();
    this.#recent = this.#recent.filter((r) => now - r.at < RECENT_MS).slice(-RECENT_MAX);
    return this.#recent;
  }

  #info(): WorkerHeartbeat {
    const s = this.state;
    return {
      v: 1,
      id: this.id,
      types: Object.keys(this.#o.handlers),
      capacity: this.#o.capacity,
      labels: this.#o.labels,
      // The default pool is left out: replicas older than pools refuse a heartbeat that has one.
      ...(this.#o.pool !== DEFAULT_POOL ? { pool: this.#o.pool } : {}),
      // Only a worker that takes work says "ready": a draining, stopping or stopped one never
      // does, so no leader offers it work it would refuse. (Registering and fenced workers
      // write this heartbeat to become ready.)
      state:
        s === "ready.idle" || s === "ready.busy" || s === "registering" || s === "fenced"
          ? "ready"
          : "draining",
      startedAt: this.#startedAt,
      heartbeatAt: Date.now(),
      running: [...this.#running.values()].map((e) => ({ taskId: e.taskId, epoch: e.epoch })),
      recent: this.#recentReports().map(({ taskId, epoch }) => ({ taskId, epoch })),
      hostname: hostname(),
      pid: process.pid,
      version: this.#o.version,
    };
  }

  async #heartbeat(): Promise<void> {
    const sentAt = monotonicMs();
    // A heartbeat stuck on a dead server would outlast the fencing deadline (3/4 TTL) before
    // the client noticed: a server that does not answer a ping within a sixth of the TTL is
    // left for another one, and the heartbeat is sent again there at once.
    const probe = reconnectIfSilent(this.#d.nc, this.#o.heartbeatTtlMs / 6);
    const moved = probe.reconnected.then(() => {
      this.stats.reconnects++;
      this.#log.warn({ workerId: this.id }, "NATS server silent during a heartbeat; reconnecting");
      throw new DroverError(ErrorCode.Unavailable, "NATS server silent; reconnecting");
    });
    try {
      await Promise.race([
        this.#d.workersKv.put(this.id, encode(this.#info()), {
          timeout: this.#o.heartbeatTtlMs / 2,
        }),
        moved,
      ]);
    } finally {
      probe.cancel();
      moved.catch(() => undefined);
    }
    const s = this.state;
    if (s === "registering" || s === "fenced") {
      if (this.#send({ type: "REGISTERED", at: sentAt }))
        this.#log.info(
          { workerId: this.id },
          s === "fenced" ? "re-registered after fencing" : "registered",
        );
    } else {
      this.#send({ type: "HEARTBEAT_OK", at: sentAt });
    }
  }

  /** The next heartbeat in a third of the TTL, or soon after a failed one. */
  #scheduleHeartbeat(retry = false): void {
    if (this.#stopped) return;
    const delayMs = retry ? 50 : this.#o.heartbeatTtlMs / 3;
    this.#hbTimer = setTimeout(() => {
      let failed = false;
      const beat = this.#heartbeat()
        .catch((err: unknown) => {
          failed = true;
          this.#log.warn({ err: (err as Error).message }, "heartbeat failed");
        })
        .finally(() => {
          this.#beat = null;
          this.#scheduleHeartbeat(failed);
        });
      this.#beat = beat;
    }, delayMs);
  }

  /** Self-fencing: a worker that could not renew its heartbeat in time stops its tasks. */
  #checkFence(): void {
    const s = this.state;
    if (s !== "ready.idle" && s !== "ready.busy" && s !== "draining") return;
    if (!heartbeatOverdue(this.#snap.context, monotonicMs(), this.#o.heartbeatTtlMs / 4)) return;
    this.#log.error(
      { workerId: this.id, running: this.#running.size },
      "heartbeat lease lost: fencing (aborting running tasks, no reports)",
    );
    this.stats.fenced++;
    for (const e of this.#running.values()) {
      e.outcome ??= "fenced";
      e.controller.abort(
        new DroverError(ErrorCode.Unavailable, "worker fenced: heartbeat lease lost"),
      );
    }
    this.#send({ type: "LEASE_LOST", at: monotonicMs() });
  }

  #reply(msg: Msg, body: unknown): void {
    if (msg.reply) msg.respond(encode(body));
  }

  #onAssign(msg: Msg): void {
    // The API accepts requests up to its own limit and an assignment adds a few fields to the
    // payload: accept anything NATS delivers, or a near-limit task would be refused forever.
    const parsed = safeDecode(Assignment, msg.data, { maxBytes: MAX_MESSAGE_BYTES });
    if (!parsed.ok) return this.#reply(msg, errorReply(parsed.error));
    const a = parsed.value;
    const existing = this.#running.get(a.taskId);
    if (existing !== undefined && existing.epoch === a.epoch) return this.#reply(msg, { ok: true }); // a resent request
    // A leader with an older term than one already seen has been deposed: refuse its work.
    if (a.term < this.#highestTerm) {
      return this.#reply(
        msg,
        errorReply(
          new DroverError(ErrorCode.Conflict, `stale term ${a.term} (seen ${this.#highestTerm})`),
        ),
      );
    }
    this.#highestTerm = a.term;
    const s = this.state;
    if (s !== "ready.idle" && s !== "ready.busy") {
      return this.#reply(
        msg,
        errorReply(new DroverError(ErrorCode.Unavailable, `worker is ${s}`, { retryable: true })),
      );
    }
    const handler = this.#o.handlers[a.type];
    if (handler === undefined) {
      return this.#reply(
        msg,
        errorReply(new DroverError(ErrorCode.NotFound, `no handler for type '${a.type}'`)),
      );
    }
    if (existing !== undefined) {
      // An older epoch of the same task is still running here: the newer assignment wins.
      existing.outcome ??= "released";
      existing.controller.abort(
        new DroverError(ErrorCode.Conflict, "superseded by a newer assignment"),
      );
      this.#send({ type: "TASK_FINISHED", at: monotonicMs(), taskId: a.taskId });
      this.#running.delete(a.taskId);
    }
    if (
      !this.#send({
        type: "ASSIGN",
        at: monotonicMs(),
        taskId: a.taskId,
        epoch: a.epoch,
        resources: a.resources,
      })
    ) {
      return this.#reply(
        msg,
        errorReply(
          new DroverError(ErrorCode.Conflict, "not enough free capacity", { retryable: true }),
        ),
      );
    }
    this.#reply(msg, { ok: true });
    this.#execute(a, handler);
  }

  #onCancel(msg: Msg): void {
    const parsed = safeDecode(CancelNotice, msg.data);
    if (!parsed.ok) return;
    const e = this.#running.get(parsed.value.taskId);
    if (e === undefined || e.epoch !== parsed.value.epoch) return;
    this.#log.info({ taskId: e.taskId, epoch: e.epoch }, "cancelling");
    e.outcome ??= "cancelled";
    e.controller.abort(new DroverError(ErrorCode.Conflict, `cancelled: ${parsed.value.reason}`));
  }

  /** A replica passes on an admin's drain request: answer, then drain (and stop). */
  #onDrain(msg: Msg): void {
    const parsed = safeDecode(DrainNotice, msg.data);
    if (!parsed.ok) {
      msg.respond(encode(errorReply(parsed.error)));
      return;
    }
    msg.respond(encode({ ok: true, workerId: this.id, running: this.#running.size }));
    this.#log.info({ workerId: this.id }, "drain requested through the API");
    void this.drain(parsed.value.graceMs);
  }

  #execute(a: Assignment, handler: HandlerMap[string]): void {
    const log = this.#log.child({ taskId: a.taskId, attempt: a.attempt, epoch: a.epoch });
    const exec: Execution = {
      taskId: a.taskId,
      epoch: a.epoch,
      controller: new AbortController(),
      outcome: null,
      done: Promise.resolve(),
    };
    this.#running.set(a.taskId, exec);
    this.stats.executions++;
    exec.done = (async () => {
      const report = await runHandler(a, handler, exec, {
        log,
        progressIntervalMs: this.#o.progressIntervalMs,
        startedReportDelayMs: this.#o.startedReportDelayMs,
        report: (body) => this.#report(body, exec),
        releaseReason: () => this.#releaseReason,
      });
      if (report?.kind === "succeeded") this.stats.succeeded++;
      if (report?.kind === "failed") this.stats.failed++;
      // Fenced and cancelled executions report nothing: the task is someone else's now.
      const sent = report !== null ? this.#report(report, exec) : Promise.resolve();
      // The slot is free as soon as the handler is done, before the report's acknowledgement:
      // the leader may apply the report (and place new work here) before that ack arrives.
      if (this.#running.get(a.taskId) === exec) {
        // Only a reported execution is "finished, report in flight"; a fenced one is simply gone.
        // Trimmed to the last 30 s when a heartbeat lists them; here only bounded, cheaply.
        if (report !== null)
          this.#recent.push({ taskId: a.taskId, epoch: a.epoch, at: Date.now() });
        if (this.#recent.length > 2 * RECENT_MAX) this.#recent = this.#recent.slice(-RECENT_MAX);
        this.#running.delete(a.taskId);
        this.#send({ type: "TASK_FINISHED", at: monotonicMs(), taskId: a.taskId });
      }
      this.#outbox.add(sent);
      await sent;
      this.#outbox.delete(sent);
      if (this.#running.size === 0) this.#idle?.();
    })().catch((err: unknown) => log.error({ err }, "execution failed"));
  }

  /** Publishes a report durably (JetStream ack), retrying transient failures unless fenced. */
  async #report(body: ReportBody, exec: Execution): Promise<void> {
    const report = { ...body, v: 1, workerId: this.id, at: Date.now() } as Report;
    // The worker's id is part of the de-duplication id: a report published by someone else
    // first under the same id must not make the stream drop this worker's.
    const msgID = `${this.id}:${report.taskId}:${report.epoch}:${report.kind}${report.kind === "progress" ? `:${report.at}` : ""}`;
    try {
      await retryTransient(
        () => {
          this.#publisher ??= new JsPublisher(this.#d.nc);
          return this.#publisher.publish(
            this.#d.subjects.report(this.id, report.taskId),
            encode(report),
            {
              msgID,
            },
          );
        },
        {
          attempts: 50,
          signal: exec.outcome === "fenced" ? AbortSignal.abort() : undefined,
        },
      );
    } catch (err) {
      this.#log.error(
        { err, taskId: report.taskId, kind: report.kind },
        "report could not be published",
      );
    }
  }

  /**
   * Graceful stop: takes no new work, lets running tasks finish within the grace period,
   * hands back what is left, removes its heartbeat so the leader knows at once. Every call
   * returns the same promise.
   */
  drain(graceMs = this.#o.drainGraceMs): Promise<void> {
    this.#draining ??= this.#closing ?? this.#drain(graceMs);
    return this.#draining;
  }

  async #drain(graceMs: number): Promise<void> {
    this.#send({ type: "DRAIN", at: monotonicMs(), graceMs });
    this.#log.info({ workerId: this.id, running: this.#running.size, graceMs }, "draining");
    await this.#heartbeat().catch(() => undefined);
    if (this.#running.size > 0) {
      await new Promise<void>((resolve) => {
        this.#idle = resolve;
        setTimeout(resolve, graceMs).unref();
      });
    }
    await this.#handBack("worker draining");
    this.#send({ type: "DRAINED", at: monotonicMs() });
    await this.close();
  }

  /** Aborts every running handler, handing its task back, and waits for them and the reports in flight. */
  async #handBack(reason: string): Promise<void> {
    this.#releaseReason = reason;
    for (const e of this.#running.values()) {
      e.outcome ??= "released";
      e.controller.abort(new DroverError(ErrorCode.Unavailable, `${reason}: task handed back`));
    }
    await Promise.allSettled([...this.#running.values()].map((e) => e.done));
    await Promise.allSettled([...this.#outbox]);
  }

  /**
   * Stops at once, without a grace period (tests, fatal errors, a second signal), in an order
   * that never lets a task run twice: take no more work, abort the running handlers and hand
   * their tasks back, wait for them and for the reports in flight, and only then remove the
   * heartbeat (which lets the leader place this worker's tasks elsewhere). Every call returns
   * the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    for (const s of this.#subs) s.unsubscribe();
    if (this.#running.size > 0) {
      // Heartbeats go on meanwhile, saying "draining", so nothing new is offered.
      this.#send({ type: "DRAIN", at: monotonicMs(), graceMs: 0 });
      await this.#handBack("worker closed");
    }
    this.#stopped = true;
    if (this.#hbTimer !== null) clearTimeout(this.#hbTimer);
    if (this.#fenceTimer !== null) clearInterval(this.#fenceTimer);
    // A heartbeat landing after the delete would bring the key back until its TTL.
    await this.#beat;
    this.#send({ type: "STOP", at: monotonicMs() });
    await this.#d.workersKv.delete(this.id).catch(() => undefined);
    // A report still in flight fails here as on a closed connection and is retried on a new one.
    this.#publisher?.close();
    this.#publisher = null;
    this.#log.info({ workerId: this.id }, "stopped");
    this.#closed.resolve();
  }

  /** Resolves once the worker has stopped (closed, or drained through the API). */
  get closed(): Promise<void> {
    return this.#closed.promise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
