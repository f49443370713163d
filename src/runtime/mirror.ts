/**
 * A live in-memory mirror of the tasks and workers buckets, fed by KV watches. Every
 * scheduler replica keeps one (followers stay warm, so a failover starts from a full view),
 * and the API lists unfinished tasks from it. It holds unfinished tasks only: a task that
 * finishes is handed to the listeners once more and then forgotten.
 */
import type { KvEntry, KvWatchEntry } from "@nats-io/kv";
import type { Logger } from "pino";
import { QueueIndex } from "../actors/index.ts";
import {
  decode,
  MAX_MESSAGE_BYTES,
  TaskRecord,
  TERMINAL_STATES,
  WorkerInfo,
} from "../protocol/index.ts";
import { ChangeRing } from "./change-ring.ts";
import { monotonicMs } from "./clock.ts";
import { watchAll } from "./kv-util.ts";
import type { MirrorTask } from "./mirror-task.ts";
import { RecentRecords } from "./recent-records.ts";
import type { Buckets } from "./resources.ts";
import type { StoredTask } from "./task-store.ts";
import { TaskTable } from "./task-table.ts";

const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_STATES);

export interface StoredWorker {
  info: WorkerInfo;
  revision: number;
  /** Local time this heartbeat reached the mirror. */
  seenAt: number;
}

export interface MirrorListener {
  /** A task record changed (created, transitioned). */
  task?(task: MirrorTask): void;
  /**
   * A live change (not the replay of current values when a watch starts), as the full record
   * that was stored (before the mirror compacts it).
   */
  record?(record: TaskRecord): void;
  /** A worker registered or refreshed its heartbeat. `isNew` on first sight. */
  workerUp?(worker: StoredWorker, isNew: boolean): void;
  /** A worker's key was deleted (graceful stop) or purged by its TTL (dead). */
  workerGone?(workerId: string, how: "expired" | "deleted", last: StoredWorker | undefined): void;
}

/** Bytes of a record whose encoded size is unknown (a kilobyte: a small task's record). */
const RECORD_BYTES_GUESS = 1_024;
/** Finished tasks whose last revision is remembered (see {@link Mirror.wrote}). */
const FORGOTTEN_REVISIONS = 16_384;
/** Writes in flight whose watch copy is recognised by its bytes (see {@link Mirror.writing}). */
const PENDING_WRITES = 4_096;

export class Mirror {
  /**
   * Every task the replica knows, in compact form. A deleted task's slot is reused only once
   * the queue index no longer refers to it.
   */
  readonly tasks: TaskTable = new TaskTable((slot) => !this.queue.references(slot));
  /**
   * Queued tasks (by slot in {@link tasks}) by shape, in scheduling order. The leader takes
   * tasks out of it as it dispatches them (see {@link Mirror.requeue}); every replica keeps it
   * warm for failover.
   */
  readonly queue = new QueueIndex(this.tasks.order);
  readonly workers = new Map<string, StoredWorker>();
  /** Which tasks changed lately (a new leader re-publishes their last state change). */
  readonly changes = new ChangeRing();
  /** Active (assigned/running) task ids by worker. */
  readonly byWorker = new Map<string, Set<string>>();
  /**
   * Full records of recently written unfinished tasks: most assignments and reports concern a
   * task written moments before, and a record at hand saves reading it back from KV.
   */
  readonly #recent = new RecentRecords();
  /** The last revision of recently finished (forgotten) tasks, oldest first. */
  readonly #forgotten = new Map<string, number>();
  /** The record and bytes of this process's write in flight, by task id. */
  readonly #pending = new Map<string, { record: TaskRecord; data: Uint8Array }>();
  readonly #listeners = new Set<MirrorListener>();
  readonly #buckets: Buckets;
  readonly #log: Logger;
  readonly #stops = new Map<string, () => void>();
  readonly #heartbeatTtlMs: number;
  #stopped = false;

  constructor(buckets: Buckets, log: Logger, heartbeatTtlMs: number) {
    this.#buckets = buckets;
    this.#log = log;
    this.#heartbeatTtlMs = heartbeatTtlMs;
  }

  listen(l: MirrorListener): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  /** Starts both watches; resolves when both mirrors hold every current value. */
  async start(): Promise<void> {
    const ready = (): { promise: Promise<void>; resolve: () => void } => {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      return { promise, resolve };
    };
    const t = ready();
    const w = ready();
    this.#stopped = false;
    await Promise.all([
      this.#keepWatching("tasks", (e) => this.#onTask(e), t.resolve),
      this.#keepWatching("workers", (e) => this.#onWorker(e), w.resolve),
    ]);
    await Promise.all([t.promise, w.promise]);
    const backstop = setInterval(() => void this.#recheckWorkers(), this.#heartbeatTtlMs);
    this.#stops.set("backstop", () => clearInterval(backstop));
  }

  /**
   * The expiry marker of a heartbeat is the fast path to a dead worker, but a watch that was
   * re-created after a NATS node died resumes after the last message it saw, and the marker
   * may be gone by then (markers have their own TTL). So a worker not heard from for two
   * TTLs is read back: a key that is no longer there counts as expired.
   */
  async #recheckWorkers(): Promise<void> {
    const overdue = [...this.workers.values()].filter(
      (w) => Date.now() - w.seenAt > 2 * this.#heartbeatTtlMs,
    );
    for (const w of overdue) {
      const id = w.info.id;
      const e = await this.#buckets.workers.get(id).catch(() => undefined);
      if (e === undefined || this.#stopped || this.workers.get(id) !== w) continue;
      if (e !== null && e.operation === "PUT") {
        if (e.revision > w.revision) this.#onWorker(e);
        continue;
      }
      this.#log.warn({ workerId: id }, "heartbeat expired without an expiry event; worker gone");
      this.workers.delete(id);
      for (const l of this.#listeners) l.workerGone?.(id, "expired", w);
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const s of this.#stops.values()) s();
    this.#stops.clear();
  }

  /**
   * Watches one bucket for as long as the mirror runs: a watch that ends (a reconnect it did
   * not survive) is started again, and its replay of current values re-syncs the mirror
   * (entries at or below a known revision are ignored).
   */
  async #keepWatching(
    bucket: "tasks" | "workers",
    onEntry: (e: KvWatchEntry) => void,
    onCaughtUp: () => void,
  ): Promise<void> {
    const w = await watchAll(this.#buckets[bucket], onEntry, onCaughtUp);
    this.#stops.set(bucket, () => w.stop());
    void w.done
      .catch((err: unknown) =>
        this.#log.warn({ err: (err as Error).message, bucket }, "mirror watch failed"),
      )
      .then(async () => {
        if (this.#stopped) return;
        this.#log.warn({ bucket }, "mirror watch ended; watching again");
        await new Promise((r) => setTimeout(r, 250));
        if (!this.#stopped) await this.#keepWatching(bucket, onEntry, () => undefined);
      })
      .catch((err: unknown) => this.#log.error({ err, bucket }, "mirror watch could not restart"));
  }

  /**
   * The full record of a task if this replica holds its latest version (a recently written
   * one); undefined means "read it from KV".
   */
  known(id: string): StoredTask | undefined {
    const full = this.#recent.get(id);
    return full !== undefined && full.revision === this.tasks.revisionOf(id) ? full : undefined;
  }

  /**
   * A record this process has just written (its write acknowledged at `revision`): taken in
   * at once, as the watch would a moment later. The watch's own copy of that revision is then
   * skipped without being decoded again.
   */
  wrote(record: TaskRecord, revision: number, isUpdate: boolean): void {
    const pending = this.#pending.get(record.id);
    let bytes = RECORD_BYTES_GUESS;
    if (pending?.record === record) {
      this.#pending.delete(record.id);
      bytes = pending.data.byteLength;
    }
    if (this.#stale(record.id, revision)) return;
    this.#put(record, revision, isUpdate, bytes);
  }

  /**
   * A record this process is about to write, with the exact bytes sent. The watch often
   * delivers a write before its acknowledgement arrives (both leave the server at once): an
   * entry with these very bytes is then this record, taken in without decoding it again.
   * Only an identical byte string is recognised, so any other write is decoded as usual.
   */
  writing(record: TaskRecord, data: Uint8Array): void {
    this.#pending.delete(record.id);
    this.#pending.set(record.id, { record, data });
    // Failed writes are never acknowledged: keep the map bounded, oldest out.
    if (this.#pending.size > PENDING_WRITES) {
      const oldest = this.#pending.keys().next();
      if (oldest.done !== true) this.#pending.delete(oldest.value);
    }
  }

  /** Whether the mirror already holds `revision` of `id`, or a later one. */
  #stale(id: string, revision: number): boolean {
    const known = this.tasks.revisionOf(id) ?? this.#forgotten.get(id);
    return known !== undefined && known >= revision;
  }

  #onTask(e: KvWatchEntry): void {
    if (this.#stale(e.key, e.revision)) return;
    const pending = this.#pending.get(e.key);
    if (pending !== undefined) {
      this.#pending.delete(e.key);
      if (e.operation === "PUT" && sameBytes(pending.data, e.value)) {
        this.#put(pending.record, e.revision, e.isUpdate, e.value.byteLength);
        return;
      }
    }
    if (e.operation !== "PUT") {
      this.#unindex(e.key);
      this.#recent.delete(e.key);
      this.tasks.delete(e.key);
      return;
    }
    let record: TaskRecord;
    try {
      record = decode(TaskRecord, e.value, { maxBytes: MAX_MESSAGE_BYTES });
    } catch (err) {
      this.#log.error({ err, taskId: e.key }, "task record fails its schema; ignored");
      return;
    }
    if (record.id !== e.key) {
      this.#log.error(
        { key: e.key, id: record.id },
        "task record stored under another id; ignored",
      );
      return;
    }
    this.#put(record, e.revision, e.isUpdate, e.value.byteLength);
  }

  /** Takes in `revision` of `record`, `bytes` long encoded. */
  #put(record: TaskRecord, revision: number, isUpdate: boolean, bytes: number): void {
    this.#unindex(record.id);
    this.#recent.delete(record.id);
    this.#forgotten.delete(record.id);
    const slot = this.tasks.set(record, revision);
    this.changes.note(record.id, monotonicMs());
    if (record.state === "queued") this.queue.add(slot, this.tasks.shapeAt(slot));
    const workerId = record.workerId;
    if (workerId !== null && (record.state === "assigned" || record.state === "running")) {
      let s = this.byWorker.get(workerId);
      if (s === undefined) this.byWorker.set(workerId, (s = new Set()));
      s.add(record.id);
    }
    if (!TERMINAL.has(record.state)) {
      this.#recent.set(record.id, { record, revision }, bytes);
    }
    if (this.#listeners.size > 0) {
      const t = this.tasks.at(slot);
      for (const l of this.#listeners) {
        l.task?.(t);
        if (isUpdate) l.record?.(record);
      }
    }
    // A finished task needs nothing more from scheduling: the replica forgets it (lists find
    // it in the finished index, `get` reads it from KV), remembering for a while only the
    // revision it forgot, so that the watch's copy of a write it took in first is skipped.
    if (TERMINAL.has(record.state)) {
      this.tasks.delete(record.id);
      this.#forgotten.set(record.id, revision);
      if (this.#forgotten.size > FORGOTTEN_REVISIONS) {
        const oldest = this.#forgotten.keys().next();
        if (oldest.done !== true) this.#forgotten.delete(oldest.value);
      }
    }
  }

  /**
   * Puts a task back into the queue index if its latest record is queued and it is not there
   * (a dispatch that took it out and then wrote nothing).
   */
  requeue(id: string): void {
    const slot = this.tasks.slotOf(id);
    if (slot !== undefined && this.tasks.stateAt(slot) === "queued" && !this.queue.has(slot))
      this.queue.add(slot, this.tasks.shapeAt(slot));
  }

  /** Takes a known task out of the queue and worker indexes (its record is about to change). */
  #unindex(id: string): void {
    const slot = this.tasks.slotOf(id);
    if (slot === undefined) return;
    this.queue.remove(slot);
    const workerId = this.tasks.workerIdAt(slot);
    if (workerId !== null) {
      const s = this.byWorker.get(workerId);
      s?.delete(id);
      if (s?.size === 0) this.byWorker.delete(workerId);
    }
  }

  #onWorker(e: KvEntry): void {
    const prev = this.workers.get(e.key);
    if (e.operation !== "PUT") {
      if (prev === undefined) return;
      this.workers.delete(e.key);
      // A PURGE written by the server (limit marker) means the heartbeat expired.
      const how = e.operation === "PURGE" ? "expired" : "deleted";
      for (const l of this.#listeners) l.workerGone?.(e.key, how, prev);
      return;
    }
    let info: WorkerInfo;
    try {
      info = decode(WorkerInfo, e.value, { maxBytes: MAX_MESSAGE_BYTES });
    } catch (err) {
      this.#log.warn({ err, workerId: e.key }, "worker heartbeat fails its schema; ignored");
      return;
    }
    const stored = { info, revision: e.revision, seenAt: Date.now() };
    this.workers.set(e.key, stored);
    for (const l of this.#listeners) l.workerUp?.(stored, prev === undefined);
  }
}

/** Whether two byte strings are equal (memcmp, no copies). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return (
    a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)
  );
}
