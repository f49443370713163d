/**
 * The request/reply API (`<prefix>.api.>`), served by every scheduler replica in one queue
 * group so any of them can answer. Every request is decoded with its zod schema at the edge;
 * a failure is answered with a structured error and changes nothing.
 *
 * A request on a submitter's own subjects (`<prefix>.api.as.<name>.…`) comes from that
 * submitter (NATS permissions let each submitter user publish only its own): its submits and
 * retries pass its admission limits (see admission.ts), refused at once when over, and it may
 * cancel or retry only the tasks it submitted.
 *
 * The task endpoints and health are here; the workers' (workers-api.ts) and the pools'
 * (pools-api.ts) come in as `routes`.
 */
import type { KV } from "@nats-io/kv";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { z } from "zod";
import type {
  HealthProcessStats,
  HealthReply,
  Subjects,
  SubmitManyReply,
  TaskRecord,
  TaskState,
} from "../protocol/index.ts";
import {
  CancelTaskRequest,
  decode,
  DEFAULT_MAX_REQUEST_BYTES,
  DroverError,
  encode,
  ErrorCode,
  errorReply,
  GetTaskRequest,
  HealthRequest,
  ListTasksRequest,
  RetryTaskRequest,
  SubmitManyRequest,
  SubmitTaskRequest,
  TASK_STATES,
  TERMINAL_STATES,
} from "../protocol/index.ts";
import { Admission } from "./admission.ts";
import { cancelTask } from "./cancel-task.ts";
import type { AdmissionLimits } from "../actors/index.ts";
import { idempotencyEntryKey, parseIdempotencyEntry } from "./idempotency.ts";
import type { CapacityGate } from "./capacity.ts";
import type { FinishedIndex } from "./finished-index.ts";
import { rateLimited } from "./log-limit.ts";
import type { Mirror } from "./mirror.ts";
import type { TaskStore } from "./task-store.ts";
import { RequestQueue } from "./request-queue.ts";
import { listTasks } from "./task-lister.ts";
import { TaskIntake } from "./task-intake.ts";

export interface ApiDeps {
  nc: NatsConnection;
  store: TaskStore;
  mirror: Mirror;
  idempotencyKv: KV;
  subjects: Subjects;
  log: Logger;
  /** Describes this replica for the health reply. */
  status(): { replicaId: string; role: string; term: number | null; leaderId: string | null };
  /** Largest accepted request. @default 262144 */
  maxRequestBytes?: number;
  /**
   * Requests handled at once by this replica; more wait in a queue. Keeps a flood of submits
   * from piling thousands of JetStream calls onto the connection. @default 256
   */
  maxConcurrent?: number;
  /** Refuses submits while the task store is (nearly) full. @default no check */
  capacity?: CapacityGate;
  /** Requests that may wait; beyond this a request is refused at once with a retryable `unavailable`. @default 8192 */
  maxQueued?: number;
  /** The index of finished tasks (lists and counts them); without it they are not listed. */
  finished?: FinishedIndex;
  /** This process's memory and event-loop delay for the health reply (field omitted without it). */
  processStats?: () => HealthProcessStats;
  /** More endpoints (subject → handler), decoding with the service's limits. */
  routes?: (decode: ApiDecode) => Iterable<[string, ApiHandler]>;
  /** Plain endpoints a named submitter may not call (an admin's: changing pools). */
  adminOnly?: readonly string[];
  /** Each named submitter's limits. @default DEFAULT_ADMISSION_LIMITS */
  admission?: AdmissionLimits;
}

/** Who sent a request: the submitter its subject names, or null (a plain subject). */
export interface Caller {
  readonly submitter: string | null;
}

/** Answers one request body (the reply is encoded by the service). */
export type ApiHandler = (data: Uint8Array, caller: Caller) => Promise<unknown>;
type Handler = ApiHandler;
const PLAIN: Caller = { submitter: null };
/** Decodes a request body with the service's limits (an empty body is `{}`). */
export type ApiDecode = <S extends z.ZodType>(schema: S, data: Uint8Array) => z.output<S>;

const TERMINAL: ReadonlySet<TaskState> = new Set(TERMINAL_STATES);

export class ApiService {
  readonly #d: ApiDeps;
  #sub: Subscription | null = null;
  #replicasSub: Subscription | null = null;
  readonly #routes: Map<string, Handler>;
  readonly #max: number;
  readonly #queue: RequestQueue<Msg>;
  /** Log lines for refusals: back-pressure, a full task store. */
  readonly #shedLog = rateLimited(5_000);
  readonly #admission: Admission;
  readonly #intake: TaskIntake;
  readonly #adminOnly: ReadonlySet<string>;

  constructor(deps: ApiDeps) {
    this.#d = deps;
    this.#admission = new Admission(deps.admission, (name) => deps.mirror.tasks.heldBy(name));
    this.#intake = new TaskIntake(deps);
    this.#adminOnly = new Set(deps.adminOnly ?? []);
    this.#max = deps.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    this.#queue = new RequestQueue(
      (msg) => this.#handle(msg),
      deps.maxConcurrent ?? 256,
      deps.maxQueued ?? 8_192,
    );
    const api = deps.subjects.api;
    this.#routes = new Map<string, Handler>([
      [api.submit, (d, c) => this.submit(d, c)],
      [api.submitMany, (d, c) => this.submitMany(d, c)],
      [api.get, (d) => this.get(d)],
      [api.cancel, (d, c) => this.cancel(d, c)],
      [api.retry, (d, c) => this.retry(d, c)],
      [api.list, (d) => this.list(d)],
      [api.health, (d) => this.health(d)],
      [deps.subjects.replicas, (d) => this.health(d)],
      ...(deps.routes?.((schema, data) => this.#decode(schema, data)) ?? []),
    ]);
  }

  /** Requests refused by admission control, by reason, since the start. */
  get refused(): ReadonlyMap<string, number> {
    return this.#admission.refused;
  }

  start(): void {
    this.#sub = this.#d.nc.subscribe(this.#d.subjects.apiWildcard, {
      queue: `${this.#d.subjects.prefix}-api`,
      callback: (err, msg) => {
        if (err === null) this.#admit(msg);
      },
    });
    // Outside the queue group: every replica answers, so one request lists them all.
    this.#replicasSub = this.#d.nc.subscribe(this.#d.subjects.replicas, {
      callback: (err, msg) => {
        if (err === null) this.#queue.run(msg);
      },
    });
  }

  /**
   * Back-pressure (see request-queue.ts): a full queue refuses at once (retryable). Health
   * requests skip the queue: they touch only memory, and operators need them most when the
   * replica is busy.
   */
  #admit(msg: Msg): void {
    const parsed = this.#d.subjects.parseApi(msg.subject);
    if (parsed === null) {
      this.#send(
        msg,
        errorReply(
          new DroverError(
            ErrorCode.NotFound,
            `malformed API subject ${msg.subject}: a submitter's subjects are ${this.#d.subjects.prefix}.api.as.<name>.<endpoint>, the name matching /^[A-Za-z0-9_-]{1,128}$/`,
          ),
        ),
      );
      return;
    }
    const { endpoint, submitter } = parsed;
    // Answered by every replica on its own subscription (see start), not by one of the group.
    if (msg.subject === this.#d.subjects.replicas) return;
    if (endpoint === this.#d.subjects.api.health) {
      this.#queue.run(msg);
      return;
    }
    if (submitter !== null) {
      // Refused here, before the queue: a flood costs a check, not a place in the queue.
      const refusal = this.#admission.check(endpoint, submitter, this.#d.subjects.api);
      if (refusal !== null) {
        this.#shedLog((n) =>
          this.#d.log.warn(
            { refused: n, submitter, reason: refusal.code },
            "submitter over its limits: refusing requests",
          ),
        );
        this.#send(msg, errorReply(refusal));
        return;
      }
    }
    if (this.#queue.offer(msg)) return;
    this.#shedLog((n) =>
      this.#d.log.warn(
        { refused: n, queued: this.#queue.maxQueued },
        "API overloaded: refusing requests",
      ),
    );
    this.#send(
      msg,
      errorReply(
        new DroverError(
          ErrorCode.Unavailable,
          `scheduler replica overloaded (${this.#queue.maxQueued} requests waiting); retry shortly`,
          { retryable: true },
        ),
      ),
    );
  }

  /**
   * Stops taking requests and answers the ones already taken (for at most `graceMs`): a
   * replica stopped for a rolling restart leaves no client waiting out its timeout.
   */
  async stop(graceMs = 5_000): Promise<void> {
    await this.#sub?.drain().catch(() => undefined);
    await this.#replicasSub?.drain().catch(() => undefined);
    this.#sub = null;
    this.#replicasSub = null;
    await this.#queue.settled(graceMs);
  }

  async #handle(msg: Msg): Promise<void> {
    const parsed = this.#d.subjects.parseApi(msg.subject);
    const route = parsed === null ? undefined : this.#routes.get(parsed.endpoint);
    const caller: Caller = parsed?.submitter == null ? PLAIN : { submitter: parsed.submitter };
    const started = Date.now();
    let body: unknown;
    try {
      if (route === undefined || parsed === null)
        throw new DroverError(ErrorCode.NotFound, `unknown API subject ${msg.subject}`);
      if (caller.submitter !== null && this.#adminOnly.has(parsed.endpoint))
        throw new DroverError(
          ErrorCode.Forbidden,
          `${parsed.endpoint.slice(this.#d.subjects.prefix.length + 5)} is an admin's request, not a submitter's`,
        );
      body = await route(msg.data, caller);
    } catch (err) {
      if (!(err instanceof DroverError))
        this.#d.log.error({ err, subject: msg.subject }, "API request failed");
      body = errorReply(err);
    } finally {
      if (caller.submitter !== null && parsed?.endpoint === this.#d.subjects.api.submit)
        this.#admission.done(caller.submitter);
    }
    const tookMs = Date.now() - started;
    // Clients give up after a few seconds: a slow answer is worth knowing about.
    if (tookMs > 2_000)
      this.#d.log.warn(
        { subject: msg.subject, tookMs, ok: (body as { ok?: boolean }).ok === true },
        "slow API request",
      );
    this.#send(msg, body);
  }

  #send(msg: Msg, body: unknown): void {
    if (!msg.reply) return;
    const data = encode(body);
    // A reply over the server's max_payload would throw in respond(): answer with an error.
    const max = this.#d.nc.info?.max_payload ?? 1_048_576;
    try {
      msg.respond(
        data.length <= max
          ? data
          : encode(
              errorReply(
                new DroverError(
                  ErrorCode.PayloadTooLarge,
                  `reply of ${data.length} bytes exceeds the server's max_payload (${max}); ask for a smaller page`,
                ),
              ),
            ),
      );
    } catch (err) {
      this.#d.log.warn({ err, subject: msg.subject }, "could not send a reply");
    }
  }

  #decode<S extends z.ZodType>(schema: S, data: Uint8Array): z.output<S> {
    // An empty body is an empty object: `nats req drover.api.workers.list ""` works.
    return decode(schema, data.length === 0 ? "{}" : data, { maxBytes: this.#max });
  }

  /** Accepts a task: answered only once the record is durable in JetStream. */
  async submit(
    data: Uint8Array,
    caller: Caller = PLAIN,
  ): Promise<{ ok: true; id: string; duplicate: boolean }> {
    const req = this.#decode(SubmitTaskRequest, data);
    return await this.#intake.accept(req, data.length, caller.submitter);
  }

  /**
   * Accepts many tasks in one request: each is what a submit of it alone would be (its own
   * record, idempotency key and result), all written at once; answered once every one is
   * durable or refused. A named submitter's limits take the whole batch or none of it.
   */
  async submitMany(data: Uint8Array, caller: Caller = PLAIN): Promise<SubmitManyReply> {
    const req = this.#decode(SubmitManyRequest, data);
    const n = req.tasks.length;
    const { submitter } = caller;
    if (submitter !== null) {
      const refusal = this.#admission.take(submitter, n);
      if (refusal !== null) {
        this.#shedLog((count) =>
          this.#d.log.warn(
            { refused: count, submitter, reason: refusal.message },
            "submitter over its limits: refusing requests",
          ),
        );
        throw refusal;
      }
    }
    try {
      // Each task's share of the request, for the store's capacity check.
      const results = await this.#intake.acceptMany(
        req.tasks,
        Math.ceil(data.length / n),
        submitter,
      );
      return { ok: true, results };
    } finally {
      if (submitter !== null) this.#admission.done(submitter, n);
    }
  }

  async get(data: Uint8Array): Promise<{ ok: true; task: TaskRecord }> {
    const req = this.#decode(GetTaskRequest, data);
    const id = req.id ?? (await this.#idOfKey(req.idempotencyKey ?? ""));
    const t = await this.#d.store.lookup(id);
    if ("missing" in t)
      throw new DroverError(
        ErrorCode.NotFound,
        t.missing === "expired"
          ? `task ${id} not found: it finished and its record expired after its retention period`
          : `task ${id} not found (never submitted, or finished and expired after its retention period)`,
      );
    return { ok: true, task: t.record };
  }

  /** The task an idempotency key created; `not_found` when the key is unknown or expired. */
  async #idOfKey(idempotencyKey: string): Promise<string> {
    const e = await this.#d.idempotencyKv.get(idempotencyEntryKey(idempotencyKey));
    const entry = e?.operation === "PUT" ? parseIdempotencyEntry(e.value) : null;
    if (entry === null)
      throw new DroverError(
        ErrorCode.NotFound,
        `no task with idempotency key ${JSON.stringify(idempotencyKey)} (never used, or expired after its task's retention period)`,
      );
    return entry.id;
  }

  async cancel(data: Uint8Array, caller: Caller = PLAIN): Promise<{ ok: true; task: TaskRecord }> {
    const req = this.#decode(CancelTaskRequest, data);
    const res = await cancelTask(this.#d, req.id, req.reason, (rec) =>
      checkOwner(rec, caller, "cancel"),
    );
    if (!res.ok) {
      if (res.record === null)
        throw new DroverError(ErrorCode.NotFound, `task ${req.id} not found`);
      throw new DroverError(
        ErrorCode.IllegalTransition,
        `cannot cancel task ${req.id}: ${res.reason}`,
      );
    }
    return { ok: true, task: res.record };
  }

  async retry(data: Uint8Array, caller: Caller = PLAIN): Promise<{ ok: true; task: TaskRecord }> {
    const { id } = this.#decode(RetryTaskRequest, data);
    const res = await this.#d.store.apply(id, (rec) => {
      checkOwner(rec, caller, "retry");
      return { type: "RETRY", at: Date.now() };
    });
    if (!res.ok) {
      if (res.record === null) throw new DroverError(ErrorCode.NotFound, `task ${id} not found`);
      throw new DroverError(ErrorCode.IllegalTransition, `cannot retry task ${id}: ${res.reason}`);
    }
    return { ok: true, task: res.record };
  }

  /** A page of tasks: unfinished ones from the mirror, then finished ones from their index. */
  async list(
    data: Uint8Array,
  ): Promise<{ ok: true; tasks: TaskRecord[]; nextCursor: string | null }> {
    const req = this.#decode(ListTasksRequest, data);
    return {
      ok: true,
      ...(await listTasks(
        {
          mirror: this.#d.mirror,
          store: this.#d.store,
          subjects: this.#d.subjects,
          ...(this.#d.finished !== undefined ? { finished: this.#d.finished } : {}),
          maxReplyBytes: this.#d.nc.info?.max_payload ?? 1_048_576,
        },
        req,
      )),
    };
  }

  #finishedCache: {
    at: number;
    counts: Promise<Partial<Record<TaskState, number>> | null>;
  } | null = null;

  /**
   * Finished tasks by state, from the finished index (the mirror keeps none). Health is asked
   * often, so the answer is reused for a second; null when the index cannot be read.
   */
  #finishedCounts(): Promise<Partial<Record<TaskState, number>> | null> {
    const index = this.#d.finished;
    if (index === undefined) return Promise.resolve(null);
    const now = Date.now();
    if (this.#finishedCache === null || now - this.#finishedCache.at > 1_000)
      this.#finishedCache = { at: now, counts: index.counts().catch(() => null) };
    return this.#finishedCache.counts;
  }

  async health(data: Uint8Array): Promise<HealthReply> {
    this.#decode(HealthRequest, data);
    const counts: Record<string, number> = {};
    const finished = await this.#finishedCounts();
    for (const s of TASK_STATES)
      counts[s] = TERMINAL.has(s) ? (finished?.[s] ?? 0) : this.#d.mirror.tasks.count(s);
    const status = this.#d.status();
    return {
      ok: true,
      ...status,
      role: status.role as HealthReply["role"],
      workers: this.#d.mirror.workers.size,
      tasks: counts,
      ...(this.#d.processStats !== undefined ? { process: this.#d.processStats() } : {}),
    };
  }
}

/**
 * Refuses a named submitter's cancel or retry of a task it did not submit. A request on the
 * plain subjects (an admin's, or any client's in a cluster without users) may touch any task.
 */
function checkOwner(rec: TaskRecord, caller: Caller, what: string): void {
  if (caller.submitter === null || rec.submitter === caller.submitter) return;
  throw new DroverError(
    ErrorCode.Forbidden,
    `cannot ${what} task ${rec.id}: only its submitter (or an admin) may`,
  );
}
