/**
 * Every task a scheduler replica knows, in columns: one row ("slot") per task, each field in a
 * typed array, so a million tasks cost about 150 bytes each and — apart from their id strings —
 * no objects for the garbage collector to trace. Shapes and worker ids are stored as small
 * numbers into shared tables; the placement reason only for queued tasks that have one.
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

/** Null as NaN in a float column. */
const num = (v: number | null): number => (v === null ? NaN : v);
const orNull = (v: number): number | null => (Number.isNaN(v) ? null : v);

export class TaskTable {
  readonly #slotOf = new Map<string, number>();
  readonly #ids: (string | undefined)[] = [];
  readonly #keys: (string | null)[] = [];
  readonly #reasons = new Map<number, string>();
  /** Slots of deleted tasks, to reuse. */
  #free: number[] = [];
  /** Free slots that may not be reused yet (see the constructor). */
  #parked: number[] = [];
  readonly #reusable: (slot: number) => boolean;
  readonly #counts: number[] = TASK_STATES.map(() => 0);
  readonly #shapes = new Interner<Shape>();
  readonly #workers = new Interner<string>();
  /** Slots handed out so far (the high-water mark; some may be free). */
  #used = 0;
  #cap = 0;
  #state = new Uint8Array(0);
  #priority = new Int32Array(0);
  #shape = new Int32Array(0);
  #worker = new Int32Array(0);
  #epoch = new Uint32Array(0);
  #revision = new Float64Array(0);
  #createdAt = new Float64Array(0);
  #updatedAt = new Float64Array(0);
  #timeoutMs = new Float64Array(0);
  #runAt = new Float64Array(0);
  #nextRunAt = new Float64Array(0);
  #assignedAt = new Float64Array(0);
  #startedAt = new Float64Array(0);

  /**
   * @param reusable whether the slot of a deleted task may hold another task now (the queue
   *   index may still refer to it; see `QueueIndex.references`).
   */
  constructor(reusable: (slot: number) => boolean = () => true, initialCapacity = 1_024) {
    this.#reusable = reusable;
    this.#grow(initialCapacity);
  }

  /** Tasks held. */
  get size(): number {
    return this.#slotOf.size;
  }

  /** Tasks held in one state. */
  count(state: TaskState): number {
    return this.#counts[STATE_INDEX.get(state)!]!;
  }

  /** Shapes in use by the tasks held. */
  get shapeCount(): number {
    return this.#shapes.size;
  }

  slotOf(id: string): number | undefined {
    return this.#slotOf.get(id);
  }

  has(id: string): boolean {
    return this.#slotOf.has(id);
  }

  /** A copy of a task's row, or undefined when the table does not hold it. */
  get(id: string): MirrorTask | undefined {
    const slot = this.#slotOf.get(id);
    return slot === undefined ? undefined : this.at(slot);
  }

  /** The revision of the record the table holds for a task. */
  revisionOf(id: string): number | undefined {
    const slot = this.#slotOf.get(id);
    return slot === undefined ? undefined : this.#revision[slot];
  }

  /** A copy of the row in `slot` (which must hold a task). */
  at(slot: number): MirrorTask {
    const shape = this.shapeAt(slot);
    const worker = this.#worker[slot]!;
    return {
      id: this.idAt(slot),
      revision: this.#revision[slot]!,
      state: this.stateAt(slot),
      priority: this.#priority[slot]!,
      createdAt: this.#createdAt[slot]!,
      updatedAt: this.#updatedAt[slot]!,
      key: this.#keys[slot] ?? null,
      shape,
      type: shape.type,
      resources: shape.resources,
      workerId: worker === NONE ? null : this.#workers.get(worker),
      epoch: this.#epoch[slot]!,
      timeoutMs: this.#timeoutMs[slot]!,
      runAt: orNull(this.#runAt[slot]!),
      nextRunAt: orNull(this.#nextRunAt[slot]!),
      assignedAt: orNull(this.#assignedAt[slot]!),
      startedAt: orNull(this.#startedAt[slot]!),
      placementReason: this.#reasons.get(slot) ?? null,
    };
  }

  idAt(slot: number): string {
    const id = this.#ids[slot];
    if (id === undefined) throw new Error(`task slot ${slot} is empty`);
    return id;
  }

  stateAt(slot: number): TaskState {
    return TASK_STATES[this.#state[slot]!]!;
  }

  createdAtOf(slot: number): number {
    return this.#createdAt[slot]!;
  }

  shapeAt(slot: number): Shape {
    return this.#shapes.get(this.#shape[slot]!);
  }

  /** The scheduling order of two slots: higher priority, then older, then by id. */
  readonly order = (a: number, b: number): number => {
    const byPriority = this.#priority[b]! - this.#priority[a]!;
    if (byPriority !== 0) return byPriority;
    const byAge = this.#createdAt[a]! - this.#createdAt[b]!;
    if (byAge !== 0) return byAge;
    const x = this.#ids[a]!;
    const y = this.#ids[b]!;
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
    for (let slot = 0; slot < this.#used; slot++) {
      if (this.#ids[slot] !== undefined && wanted[this.#state[slot]!] === 1) yield slot;
    }
  }

  /** Stores a task's record (a new task, or a newer version of a known one); its slot. */
  set(r: TaskRecord, revision: number): number {
    let slot = this.#slotOf.get(r.id);
    if (slot === undefined) {
      slot = this.#allocate();
      this.#ids[slot] = r.id;
      this.#slotOf.set(r.id, slot);
    } else {
      this.#release(slot);
    }
    const state = STATE_INDEX.get(r.state)!;
    this.#counts[state]!++;
    this.#state[slot] = state;
    this.#priority[slot] = r.priority;
    const key = shapeKey(r.type, r.resources, r.labels);
    this.#shape[slot] = this.#shapes.acquire(key, () => ({
      id: key,
      type: r.type,
      resources: { ...r.resources },
      labels: { ...r.labels },
    }));
    this.#worker[slot] =
      r.workerId === null ? NONE : this.#workers.acquire(r.workerId, () => r.workerId!);
    this.#epoch[slot] = r.epoch;
    this.#revision[slot] = revision;
    this.#createdAt[slot] = r.createdAt;
    this.#updatedAt[slot] = r.updatedAt;
    this.#timeoutMs[slot] = r.timeoutMs;
    this.#runAt[slot] = num(r.runAt);
    this.#nextRunAt[slot] = num(r.nextRunAt);
    this.#assignedAt[slot] = num(r.assignedAt);
    this.#startedAt[slot] = num(r.startedAt);
    this.#keys[slot] = r.key;
    const reason = r.state === "queued" ? r.placement?.reason : undefined;
    if (reason !== undefined) this.#reasons.set(slot, reason);
    return slot;
  }

  /** Forgets a task; the slot it had, or undefined when it was not held. */
  delete(id: string): number | undefined {
    const slot = this.#slotOf.get(id);
    if (slot === undefined) return undefined;
    this.#release(slot);
    this.#slotOf.delete(id);
    this.#ids[slot] = undefined;
    this.#keys[slot] = null;
    this.#free.push(slot);
    return slot;
  }

  /** A slot for a new task: a reusable free one, else a new one. */
  #allocate(): number {
    for (;;) {
      for (let slot = this.#free.pop(); slot !== undefined; slot = this.#free.pop()) {
        if (this.#reusable(slot)) return slot;
        this.#parked.push(slot);
      }
      if (this.#used < this.#cap) return this.#used++;
      // Full: look at the parked slots again before growing the columns.
      if (this.#parked.length === 0 || this.#parked.every((s) => !this.#reusable(s))) {
        this.#grow(this.#cap * 2);
        return this.#used++;
      }
      [this.#free, this.#parked] = [this.#parked, []];
    }
  }

  /** Lets go of what a held row refers to (its count, shape, worker id, reason). */
  #release(slot: number): void {
    this.#counts[this.#state[slot]!]!--;
    this.#shapes.release(this.#shape[slot]!);
    const worker = this.#worker[slot]!;
    if (worker !== NONE) this.#workers.release(worker);
    this.#worker[slot] = NONE;
    this.#reasons.delete(slot);
  }

  #grow(cap: number): void {
    this.#state = grown(this.#state, cap);
    this.#priority = grown(this.#priority, cap);
    this.#shape = grown(this.#shape, cap);
    this.#worker = grown(this.#worker, cap);
    this.#epoch = grown(this.#epoch, cap);
    this.#revision = grown(this.#revision, cap);
    this.#createdAt = grown(this.#createdAt, cap);
    this.#updatedAt = grown(this.#updatedAt, cap);
    this.#timeoutMs = grown(this.#timeoutMs, cap);
    this.#runAt = grown(this.#runAt, cap);
    this.#nextRunAt = grown(this.#nextRunAt, cap);
    this.#assignedAt = grown(this.#assignedAt, cap);
    this.#startedAt = grown(this.#startedAt, cap);
    this.#cap = cap;
  }
}

type Column = Uint8Array | Int32Array | Uint32Array | Float64Array;

/** A copy of a column with room for `cap` rows. */
function grown<C extends Column>(column: C, cap: number): C {
  const next = new (column.constructor as new (n: number) => C)(cap);
  (next as Float64Array).set(column);
  return next;
}
