/**
 * The durable task records: one KV entry per task, written only through the task machine and
 * only with compare-and-set on the entry's revision. Two writers (an old and a new leader, an
 * API replica and the leader) can never both apply an event to the same revision.
 */
import { isDeepStrictEqual } from "node:util";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { TaskEvent } from "../actors/index.ts";
import { applyTaskEvent, recordRefusedReport } from "../actors/index.ts";
import {
  decode,
  DroverError,
  encode,
  ErrorCode,
  MAX_MESSAGE_BYTES,
  TaskRecord,
  TERMINAL_STATES,
} from "../protocol/index.ts";
import type { FinishedIndex } from "./finished-index.ts";
import { putIdempotencyEntry, ttlHeader } from "./idempotency.ts";
import type { PublishFn } from "./js-publisher.ts";
import { jsPublish } from "./js-publisher.ts";
import { isRevisionConflict, isTransient, retryTransient } from "./kv-util.ts";

const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_STATES);

/** A record with the KV revision it was read at. */
export interface StoredTask {
  record: TaskRecord;
  revision: number;
}

export type ApplyOutcome =
  | { ok: true; record: TaskRecord; revision: number; changed: boolean }
  | { ok: false; reason: string; stale: boolean; record: TaskRecord | null };

/** Told of every accepted transition (after it is durable); used to publish events. */
export type TransitionListener = (
  before: TaskRecord,
  after: TaskRecord,
  event: TaskEvent["type"],
) => void;

/** What a {@link TaskStore} needs besides the bucket. */
export interface TaskStoreOptions {
  /** JetStream client on the bucket's connection (batch reads). */
  js: JetStreamClient;
  /** How records are written. @default `js.publish` */
  publish?: PublishFn;
  /** Name of the tasks bucket. */
  bucket: string;
  /** Name of the idempotency bucket (its entries follow their tasks' retention). */
  idempotencyBucket: string;
  /** Retention of a finished record whose task did not choose one. @default 86_400_000 */
  retentionMs?: number;
  /** The index of finished tasks, written before each finished record (none: not indexed). */
  finished?: FinishedIndex;
  onTransition?: TransitionListener;
  /** Told of every record this store wrote, with its revision (`isUpdate`: not a create). */
  onWrite?: (record: TaskRecord, revision: number, isUpdate: boolean) => void;
  /** Told of every record just before it is sent, with the bytes that are sent. */
  onWriting?: (record: TaskRecord, data: Uint8Array) => void;
  onRetry?: (err: unknown, what: string) => void;
}

/** A finished record is kept this long unless its task or the deployment says otherwise. */
export const DEFAULT_RETENTION_MS = 86_400_000;

export class TaskStore {
  readonly kv: KV;
  readonly #o: TaskStoreOptions;
  readonly #retentionMs: number;
  readonly #publish: PublishFn;
  constructor(kv: KV, options: TaskStoreOptions) {
    this.kv = kv;
    this.#o = options;
    this.#publish = options.publish ?? jsPublish(options.js);
    this.#retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  }

  /** How long `record` is kept once finished. */
  retentionOf(record: TaskRecord): number {
    return record.retentionMs ?? this.#retentionMs;
  }

  /** Decodes a stored value; a record that fails its schema is reported, never guessed at. */
  static decode(value: Uint8Array): TaskRecord {
    return decode(TaskRecord, value, { maxBytes: MAX_MESSAGE_BYTES });
  }

  /**
   * Creates a record; resolves to its revision. Throws `conflict` when the id exists — unless
   * it exists because an earlier attempt of this very call landed although it timed out: a
   * conflict with one's own write is success.
   */
  async create(record: TaskRecord): Promise<number> {
    // The usual case, a key never used: one publish that requires the subject to be empty.
    // A key with history (a delete or expiry marker) or a failed attempt takes `kv.create`.
    let retried = false;
    const data = encode(record);
    this.#o.onWriting?.(record, data);
    try {
      const ack = await this.#publish(`$KV.${this.#o.bucket}.${record.id}`, data, {
        expectLastSubjectSequence: 0,
      });
      this.#o.onWrite?.(record, ack.seq, false);
      return ack.seq;
    } catch (err) {
      if (isTransient(err)) {
        retried = true; // it may have landed: a conflict below may be with this very write
        this.#o.onRetry?.(err, `create ${record.id}`);
      } else if (!isRevisionConflict(err)) throw err;
    }
    try {
      const revision = await retryTransient(() => this.kv.create(record.id, data), {
        onRetry: (err) => {
          retried = true;
          this.#o.onRetry?.(err, `create ${record.id}`);
        },
      });
      this.#o.onWrite?.(record, revision, false);
      return revision;
    } catch (err) {
      if (!isRevisionConflict(err)) throw err;
      const stored = retried ? await this.get(record.id) : null;
      // The same creation (a later write may have moved the record on since).
      if (
        stored !== null &&
        stored.record.createdAt === record.createdAt &&
        stored.record.idempotencyKey === record.idempotencyKey &&
        stored.record.type === record.type
      )
        return stored.revision;
      throw new DroverError(ErrorCode.Conflict, `task ${record.id} exists`, { cause: err });
    }
  }

  async get(id: string): Promise<StoredTask | null> {
    const r = await this.lookup(id);
    return "record" in r ? r : null;
  }

  /**
   * Reads many records in one request (a batch direct get of the latest message of each key);
   * ids without a live record are left out. Where the server cannot batch (before 2.11), or
   * the batch fails, each record is read on its own.
   */
  async getMany(ids: readonly string[]): Promise<Map<string, StoredTask>> {
    const found = new Map<string, StoredTask>();
    if (ids.length === 0) return found;
    const prefix = `$KV.${this.#o.bucket}.`;
    try {
      const jsm = await this.#o.js.jetstreamManager();
      const iter = await jsm.direct.getLastMessagesFor(`KV_${this.#o.bucket}`, {
        multi_last: ids.map((id) => prefix + id),
      });
      for await (const m of iter) {
        // Deletes and expiry markers carry headers and no record.
        const h = m.header;
        if (m.data.length === 0 || h?.get("KV-Operation") || h?.get("Nats-Marker-Reason")) continue;
        found.set(m.subject.slice(prefix.length), {
          record: TaskStore.decode(m.data),
          revision: m.seq,
        });
      }
      return found;
    } catch (err) {
      this.#o.onRetry?.(err, `batch get of ${ids.length} records (reading one by one)`);
      found.clear();
    }
    await Promise.all(
      ids.map(async (id) => {
        const r = await this.get(id);
        if (r !== null) found.set(id, r);
      }),
    );
    return found;
  }

  /**
   * Reads a record, or says why there is none: `expired` while the server's expiry marker is
   * still there (it is kept for a while after a finished record's retention ran out).
   */
  async lookup(id: string): Promise<StoredTask | { missing: "expired" | "unknown" }> {
    const e = await retryTransient(() => this.kv.get(id), {
      onRetry: (err) => this.#o.onRetry?.(err, `get ${id}`),
    });
    if (e === null) return { missing: "unknown" };
    // nats.js reports the server's expiry marker as a PURGE; Drover never purges a record
    // itself, so a PURGE is an expiry (or an operator's `nats kv purge`).
    if (e.operation !== "PUT") return { missing: e.operation === "PURGE" ? "expired" : "unknown" };
    return { record: TaskStore.decode(e.value), revision: e.revision };
  }

  /**
   * Writes `next` over `revision` (compare-and-set). A finished record carries its retention
   * as the message's TTL, so the server removes it (and leaves an expiry marker); any other
   * record is written without one, so a re-run task is kept until it finishes again.
   */
  async #write(next: TaskRecord, revision: number, onRetry: () => void): Promise<number> {
    const retry = {
      onRetry: (err: unknown) => (onRetry(), this.#o.onRetry?.(err, `write ${next.id}`)),
    };
    const subject = `$KV.${this.#o.bucket}.${next.id}`;
    const data = encode(next);
    this.#o.onWriting?.(next, data);
    if (!TERMINAL.has(next.state)) {
      const ack = await retryTransient(
        () => this.#publish(subject, data, { expectLastSubjectSequence: revision }),
        retry,
      );
      return ack.seq;
    }
    // The index entry first: no finished record without one (see finished-index.ts).
    await this.#o.finished?.add(next, this.retentionOf(next));
    const ttl = ttlHeader(this.retentionOf(next));
    const ack = await retryTransient(
      () => this.#publish(subject, data, { expectLastSubjectSequence: revision, ttl }),
      retry,
    );
    return ack.seq;
  }

  /** Keeps a task's idempotency entry alive while it runs, and expiring after it once finished. */
  async #followIdempotency(before: TaskRecord, after: TaskRecord): Promise<void> {
    const key = after.idempotencyKey;
    const wasDone = TERMINAL.has(before.state);
    const isDone = TERMINAL.has(after.state);
    if (key === null || wasDone === isDone) return;
    const entry = {
      id: after.id,
      at: after.createdAt,
      ...(isDone ? { finishedAt: after.updatedAt } : {}),
    };
    try {
      await putIdempotencyEntry(
        this.#o.js,
        this.#o.idempotencyBucket,
        key,
        entry,
        isDone ? Math.max(this.retentionOf(after), this.#retentionMs) : null,
      );
    } catch (err) {
      // The record is written; a key left without its TTL only lives longer than needed.
      this.#o.onRetry?.(err, `idempotency entry of ${after.id}`);
    }
  }

  /**
   * Applies a machine event with compare-and-set. `event` is computed from the current record
   * (so the caller can check who holds it); returning null skips. On a revision conflict the
   * record is read again and the event re-evaluated, so a concurrent change is never lost and
   * an event that became illegal is refused.
   */
  async apply(
    id: string,
    event: (record: TaskRecord) => TaskEvent | null,
    opts: { known?: StoredTask; countStale?: boolean } = {},
  ): Promise<ApplyOutcome> {
    let current = opts.known ?? null;
    // A cached copy (e.g. from the mirror) may lag: a refusal decided on it is re-checked
    // against a fresh read before it is believed.
    let cached = current !== null;
    for (let attempt = 0; attempt < 20; attempt++) {
      if (current === null) {
        current = await this.get(id);
        cached = false;
      }
      if (current === null)
        return { ok: false, reason: `task ${id} not found`, stale: false, record: null };
      const ev = event(current.record);
      if (ev === null && cached) {
        current = null;
        continue;
      }
      if (ev === null)
        return { ok: false, reason: "skipped", stale: false, record: current.record };
      const res = applyTaskEvent(current.record, ev);
      let next: TaskRecord;
      if (!res.ok && cached) {
        current = null;
        continue;
      }
      if (!res.ok) {
        // A report for an older epoch is stale even when the state alone refuses it (a late
        // result for a task that has since finished elsewhere).
        const stale = res.stale || ("epoch" in ev && ev.epoch !== current.record.epoch);
        if (!(stale && opts.countStale === true)) return { ...res, stale, record: current.record };
        next = recordRefusedReport(current.record, ev.at);
      } else {
        if (!res.changed)
          return { ok: true, record: current.record, revision: current.revision, changed: false };
        next = res.record;
      }
      let retried = false;
      let revision: number | null = null;
      try {
        revision = await this.#write(next, current.revision, () => (retried = true));
        this.#o.onWrite?.(next, revision, true);
      } catch (err) {
        if (!isRevisionConflict(err)) throw err;
        // A write that was retried may conflict with its own first attempt, which landed
        // although it timed out: that is success, not someone else's write.
        const fresh = retried ? await this.get(id) : null;
        if (fresh !== null && landed(current.record, next, fresh.record)) revision = fresh.revision;
      }
      if (revision === null) {
        current = null; // someone else wrote first: re-read and re-decide
        continue;
      }
      if (!res.ok) return { ...res, stale: true, record: next };
      if (next.state !== current.record.state) {
        this.#o.onTransition?.(current.record, next, ev.type);
        await this.#followIdempotency(current.record, next);
      }
      return { ok: true, record: next, revision, changed: true };
    }
    throw new DroverError(ErrorCode.Conflict, `task ${id}: too many concurrent updates`, {
      retryable: true,
    });
  }
}

/**
 * Whether `fresh` (read after a retried write of `next` over `before` was refused) already
 * holds that write: it is `next`, or it has moved on from `next` (a state change leaves a
 * history entry, which later writes keep).
 */
export function landed(before: TaskRecord, next: TaskRecord, fresh: TaskRecord): boolean {
  if (isDeepStrictEqual(fresh, next)) return true;
  const entry = next.history.at(-1);
  return (
    next.state !== before.state &&
    entry !== undefined &&
    fresh.history.some((h) => isDeepStrictEqual(h, entry))
  );
}
