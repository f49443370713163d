/**
 * The tasks a worker runs, as an immutable map whose updates copy little.
 *
 * The worker machine is pure: each step returns a new context and leaves the old one as it
 * was. With `running` as a plain object, every assignment and every finish copied all of it,
 * so a worker with a thousand tasks running spent about half a millisecond per task on its own
 * bookkeeping. Here the entries are spread over 256 buckets by a hash of the task id; an update
 * copies the list of buckets (256 references) and the one bucket it changes (on average a
 * 256th of the entries), and shares the rest with the snapshot before it. `npm run
 * bench:machines` times it: an assignment and a finish cost 10–18 µs with up to 1,000 tasks
 * running and 29–40 µs with 10,000 (a plain object copied on every step: 605 µs with 1,000).
 */
import type { Resources } from "../protocol/index.ts";

/** A task the worker is running: the assignment epoch and the resources it holds. */
export interface RunningTask {
  epoch: number;
  resources: Resources;
  startedAt: number;
}

const BUCKETS = 256;

type Bucket = Readonly<Record<string, RunningTask>>;

/** FNV-1a over the id's code units, to a bucket index. */
function bucketOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % BUCKETS;
}

const EMPTY_BUCKET: Bucket = Object.freeze({});

export class RunningTasks {
  static readonly empty = new RunningTasks(
    Object.freeze(new Array<Bucket>(BUCKETS).fill(EMPTY_BUCKET)),
    0,
  );

  readonly #buckets: readonly Bucket[];
  readonly size: number;

  private constructor(buckets: readonly Bucket[], size: number) {
    this.#buckets = buckets;
    this.size = size;
  }

  get(id: string): RunningTask | undefined {
    const b = this.#buckets[bucketOf(id)]!;
    return Object.hasOwn(b, id) ? b[id] : undefined;
  }

  has(id: string): boolean {
    return Object.hasOwn(this.#buckets[bucketOf(id)]!, id);
  }

  /** A map with `id` set to `task` (added, or replacing the entry it had). */
  with(id: string, task: RunningTask): RunningTasks {
    const i = bucketOf(id);
    const b = this.#buckets[i]!;
    const added = Object.hasOwn(b, id) ? 0 : 1;
    const buckets = this.#buckets.slice();
    buckets[i] = Object.freeze({ ...b, [id]: task });
    return new RunningTasks(buckets, this.size + added);
  }

  /** A map without `id` (this one if it has no such entry). */
  without(id: string): RunningTasks {
    const i = bucketOf(id);
    const b = this.#buckets[i]!;
    if (!Object.hasOwn(b, id)) return this;
    // Copied key by key (a spread then `delete` leaves a slow dictionary-mode object), into an
    // object without a prototype, so that an entry named `__proto__` stays an entry.
    const rest = Object.create(null) as Record<string, RunningTask>;
    for (const k in b) if (k !== id) rest[k] = b[k]!;
    const buckets = this.#buckets.slice();
    buckets[i] = Object.freeze(rest);
    return new RunningTasks(buckets, this.size - 1);
  }

  /** Every entry (in no particular order). */
  *entries(): IterableIterator<[string, RunningTask]> {
    for (const b of this.#buckets) for (const id in b) yield [id, b[id]!];
  }

  /** The entries as a plain object (for tests, logs and JSON). */
  toRecord(): Record<string, RunningTask> {
    return Object.fromEntries(this.entries());
  }

  toJSON(): Record<string, RunningTask> {
    return this.toRecord();
  }
}
