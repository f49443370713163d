/**
 * The TypeScript client: submit and manage tasks over the request/reply API, and wait for a
 * task to finish by watching its record (or, for a NATS user that may not read the tasks
 * bucket, by asking the API).
 */
import { Kvm, KvWatchInclude } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { NoRespondersError } from "@nats-io/transport-node";
import type { z } from "zod";
import type {
  ApiSubjects,
  ErrorCodeValue,
  PoolPolicy,
  PoolStatus,
  SetPoolRequestInput,
  SubmitTaskRequestInput,
  Subjects,
  TaskRecord,
  TaskState,
  TaskTransitionEvent,
  WorkerView,
} from "../protocol/index.ts";
import {
  decode,
  DrainWorkerReply,
  DroverError,
  encode,
  ErrorCode,
  HealthReply,
  ErrorReply,
  ListTasksReply,
  ListWorkersReply,
  ListPoolsReply,
  DeletePoolReply,
  SetPoolReply,
  MAX_MESSAGE_BYTES,
  resourceNames,
  MAX_SUBMIT_BATCH,
  safeDecode,
  SubmitManyReply,
  SubmitTaskReply,
  subjects,
  TaskRecord as TaskRecordSchema,
  TaskReply,
  TERMINAL_STATES,
} from "../protocol/index.ts";
import type { ConnectOptions } from "./connection.ts";
import { connectNats, leaveIfSilent } from "./connection.ts";
import { feed } from "./feed.ts";
import { isPermissionDenied, isTimeout, retryTransient } from "./kv-util.ts";
import { submitterOfCreds } from "./nats-jwt.ts";
import { ScheduleClient } from "./schedule-client.ts";
import { followTaskEvents } from "./task-event-feed.ts";

export interface ClientOptions {
  /** Subject/stream prefix. @default "drover" */
  prefix?: string;
  /** Request timeout. @default 5000 */
  timeoutMs?: number;
  /**
   * Send every request as this submitter, on its own subjects (`<prefix>.api.as.<name>.…`): the
   * tasks it submits are its own (only it, or an admin, may cancel or retry them) and count
   * against its limits. A NATS user made with `drover creds --submitters NAME` may publish
   * nothing else. @default none: the plain subjects
   */
  submitter?: string;
}

export interface ListOptions {
  state?: TaskState | TaskState[];
  type?: string;
  /** Created at or after (ms since the epoch). */
  since?: number;
  /** Created before (ms since the epoch). */
  until?: number;
  limit?: number;
  cursor?: string;
}

export class DroverClient {
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  /** The API subjects this client sends on (its submitter's, or the plain ones). */
  readonly api: ApiSubjects;
  readonly #prefix: string;
  readonly #timeout: number;
  readonly #owned: boolean;
  /** Recurring schedules: create, update, get, list, pause, resume, delete. */
  readonly schedules: ScheduleClient;
  /** This user may not read the tasks bucket: {@link wait} asks the API (no refused tries). */
  #apiOnly = false;

  constructor(nc: NatsConnection, options: ClientOptions = {}, owned = false) {
    this.nc = nc;
    this.#prefix = options.prefix ?? "drover";
    this.subjects = subjects(this.#prefix);
    this.api =
      options.submitter === undefined ? this.subjects.api : this.subjects.apiAs(options.submitter);
    this.#timeout = options.timeoutMs ?? 5_000;
    this.#owned = owned;
    this.schedules = new ScheduleClient(this.api.schedules, (subject, body, schema) =>
      this.#request(subject, body, schema),
    );
  }

  /**
   * Connects and returns a client that closes its connection on {@link close}. With a `.creds`
   * file whose user may send only as one submitter (`drover creds --jwt`), the client sends as
   * that submitter unless `options.submitter` says otherwise.
   */
  static async connect(
    conn: Omit<ConnectOptions, "name"> & { name?: string },
    options: ClientOptions = {},
  ): Promise<DroverClient> {
    const nc = await connectNats({ name: "drover-client", reconnectForever: false, ...conn });
    const creds = conn.auth?.creds;
    const submitter =
      options.submitter ??
      (creds !== undefined ? submitterOfCreds(creds, options.prefix ?? "drover") : null);
    return new DroverClient(nc, { ...options, ...(submitter !== null ? { submitter } : {}) }, true);
  }

  async #request<S extends z.ZodType>(
    subject: string,
    body: unknown,
    schema: S,
  ): Promise<z.output<S>> {
    let reply;
    try {
      reply = await this.nc.request(subject, encode(body), { timeout: this.#timeout });
    } catch (err) {
      const msg = (err as Error).message;
      // A request that timed out may have gone to a server that died without a word: if it
      // does not answer a ping either, the connection moves to another server now, so the
      // caller's retry does not wait out the client's pings (seconds) as well.
      if (isTimeout(err)) await leaveIfSilent(this.nc, 500);
      if (isPermissionDenied(err))
        throw new DroverError(
          ErrorCode.Forbidden,
          `this NATS user may not publish ${subject} (${msg})` +
            (this.api === this.subjects.api
              ? ` (a submitter user sends on ${this.#prefix}.api.as.<its name>.>: give the client its name, --submitter NAME or DROVER_SUBMITTER)`
              : ""),
          { cause: err },
        );
      throw new DroverError(
        ErrorCode.Unavailable,
        err instanceof NoRespondersError || (err as Error).cause instanceof NoRespondersError
          ? `no Drover scheduler answers on ${subject} (is one running with prefix '${this.#prefix}'?)`
          : `request to ${subject} failed: ${msg}`,
        { retryable: true, cause: err },
      );
    }
    const raw = JSON.parse(new TextDecoder().decode(reply.data)) as { ok?: unknown };
    if (raw.ok === false) throw errorFromReply(raw);
    return decode(schema, reply.data, { maxBytes: 64 * MAX_MESSAGE_BYTES });
  }

  /** Submits a task; resolves once it is durable. Returns its id (the first one's for a duplicate idempotency key). */
  async submit(task: SubmitTaskRequestInput): Promise<{ id: string; duplicate: boolean }> {
    const r = await this.#request(this.api.submit, task, SubmitTaskReply);
    return { id: r.id, duplicate: r.duplicate };
  }

  /**
   * Submits many tasks in few requests (`tasks.submit-many`: up to 1,000 tasks and about
   * 200 KB a request, sent one after the other). Resolves with one result per task, in order:
   * accepted (`duplicate` for a known idempotency key), or the error that refused that task
   * alone (a full task store, say). A request refused as a whole (an invalid task, over a
   * submitter's limits) rejects; the tasks of the requests before it stand, and the error says
   * how many were sent. `onProgress` is told after each request.
   */
  async submitMany(
    tasks: readonly SubmitTaskRequestInput[],
    o: { onProgress?: (answered: number, total: number) => void } = {},
  ): Promise<SubmitManyResult[]> {
    const results: SubmitManyResult[] = [];
    for (const chunk of submitChunks(tasks)) {
      let reply: SubmitManyReply;
      try {
        reply = await this.#request(this.api.submitMany, { tasks: chunk }, SubmitManyReply);
      } catch (err) {
        if (!(err instanceof DroverError) || results.length === 0) throw err;
        throw new DroverError(
          err.code,
          `${err.message} (tasks ${results.length + 1}..${results.length + chunk.length} of ${tasks.length}; the ${results.length} before them were answered)`,
          {
            retryable: err.retryable,
            cause: err,
            ...(err.issues !== undefined ? { issues: err.issues } : {}),
          },
        );
      }
      for (const r of reply.results)
        results.push(
          r.ok
            ? { ok: true, id: r.id, duplicate: r.duplicate }
            : { ok: false, error: errorFromReply(r) },
        );
      o.onProgress?.(results.length, tasks.length);
    }
    return results;
  }

  async get(id: string): Promise<TaskRecord> {
    return (await this.#request(this.api.get, { id }, TaskReply)).task;
  }

  /** The task submitted with `idempotencyKey` (`not_found` when the key is unknown or expired). */
  async getByKey(idempotencyKey: string): Promise<TaskRecord> {
    return (await this.#request(this.api.get, { idempotencyKey }, TaskReply)).task;
  }

  async cancel(id: string, reason?: string): Promise<TaskRecord> {
    return (
      await this.#request(
        this.api.cancel,
        { id, ...(reason !== undefined ? { reason } : {}) },
        TaskReply,
      )
    ).task;
  }

  async retry(id: string): Promise<TaskRecord> {
    return (await this.#request(this.api.retry, { id }, TaskReply)).task;
  }

  async list(
    options: ListOptions = {},
  ): Promise<{ tasks: TaskRecord[]; nextCursor: string | null }> {
    const r = await this.#request(this.api.list, options, ListTasksReply);
    return { tasks: r.tasks, nextCursor: r.nextCursor };
  }

  async workers(): Promise<WorkerView[]> {
    return (await this.#request(this.api.workers, {}, ListWorkersReply)).workers;
  }
  /** Every pool with a policy or a live worker: its policy, live workers and the last scale decision. */
  async pools(): Promise<PoolStatus[]> {
    return (await this.#request(this.api.pools.list, {}, ListPoolsReply)).pools;
  }

  /** Creates or replaces a pool's template and scaling policy. */
  async setPool(req: SetPoolRequestInput): Promise<PoolPolicy> {
    return (await this.#request(this.api.pools.set, req, SetPoolReply)).pool;
  }

  /** Deletes a pool's policy (its workers stay; the autoscaler stops scaling it). */
  async deletePool(pool: string): Promise<void> {
    await this.#request(this.api.pools.delete, { pool }, DeletePoolReply);
  }

  /**
   * Asks a live worker to drain (an admin's request): it takes no new work, lets its running
   * tasks finish within `graceMs` (default: its own grace period), hands back the rest and stops.
   */
  async drain(workerId: string, graceMs?: number): Promise<DrainWorkerReply> {
    return await this.#request(
      this.api.drain,
      { workerId, ...(graceMs !== undefined ? { graceMs } : {}) },
      DrainWorkerReply,
    );
  }

  /**
   * The health of every scheduler replica that answers (each answers for itself), sorted by
   * id. `waitMs` bounds the wait for the first reply; after it, replies are collected until
   * none came for `stallMs` (nats.js's stall strategy), so a cluster whose replicas answer
   * one after another keeps the collection open. Replies that are not a health reply are left
   * out.
   */
  async replicas(waitMs = 1_000, stallMs = 300): Promise<HealthReply[]> {
    const out: HealthReply[] = [];
    try {
      const replies = await this.nc.requestMany(this.subjects.replicas, encode({}), {
        strategy: "stall",
        maxWait: waitMs,
        stall: Math.min(stallMs, waitMs),
      });
      for await (const m of replies) {
        const r = HealthReply.safeParse(safeJson(m.data));
        // An error reply, or a reply of another version, is not a replica's health.
        if (r.success) out.push(r.data);
      }
    } catch (err) {
      // No replica at all (no responders) is an empty list; anything else is the caller's.
      if (!(err instanceof NoRespondersError || (err as Error).cause instanceof NoRespondersError))
        throw err;
    }
    return out.sort((a, b) => (a.replicaId < b.replicaId ? -1 : 1));
  }

  /** Health of whichever scheduler replica answers (role, term, the leader it knows, counts). */
  async health(): Promise<HealthReply> {
    return await this.#request(this.api.health, {}, HealthReply);
  }

  /**
   * Resolves with the task's record once it reaches a terminal state (succeeded, failed, dead,
   * cancelled, timed_out); `onUpdate` sees every change on the way (state, progress).
   */
  async wait(
    id: string,
    opts: { onUpdate?: (t: TaskRecord) => void; signal?: AbortSignal } = {},
  ): Promise<TaskRecord> {
    // Under load (a caller waiting on a thousand tasks at once) opening the bucket or the
    // watch may time out: both are retried, so only a real failure reaches the caller.
    // A user whose permissions stop at the API (a submitter) asks the API instead.
    if (this.#apiOnly) return await this.#poll(id, opts);
    let watch;
    try {
      const kv = await retryTransient(() =>
        new Kvm(this.nc).open(resourceNames(this.#prefix).buckets.tasks),
      );
      watch = await retryTransient(() => kv.watch({ key: id }));
    } catch (err) {
      if (!isPermissionDenied(err)) throw err;
      this.#apiOnly = true;
      return await this.#poll(id, opts);
    }
    const stop = (): void => watch.stop();
    opts.signal?.addEventListener("abort", stop, { once: true });
    try {
      for await (const e of watch) {
        if (e.operation !== "PUT") continue;
        const t = decode(TaskRecordSchema, e.value, { maxBytes: MAX_MESSAGE_BYTES });
        opts.onUpdate?.(t);
        if (TERMINAL_STATES.includes(t.state)) return t;
      }
      throw new DroverError(
        ErrorCode.Unavailable,
        opts.signal?.aborted === true ? "wait aborted" : `watch on task ${id} ended`,
      );
    } finally {
      opts.signal?.removeEventListener("abort", stop);
      watch.stop();
    }
  }

  /**
   * {@link wait} through the API alone: asks for the record, sooner after a change (50 ms) and
   * less often while nothing changes (up to every second). A scheduler that does not answer for
   * a moment (a failover) is asked again.
   */
  async #poll(
    id: string,
    opts: { onUpdate?: (t: TaskRecord) => void; signal?: AbortSignal },
  ): Promise<TaskRecord> {
    let delayMs = 50;
    let seen = "";
    for (;;) {
      if (opts.signal?.aborted === true)
        throw new DroverError(ErrorCode.Unavailable, "wait aborted");
      let t: TaskRecord | null = null;
      try {
        t = await this.get(id);
      } catch (err) {
        if (!(err instanceof DroverError) || !err.retryable) throw err;
      }
      if (t !== null) {
        const mark = `${t.state}:${t.updatedAt}`;
        if (mark !== seen) {
          seen = mark;
          delayMs = 50;
          opts.onUpdate?.(t);
        }
        if (TERMINAL_STATES.includes(t.state)) return t;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, delayMs);
        function done(): void {
          clearTimeout(timer);
          opts.signal?.removeEventListener("abort", done);
          resolve();
        }
        opts.signal?.addEventListener("abort", done, { once: true });
      });
      delayMs = Math.min(1_000, delayMs * 2);
    }
  }

  /**
   * Follows the cluster's events live (`<prefix>.events.>`, core NATS: nothing is replayed):
   * `onEvent` sees each one's subject and JSON body (null when the body is not JSON; the
   * caller validates what it uses). Returns a function that stops following.
   */
  follow(onEvent: (subject: string, body: unknown) => void): () => void {
    const sub = this.nc.subscribe(this.subjects.eventsWildcard, {
      callback: (err, msg) => {
        if (err === null) onEvent(msg.subject, safeJson(msg.data));
      },
    });
    return () => sub.unsubscribe();
  }

  /**
   * Follows task state changes from now on, through the events stream: each stored event
   * once, in order (see task-event-feed.ts), optionally only the changes into `to`. Cheaper
   * than {@link watchAll} (an event is a quarter of a record) and open to the observer role.
   * Resolves once the feed is in place, with a function that stops it.
   */
  followTaskEvents(
    onEvent: (e: TaskTransitionEvent) => void,
    o: { to?: readonly TaskState[]; signal?: AbortSignal } = {},
  ): Promise<() => void> {
    return followTaskEvents(
      this.nc,
      { prefix: this.#prefix, ...(o.to !== undefined ? { to: o.to } : {}) },
      onEvent,
      o.signal,
    );
  }

  /**
   * Watches every task record of this prefix from now on (updates only, no current values):
   * `onRecord` sees each PUT, decoded. Resolves once the watch is in place, with a function
   * that stops it (also stopped when `signal` aborts). A record that fails its schema is skipped.
   */
  async watchAll(onRecord: (t: TaskRecord) => void, signal?: AbortSignal): Promise<() => void> {
    const kv = await new Kvm(this.nc).open(resourceNames(this.#prefix).buckets.tasks);
    const watch = await kv.watch({ include: KvWatchInclude.UpdatesOnly });
    return feed(
      watch,
      (e) => {
        if (e.operation !== "PUT") return null;
        const r = safeDecode(TaskRecordSchema, e.value, { maxBytes: MAX_MESSAGE_BYTES });
        return r.ok ? r.value : null;
      },
      onRecord,
      () => watch.stop(),
      signal,
    );
  }

  async close(): Promise<void> {
    if (this.#owned) await this.nc.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * The error of an error reply. A code this version does not know (a newer replica's) is kept
 * as `internal` with the code in the message, rather than failing the reply's decoding.
 */
function errorOf(reply: unknown): ErrorReply["error"] {
  const r = ErrorReply.safeParse(reply);
  if (r.success) return r.data.error;
  const raw = (reply as { error?: { code?: unknown; message?: unknown } }).error;
  const text = (v: unknown, otherwise: string): string => (typeof v === "string" ? v : otherwise);
  return {
    code: ErrorCode.Internal satisfies ErrorCodeValue,
    message: `${text(raw?.code, "unknown")}: ${text(raw?.message, "unreadable error reply")}`,
  };
}

/** One task's result in {@link DroverClient.submitMany}. */
export type SubmitManyResult =
  { ok: true; id: string; duplicate: boolean } | { ok: false; error: DroverError };

/** Largest submit-many request the client sends (the API takes 256 KiB by default). */
const SUBMIT_MANY_BYTES = 200_000;

/** `tasks` cut into requests of at most {@link MAX_SUBMIT_BATCH} tasks and about 200 KB. */
export function submitChunks<T>(tasks: readonly T[], maxBytes = SUBMIT_MANY_BYTES): T[][] {
  const chunks: T[][] = [];
  let chunk: T[] = [];
  let bytes = 0;
  for (const t of tasks) {
    const size = Buffer.byteLength(JSON.stringify(t)) + 1;
    if (chunk.length > 0 && (chunk.length >= MAX_SUBMIT_BATCH || bytes + size > maxBytes)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(t);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/** The {@link DroverError} an error reply stands for. */
function errorFromReply(reply: unknown): DroverError {
  const e = errorOf(reply);
  return new DroverError(e.code, e.message, {
    ...(e.issues !== undefined ? { issues: e.issues } : {}),
    retryable: e.code === ErrorCode.RateLimited || e.code === ErrorCode.Unavailable,
  });
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return null;
  }
}
