/**
 * The index of finished tasks: a stream with one small entry per finish, on a subject made of
 * the state and the (encoded) type, in the order the tasks finished. Scheduler replicas keep
 * no memory of finished tasks; listing them reads this index, and then the records themselves
 * from KV, a page at a time.
 *
 * The entry is written *before* the finished record, so no finished record lacks one; an
 * entry whose record write then failed (or that a later re-run and finish superseded) does not
 * match its record and is skipped when read. An entry expires with its record (its TTL is the
 * record's retention), and a resend within two minutes is recognised by its message id.
 */
import type { JetStreamClient, JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import type { Subjects, TaskRecord, TaskState } from "../protocol/index.ts";
import { encode, TERMINAL_STATES } from "../protocol/index.ts";
import { ttlHeader } from "./idempotency.ts";
import type { PublishFn } from "./js-publisher.ts";
import { jsPublish } from "./js-publisher.ts";
import { retryTransient } from "./kv-util.ts";

/** One finish, as the index keeps it. */
export interface FinishedEntry {
  id: string;
  state: TaskState;
  type: string;
  createdAt: number;
  finishedAt: number;
  /** The entry's stream sequence (the list cursor). */
  seq: number;
}

const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_STATES);

/** When a finished record says it finished (older records may lack `finishedAt`). */
export function finishedAtOf(r: TaskRecord): number {
  return r.finishedAt ?? r.updatedAt;
}

function parseEntry(m: StoredMsg): FinishedEntry | null {
  try {
    const v = m.json<Partial<FinishedEntry>>();
    if (
      typeof v.id !== "string" ||
      typeof v.state !== "string" ||
      !TERMINAL.has(v.state) ||
      typeof v.type !== "string" ||
      typeof v.createdAt !== "number" ||
      typeof v.finishedAt !== "number"
    )
      return null;
    return {
      id: v.id,
      state: v.state,
      type: v.type,
      createdAt: v.createdAt,
      finishedAt: v.finishedAt,
      seq: m.seq,
    };
  } catch {
    return null;
  }
}

export class FinishedIndex {
  readonly #js: JetStreamClient;
  readonly #stream: string;
  readonly #subjects: Subjects;
  #jsm: Promise<JetStreamManager> | null = null;

  readonly #publish: PublishFn;

  constructor(js: JetStreamClient, stream: string, subjects: Subjects, publish?: PublishFn) {
    this.#js = js;
    this.#stream = stream;
    this.#subjects = subjects;
    this.#publish = publish ?? jsPublish(js);
  }

  /** Records that `record` (about to be written, finished) finished; kept for `ttlMs`. */
  async add(record: TaskRecord, ttlMs: number): Promise<void> {
    const finishedAt = finishedAtOf(record);
    const entry = {
      id: record.id,
      state: record.state,
      type: record.type,
      createdAt: record.createdAt,
      finishedAt,
    };
    await retryTransient(() =>
      this.#publish(this.#subjects.finished(record.state, record.type), encode(entry), {
        msgID: `${record.id}:${finishedAt}`,
        ttl: ttlHeader(ttlMs),
      }),
    );
  }

  /**
   * Up to `batch` entries on `filter` (a {@link Subjects.finishedFilter}), from stream
   * sequence `fromSeq` or, without one, from `fromTime` (epoch ms) or the start. `more` says
   * whether entries remain after the last one returned.
   */
  async scan(o: {
    filter: string;
    fromSeq?: number;
    fromTime?: number;
    batch: number;
  }): Promise<{ entries: FinishedEntry[]; more: boolean }> {
    const jsm = await this.#manager();
    const start =
      o.fromSeq !== undefined
        ? { seq: o.fromSeq }
        : o.fromTime !== undefined
          ? { start_time: new Date(o.fromTime) }
          : { seq: 1 };
    const entries: FinishedEntry[] = [];
    let pending = 0;
    let read = 0;
    try {
      const iter = await jsm.direct.getBatch(this.#stream, {
        ...start,
        batch: o.batch,
        next_by_subj: o.filter,
      });
      for await (const m of iter) {
        read++;
        pending = m.pending;
        const e = parseEntry(m);
        if (e !== null) entries.push(e);
      }
    } catch (err) {
      // The server answers a batch with nothing to return with status 404.
      if ((err as { code?: unknown }).code !== 404) throw err;
    }
    return { entries, more: read > 0 && pending > 0 };
  }

  /** Entries held, by state (a task re-run and finished again counts once per finish). */
  async counts(): Promise<Partial<Record<TaskState, number>>> {
    const jsm = await this.#manager();
    const info = await jsm.streams.info(this.#stream, {
      subjects_filter: this.#subjects.finishedWildcard,
    });
    const counts: Partial<Record<TaskState, number>> = {};
    const base = this.#subjects.finishedWildcard.length - 1; // "<p>.finished." length
    for (const [subject, n] of Object.entries(info.state.subjects ?? {})) {
      const state = subject.slice(base, subject.indexOf(".", base)) as TaskState;
      if (TERMINAL.has(state)) counts[state] = (counts[state] ?? 0) + n;
    }
    return counts;
  }

  #manager(): Promise<JetStreamManager> {
    this.#jsm ??= this.#js.jetstreamManager();
    return this.#jsm;
  }
}
