/**
 * The durable task records: one KV entry per task, written only through the task machine and
 * only with compare-and-set on the entry's revision. Two writers (an old and a new leader, an
 * API replica and the leader) can never both apply an event to the same revision.
 */
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
} from "../protocol/index.ts";
import { isRevisionConflict, retryTransient } from "./kv-util.ts";

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

export class TaskStore {
  readonly kv: KV;
  readonly #onTransition: TransitionListener | undefined;
  readonly #onRetry: ((err: unknown, what: string) => void) | undefined;
  constructor(
    kv: KV,
    onTransition?: TransitionListener,
    onRetry?: (err: unknown, what: string) => void,
  ) {
    this.kv = kv;
    this.#onTransition = onTransition;
    this.#onRetry = onRetry;
  }

  /** Decodes a stored value; a record that fails its schema is reported, never guessed at. */
  static decode(value: Uint8Array): TaskRecord {
    return decode(TaskRecord, value, { maxBytes: MAX_MESSAGE_BYTES });
  }

  /** Creates a record; resolves to its revision. Throws `conflict` when the id exists. */
  async create(record: TaskRecord): Promise<number> {
    try {
      return await retryTransient(() => this.kv.create(record.id, encode(record)), {
        onRetry: (err) => this.#onRetry?.(err, `create ${record.id}`),
      });
    } catch (err) {
      if (isRevisionConflict(err))
        throw new DroverError(ErrorCode.Conflict, `task ${record.id} exists`, { cause: err });
      throw err;
    }
  }

  async get(id: string): Promise<StoredTask | null> {
    const e = await retryTransient(() => this.kv.get(id), {
      onRetry: (err) => this.#onRetry?.(err, `get ${id}`),
    });
    if (e === null || e.operation !== "PUT") return null;
    return { record: TaskStore.decode(e.value), revision: e.revision };
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
      try {
        const revision = await retryTransient(() =>
          this.kv.update(id, encode(next), current!.revision),
        );
        if (!res.ok) return { ...res, stale: true, record: next };
        if (next.state !== current.record.state)
          this.#onTransition?.(current.record, next, ev.type);
        return { ok: true, record: next, revision, changed: true };
      } catch (err) {
        if (!isRevisionConflict(err)) throw err;
        current = null; // someone else wrote first: re-read and re-decide
      }
    }
    throw new DroverError(ErrorCode.Conflict, `task ${id}: too many concurrent updates`, {
      retryable: true,
    });
  }
}
