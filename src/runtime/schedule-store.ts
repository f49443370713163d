/**
 * The schedules bucket, mirrored by every replica (key: the schedule's id), with the writes
 * that change it. Every write is a compare-and-set on the revision read: a user's change and
 * the leader's record of what it fired never overwrite each other; the loser reads again.
 */
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { Logger } from "pino";
import { checkScheduleSpec, newScheduleRecord, tickAfterUpdate } from "../actors/index.ts";
import type {
  PutScheduleRequest,
  ScheduleRecord,
  ScheduleSpec,
  ScheduleState,
} from "../protocol/index.ts";
import {
  decode,
  DroverError,
  encode,
  ErrorCode,
  MAX_SCHEDULE_BYTES,
  MAX_SCHEDULES,
  RECENT_RUNS,
  ScheduleRecord as ScheduleRecordSchema,
} from "../protocol/index.ts";
import { isRevisionConflict, retryTransient, watchForever } from "./kv-util.ts";

/** A schedule's record and the revision it was read at. */
export interface StoredSchedule {
  record: ScheduleRecord;
  revision: number;
}

/** Compare-and-set attempts of one change before it gives up (each reads the record again). */
const CAS_ATTEMPTS = 10;

export class ScheduleStore {
  readonly #kv: KV;
  readonly #log: Logger;
  readonly #byId = new Map<string, StoredSchedule>();
  readonly #listeners = new Set<(id: string) => void>();
  #watch: { stop(): void } | null = null;

  constructor(kv: KV, log: Logger) {
    this.#kv = kv;
    this.#log = log;
  }

  /** Resolves once every current schedule is held. */
  async start(): Promise<void> {
    const watch = watchForever(
      this.#kv,
      (e) => this.#onEntry(e),
      (err) => this.#log.warn({ err: err.message }, "schedules watch failed"),
    );
    this.#watch = watch;
    await watch.caughtUp;
  }

  stop(): void {
    this.#watch?.stop();
  }

  /** Calls `l` with a schedule's id after every change the watch delivers; returns the unsubscribe. */
  onChange(l: (id: string) => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  /** Every schedule, by id. */
  all(): ScheduleRecord[] {
    return [...this.#byId.values()]
      .map((s) => s.record)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Every schedule, in no order (cheaper than {@link all} for a look over them). */
  *records(): IterableIterator<ScheduleRecord> {
    for (const s of this.#byId.values()) yield s.record;
  }

  /** The schedule as this replica last saw it. */
  held(id: string): StoredSchedule | undefined {
    return this.#byId.get(id);
  }

  get size(): number {
    return this.#byId.size;
  }

  /** The schedule as stored now (a read, not the mirror); null when there is none. */
  async read(id: string): Promise<StoredSchedule | null> {
    const e = await retryTransient(() => this.#kv.get(id));
    if (e === null || e.operation !== "PUT") return null;
    return { record: decode(ScheduleRecordSchema, e.value), revision: e.revision };
  }

  #onEntry(e: KvWatchEntry): void {
    const held = this.#byId.get(e.key);
    if (held !== undefined && held.revision >= e.revision) return;
    if (e.operation !== "PUT") this.#byId.delete(e.key);
    else
      try {
        this.#byId.set(e.key, {
          record: decode(ScheduleRecordSchema, e.value),
          revision: e.revision,
        });
      } catch (err) {
        this.#log.warn(
          { key: e.key, err: (err as Error).message },
          "schedule entry fails its schema",
        );
        return;
      }
    for (const l of this.#listeners) l(e.key);
  }

  /** Takes a write of this replica's into the mirror at once (the watch's copy is then old). */
  #took(record: ScheduleRecord, revision: number): StoredSchedule {
    const s = { record, revision };
    const held = this.#byId.get(record.id);
    if (held === undefined || held.revision < revision) {
      this.#byId.set(record.id, s);
      for (const l of this.#listeners) l(record.id);
    }
    return s;
  }

  /**
   * Creates a schedule.
   * @throws DroverError `conflict` when the id is taken, `validation_failed` for a cron
   * expression that cannot be read or never fires.
   */
  async create(req: PutScheduleRequest, now = Date.now()): Promise<ScheduleRecord> {
    const spec = specOf(req);
    checkScheduleSpec(spec, now);
    const record = newScheduleRecord(req.id, spec, now);
    if (this.#byId.size >= MAX_SCHEDULES && !this.#byId.has(req.id))
      throw new DroverError(
        ErrorCode.CapacityExhausted,
        `${MAX_SCHEDULES} schedules exist, the most one installation holds: delete one first`,
      );
    const data = sized(record);
    try {
      const revision = await retryTransient(() => this.#kv.create(req.id, data));
      return this.#took(record, revision).record;
    } catch (err) {
      if (!isRevisionConflict(err)) throw err;
      throw new DroverError(
        ErrorCode.Conflict,
        `schedule ${req.id} exists: change it with schedules.update, or delete it first`,
      );
    }
  }

  /**
   * Replaces a schedule's spec; what it fired is kept. Ticks of the new spec before now are not
   * owed (a single time not yet handled still is).
   */
  async update(req: PutScheduleRequest, now = Date.now()): Promise<ScheduleRecord> {
    const spec = specOf(req);
    checkScheduleSpec(spec, now);
    return await this.#change(req.id, (rec) => {
      const done = spec.maxRuns !== undefined && rec.state.runs >= spec.maxRuns;
      return {
        ...rec,
        spec,
        updatedAt: now,
        state: {
          ...rec.state,
          nextTick: done ? null : tickAfterUpdate(spec, rec.createdAt, rec.state.lastTick, now),
          buffered: done ? null : rec.state.buffered,
        },
      };
    });
  }

  /**
   * Pauses or resumes a schedule. A resumed schedule's ticks that passed while it was paused
   * are missed ticks: its catch-up window and policy decide.
   */
  async setPaused(id: string, paused: boolean, now = Date.now()): Promise<ScheduleRecord> {
    return await this.#change(id, (rec) => ({ ...rec, paused, updatedAt: now }));
  }

  /** Deletes a schedule (its tasks are not touched). @throws DroverError `not_found`. */
  async delete(id: string): Promise<void> {
    if ((await this.read(id)) === null) throw notFound(id);
    await retryTransient(() => this.#kv.delete(id));
    this.#byId.delete(id);
  }

  /**
   * Records what the leader fired, over the revision it planned from. False when the record
   * changed or went since (the caller reads it again and plans anew).
   */
  async writeState(held: StoredSchedule, state: ScheduleState): Promise<StoredSchedule | false> {
    const record: ScheduleRecord = { ...held.record, state };
    try {
      const revision = await retryTransient(() =>
        this.#kv.update(record.id, encode(record), held.revision),
      );
      return this.#took(record, revision);
    } catch (err) {
      if (isRevisionConflict(err)) return false;
      throw err;
    }
  }

  async #change(id: string, fn: (rec: ScheduleRecord) => ScheduleRecord): Promise<ScheduleRecord> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const cur = await this.read(id);
      if (cur === null) throw notFound(id);
      const next = fn(cur.record);
      const data = sized(next);
      try {
        const revision = await retryTransient(() => this.#kv.update(id, data, cur.revision));
        return this.#took(next, revision).record;
      } catch (err) {
        if (!isRevisionConflict(err)) throw err;
      }
    }
    throw new DroverError(
      ErrorCode.Conflict,
      `schedule ${id} kept changing while this change was written; retry`,
      { retryable: true },
    );
  }
}

function specOf(req: PutScheduleRequest): ScheduleSpec {
  const { v: _v, id: _id, ...spec } = req;
  return spec;
}

/**
 * A record's bytes, refused when over {@link MAX_SCHEDULE_BYTES}: ten recent runs take under a
 * kilobyte, so a record that fits when created keeps fitting as it fires.
 */
function sized(record: ScheduleRecord): Uint8Array {
  const data = encode(record);
  if (data.length > MAX_SCHEDULE_BYTES - RECENT_RUNS * 100)
    throw new DroverError(
      ErrorCode.PayloadTooLarge,
      `schedule ${record.id} is ${data.length} bytes as stored; the most is ${MAX_SCHEDULE_BYTES - RECENT_RUNS * 100} (make its task's payload smaller)`,
    );
  return data;
}

function notFound(id: string): DroverError {
  return new DroverError(ErrorCode.NotFound, `schedule ${id} not found`);
}
