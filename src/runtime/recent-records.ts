/**
 * Full records of the tasks written most recently, up to a budget of their encoded size.
 *
 * A scheduler replica's mirror keeps a small row per task, not its record (see
 * task-table.ts); the leader needs the whole record to write the next version of it. Most
 * assignments and reports concern a task written moments before, so the latest records are
 * kept at hand, and only an older task's record is read back from KV. The budget counts the
 * records' JSON bytes (a decoded record takes about 1.3 times its JSON on the heap), so one
 * large payload takes the room of many small ones, and the default keeps about 16,000
 * records of a kilobyte: a backlog of that many queued tasks is dispatched without reading any
 * of them back.
 */
import type { StoredTask } from "./task-store.ts";

/** The default budget: 16 MiB of encoded records. */
export const RECENT_RECORD_BYTES = 16 * 1024 * 1024;

export class RecentRecords {
  readonly #records = new Map<string, { stored: StoredTask; bytes: number }>();
  readonly #budget: number;
  #bytes = 0;

  constructor(budgetBytes = RECENT_RECORD_BYTES) {
    this.#budget = budgetBytes;
  }

  /** Records kept. */
  get size(): number {
    return this.#records.size;
  }

  /** Their encoded size together. */
  get bytes(): number {
    return this.#bytes;
  }

  get(id: string): StoredTask | undefined {
    return this.#records.get(id)?.stored;
  }

  /** Keeps `stored` (`bytes` long encoded) as the newest; the oldest go past the budget. */
  set(id: string, stored: StoredTask, bytes: number): void {
    this.delete(id);
    this.#records.set(id, { stored, bytes });
    this.#bytes += bytes;
    while (this.#bytes > this.#budget && this.#records.size > 1) {
      const oldest = this.#records.keys().next();
      if (oldest.done === true) break;
      this.delete(oldest.value);
    }
  }

  delete(id: string): void {
    const e = this.#records.get(id);
    if (e === undefined) return;
    this.#records.delete(id);
    this.#bytes -= e.bytes;
  }
}
