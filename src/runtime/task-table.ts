/**
 * Every task a scheduler replica knows, in columns: one row ("slot") per task, each field in a
 * typed array, so a million tasks cost about 150 bytes each and — apart from their id strings —
 * no objects for the garbage collector to trace. Shapes and worker ids are stored as small
 * numbers into shared tables; the placement reason only for queued tasks that have one; the
 * times that arm a timer (`runAt`, `nextRunAt`, `assignedAt`, `startedAt`) only for tasks in
 * a state that has one (delayed, retrying, assigned, running).
 *
 * Nothing grows by copying everything it holds: rows live in fixed-size chunks, and ids are
 * spread over many small maps, so a replica's event loop never stops to copy or rehash a
 * million entries at once.
 *
 * Rows are read as short-lived {@link MirrorTask} copies (`get`, `at`) or field by field on hot
 * paths (the queue's order, listing scans). Slots of deleted tasks are reused.
 */
import type { Shape } from "../actors/index.ts";
import { Interner, shapeKey } from "../actors/index.ts";
import type { TaskRecord, TaskState } from "../protocol/index.ts";
import { TASK_STATES } from "../protocol/index.ts";
import type { MirrorTask } from "./mirror-task.ts";

const STATE_INDEX = new Map<TaskState, number>(TASK_STATES.map((s, i) => [s, i]));
const NONE = -1;
const CHUNK_BITS = 14;
/** Rows per chunk (16,384: about 1 MB of columns). */
const CHUNK = 1 << CHUNK_BITS;
const ROW = CHUNK - 1;
/** Maps the ids are spread over (by a hash of their last characters). */
const ID_MAPS = 256;
/** States whose timer needs one of the four times. */
const TIMED: ReadonlySet<TaskState> = new Set(["delayed", "retrying", "assigned", "running"]);
const MAX_TIMEOUT = 0xffff_ffff;

/** The times a timed task's timer is derived from. */
interface Times {
  runAt: number | null;
  nextRunAt: number | null;
  assignedAt: number | null;
  startedAt: number | null;
}
const NO_TIMES: Times = { runAt: null, nextRunAt: null, assignedAt: null, startedAt: null };

/** One chunk of rows. */
class Rows {
  readonly ids: (string | undefined)[] = new Array<string | undefined>(CHUNK).fill(undefined);
  readonly keys: (string | null)[] = new Array<string | null>(CHUNK).fill(null);
  readonly state = new Uint8Array(CHUNK);
  readonly priority = new Int32Array(CHUNK);
  readonly shape = new Int32Array(CHUNK);
  readonly worker = new Int32Array(CHUNK).fill(NONE);
  readonly submitter = new Int32Array(CHUNK).fill(NONE);
  readonly epoch = new Uint32Array(CHUNK);
  readonly timeoutMs = new Uint32Array(CHUNK);
  readonly revision = new Float64Array(CHUNK);
  readonly createdAt = new Float64Array(CHUNK);
  readonly updatedAt = new Float64Array(CHUNK);
}

/** Which of the id maps holds `id`. */
function idMap(id: string): number {
  const n = id.length;
  return (id.charCodeAt(n - 1) * 31 + (n > 1 ? id.charCodeAt(n - 2) : 0)) & (ID_MAPS - 1);
}

export class TaskTable {
  readonly #slotOf: Map<string, number>[] = Array.from(
    { length: ID_MAPS },
    () => new Map<string, number>(),
  );
  readonly #chunks: Rows[] = [];
  readonly #reasons = new Map<number, string>();
  readonly #times = new Map<number, Times>();
  readonly #counts: number[] = TASK_STATES.map(() => 0);
  /** Tasks held per type, per state (indexed like {@link TASK_STATES}). */
  readonly #typeCounts = new Map<string, number[]>();
  readonly #shapes = new Interner<Shape>();
  readonly #workers = new Interner<string>();
  /** Named submitters, each counted once per task held (their unfinished tasks). */
  readonly #submitters = new Interner<string>();
  /** Slots of deleted tasks, to reuse. */
  #free: number[] = [];
  /** Free slots that may not be reused yet (see the constructor). */
  #parked: number[] = [];
  readonly #reusable: (slot: number) => boolean;
  /** Slots handed out so far (the high-water mark; some may be free). */
  #used = 0;
  #size = 0;

  /**
   * @param reusable whether the slot of a deleted task may hold another task now (the queue
   *   index may still refer to it; see `QueueIndex.references`).
   */
  constructor(reusable: (slot: number) => boolean = () => true) {
    this.#reusable = reusable;
  }

  /** Tasks held. */
  get size(): number {
    return this.#size;
  }

  /** Tasks held in one state. */
  count(state: TaskState): number {
    return this.#counts[STATE_INDEX.get(state)!]!;
  }

  /** Tasks held by type and state (types with no task held left out). */
  *countsByType(): IterableIterator<{ type: string; state: TaskState; count: number }> {
    for (const [type, counts] of this.#typeCounts)
      for (let i = 0; i < counts.length; i++)
        if (counts[i]! > 0) yield { type, state: TASK_STATES[i]!, count: counts[i]! };
  }

  #countType(type: string, state: number, by: 1 | -1): void {
    let counts = this.#typeCounts.get(type);
    if (counts === undefined) {
      counts = TASK_STATES.map(() => 0);
      this.#typeCounts.set(type, counts);
    }
    counts[state] = (counts[state] ?? 0) + by;
    if (by < 0 && counts.every((n) => n === 0)) this.#typeCounts.delete(type);
  }

  /** Tasks held (unfinished ones, in a replica's mirror) that named submitter `name` submitted. */
  heldBy(name: string): number {
    return this.#submitters.uses(name);
  }

  /** Shapes in use by the tasks held. */
  get shapeCount(): number {
    return this.#shapes.size;
  }

  slotOf(id: string): number | undefined {
    return this.#slotOf[idMap(id)]!.get(id);
  }

  has(id: string): boolean {
    return this.slotOf(id) !== undefined;
  }

  /** A copy of a task's row, or undefined when the table does not hold it. */
  get(id: string): MirrorTask | undefined {
    const slot = this.slotOf(id);
    return slot === undefined ? undefined : this.at(slot);
  }

  /** The revision of the record the table holds for a task. */
  revisionOf(id: string): number | undefined {
    const slot = this.slotOf(id);
    return slot === undefined ? undefined : this.#rows(slot).revision[slot & ROW];
  }

  /** A copy of the row in `slot` (which must hold a task). */
  at(slot: number): MirrorTask {
    const c = this.#rows(slot);
    const i = slot & ROW;
    const shape = this.shapeAt(slot);
    const worker = c.worker[i]!;
    const times = this.#times.get(slot) ?? NO_TIMES;
    return {
      id: this.idAt(slot),
      revision: c.revision[i]!,
      state: this.stateAt(slot),
      priority: c.priority[i]!,
      createdAt: c.createdAt[i]!,
      updatedAt: c.updatedAt[i]!,
      key: c.keys[i] ?? null,
      shape,
      type: shape.type,
      resources: shape.resources,
      workerId: worker === NONE ? null : this.#workers.get(worker),
      epoch: c.epoch[i]!,
      timeoutMs: c.timeoutMs[i]!,
      runAt: times.runAt,
      nextRunAt: times.nextRunAt,
      assignedAt: times.assignedAt,
      startedAt: times.startedAt,
      placementReason: this.#reasons.get(slot) ?? null,
    };
  }

  idAt(slot: number): string {
    const id = this.#chunks[slot >>> CHUNK_BITS]?.ids[slot & ROW];
    if (id === undefined) throw new Error(`task slot ${slot} is empty`);
    return id;
  }

  /** The worker a task's record names, or null. */
  workerIdAt(slot: number): string | null {
    const worker = this.#rows(slot).worker[slot & ROW]!;
    return worker === NONE ? null : this.#workers.get(worker);
  }

  stateAt(slot: number): TaskState {
    return TASK_STATES[this.#rows(slot).state[slot & ROW]!]!;
  }

  createdAtOf(slot: number): number {
    return this.#rows(slot).createdAt[slot & ROW]!;
  }

  shapeAt(slot: number): Shape {
    return this.#shapes.get(this.#rows(slot).shape[slot & ROW]!);
  }

  /** The scheduling order of two slots: higher priority, then older, then by id. */
  readonly order = (a: number, b: number): number => {
    const ca = this.#rows(a);
    const cb = this.#rows(b);
    const i = a & ROW;
    const j = b & ROW;
    const byPriority = cb.priority[j]! - ca.priority[i]!;
    if (byPriority !== 0) return byPriority;
    const byAge = ca.createdAt[i]! - cb.createdAt[j]!;
    if (byAge !== 0) return byAge;
    const x = ca.ids[i]!;
    const y = cb.ids[j]!;
    return x < y ? -1 : x > y ? 1 : 0;
  };

  /** The slots of the tasks in any of `states`, in slot order (not creation order). */
  *slotsIn(states: readonly TaskState[]): IterableIterator<number> {
    const wanted = new Uint8Array(TASK_STATES.length);
    let expected = 0;
    for (const s of new Set(states)) {
      wanted[STATE_INDEX.get(s)!] = 1;
      expected += this.count(s);
    }
    if (expected === 0) return;
    for (let k = 0; k < this.#chunks.length; k++) {
      const c = this.#chunks[k]!;
      const n = Math.min(CHUNK, this.#used - k * CHUNK);
      for (let i = 0; i < n; i++)
        if (wanted[c.state[i]!] === 1 && c.ids[i] !== undefined) yield k * CHUNK + i;
    }
  }

  /**
   * A page of a list: the first `limit` tasks after `after` in list order (oldest first, then
   * by id) among those in `states`, of `type` if given and created in [since, until), with how
   * many match in all. One pass over the columns, no sort and no copy of the matches, so a page
   * costs the same whatever page it is, and memory does not grow with the number of matches.
   */
  selectPage(o: {
    states: readonly TaskState[];
    type?: string;
    since?: number;
    until?: number;
    after: Listed | null;
    limit: number;
  }): { page: Listed[]; matching: number } {
    const wanted = new Uint8Array(TASK_STATES.length);
    for (const s of o.states) wanted[STATE_INDEX.get(s)!] = 1;
    const since = o.since ?? -Infinity;
    const until = o.until ?? Infinity;
    const page: Listed[] = [];
    let matching = 0;
    for (let k = 0; k < this.#chunks.length; k++) {
      const c = this.#chunks[k]!;
      const n = Math.min(CHUNK, this.#used - k * CHUNK);
      for (let i = 0; i < n; i++) {
        if (wanted[c.state[i]!] !== 1) continue;
        const id = c.ids[i];
        if (id === undefined) continue;
        const createdAt = c.createdAt[i]!;
        if (createdAt < since || createdAt >= until) continue;
        if (o.type !== undefined && this.#shapes.get(c.shape[i]!).type !== o.type) continue;
        if (o.after !== null && compareListed(createdAt, id, o.after) <= 0) continue;
        matching++;
        insertBounded(page, createdAt, id, o.limit);
      }
    }
    return { page, matching };
  }

  /** Stores a task's record (a new task, or a newer version of a known one); its slot. */
  set(r: TaskRecord, revision: number): number {
    let slot = this.slotOf(r.id);
    if (slot === undefined) {
      slot = this.#allocate();
      this.#rows(slot).ids[slot & ROW] = r.id;
      this.#slotOf[idMap(r.id)]!.set(r.id, slot);
      this.#size++;
    } else {
      this.#release(slot);
    }
    const c = this.#rows(slot);
    const i = slot & ROW;
    const state = STATE_INDEX.get(r.state)!;
    this.#counts[state]!++;
    this.#countType(r.type, state, 1);
    c.state[i] = state;
    c.priority[i] = r.priority;
    const key = shapeKey(r.type, r.resources, r.labels);
    c.shape[i] = this.#shapes.acquire(key, () => ({
      id: key,
      type: r.type,
      resources: { ...r.resources },
      labels: { ...r.labels },
    }));
    const workerId = r.workerId;
    c.worker[i] = workerId === null ? NONE : this.#workers.acquire(workerId, () => workerId);
    const submitter = r.submitter;
    c.submitter[i] =
      submitter === undefined ? NONE : this.#submitters.acquire(submitter, () => submitter);
    c.epoch[i] = r.epoch;
    c.timeoutMs[i] = Math.min(r.timeoutMs, MAX_TIMEOUT);
    c.revision[i] = revision;
    c.createdAt[i] = r.createdAt;
    c.updatedAt[i] = r.updatedAt;
    c.keys[i] = r.key;
    if (TIMED.has(r.state)) {
      const { runAt, nextRunAt, assignedAt, startedAt } = r;
      this.#times.set(slot, { runAt, nextRunAt, assignedAt, startedAt });
    }
    const reason = r.state === "queued" ? r.placement?.reason : undefined;
    if (reason !== undefined) this.#reasons.set(slot, reason);
    return slot;
  }

  /** Forgets a task; the slot it had, or undefined when it was not held. */
  delete(id: string): number | undefined {
    const slot = this.slotOf(id);
    if (slot === undefined) return undefined;
    this.#release(slot);
    this.#slotOf[idMap(id)]!.delete(id);
    const c = this.#rows(slot);
    c.ids[slot & ROW] = undefined;
    c.keys[slot & ROW] = null;
    this.#size--;
    this.#free.push(slot);
    return slot;
  }

  #rows(slot: number): Rows {
    const c = this.#chunks[slot >>> CHUNK_BITS];
    if (c === undefined) throw new Error(`task slot ${slot} is out of range`);
    return c;
  }

  /** A slot for a new task: a reusable free one, else a new one. */
  #allocate(): number {
    for (;;) {
      for (let slot = this.#free.pop(); slot !== undefined; slot = this.#free.pop()) {
        if (this.#reusable(slot)) return slot;
        this.#parked.push(slot);
      }
      // Before opening a new chunk, look at the parked slots again.
      const full = this.#used === this.#chunks.length * CHUNK;
      if (full && this.#parked.some((s) => this.#reusable(s))) {
        [this.#free, this.#parked] = [this.#parked, []];
        continue;
      }
      if (full) this.#chunks.push(new Rows());
      return this.#used++;
    }
  }

  /** Lets go of what a held row refers to (its count, shape, worker and submitter, times, reason). */
  #release(slot: number): void {
    const c = this.#rows(slot);
    const i = slot & ROW;
    this.#counts[c.state[i]!]!--;
    this.#countType(this.#shapes.get(c.shape[i]!).type, c.state[i]!, -1);
    this.#shapes.release(c.shape[i]!);
    const worker = c.worker[i]!;
    if (worker !== NONE) this.#workers.release(worker);
    c.worker[i] = NONE;
    const submitter = c.submitter[i]!;
    if (submitter !== NONE) this.#submitters.release(submitter);
    c.submitter[i] = NONE;
    this.#times.delete(slot);
    this.#reasons.delete(slot);
  }
}

/** A task's place in list order: oldest first, then by id. */
export interface Listed {
  createdAt: number;
  id: string;
}

/** Where a task (by creation time and id) comes relative to `b`: negative when before. */
function compareListed(createdAt: number, id: string, b: Listed): number {
  return createdAt - b.createdAt || (id < b.id ? -1 : id > b.id ? 1 : 0);
}

/** Inserts a task into `sorted` (list order), keeping at most `limit` entries. */
function insertBounded(sorted: Listed[], createdAt: number, id: string, limit: number): void {
  const last = sorted.at(-1);
  if (sorted.length >= limit && last !== undefined && compareListed(createdAt, id, last) >= 0)
    return;
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareListed(createdAt, id, sorted[mid]!) > 0) lo = mid + 1;
    else hi = mid;
  }
  sorted.splice(lo, 0, { createdAt, id });
  if (sorted.length > limit) sorted.pop();
}
