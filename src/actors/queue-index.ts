/**
 * The queue of tasks waiting for a worker, indexed by what placement needs, so a scheduling
 * pass touches the tasks that can be placed now rather than the whole backlog.
 *
 * Tasks are grouped by **shape** (type, resources, labels; see `shapes.ts`): tasks of one shape
 * fit exactly the same workers, so "does anything fit?" is asked once per shape, and a backlog
 * of a million tasks that no worker runs costs a pass one question. Within a shape, a binary
 * heap keeps the scheduling order: higher priority first, then older first, then by id. A pass
 * merges the heads of the shapes that fit, in that same order.
 *
 * Tasks are small integers ("slots", given by the caller's task table), and the heaps are
 * typed arrays, so a million queued tasks cost a few bytes each and no objects the garbage
 * collector has to trace. The caller supplies the order of two slots, and must keep a slot's
 * order fixed while a heap still holds an entry for it, dead or alive (`references`): a task's
 * priority, age and id never change, and a slot is reused for another task only once no heap
 * refers to it. Pure data structure: no I/O, no clock.
 */
import type { TaskView } from "./placement/index.ts";
import type { Shape } from "./shapes.ts";

/** What scheduling needs to know of a queued task. */
export interface QueuedTask {
  id: string;
  priority: number;
  createdAt: number;
  /** Affinity key (consistent-hash placement); null when none. */
  key: string | null;
  shape: Shape;
}

/** The scheduling order: negative when `a` runs first. */
export function compareQueued(
  a: Pick<QueuedTask, "priority" | "createdAt" | "id">,
  b: Pick<QueuedTask, "priority" | "createdAt" | "id">,
): number {
  return (
    b.priority - a.priority || a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/** The placement view of a queued task. */
export function taskView(t: QueuedTask): TaskView {
  return {
    id: t.id,
    type: t.shape.type,
    resources: t.shape.resources,
    labels: t.shape.labels,
    key: t.key,
  };
}

/** The scheduling order of two queued slots ({@link compareQueued} on their tasks). */
export type QueueOrder = (a: number, b: number) => number;

/** What `drain`'s callback answers for each task it is shown. */
export type DrainVerdict = "taken" | "skip" | "shape-full";

/** A growable array of unsigned 32-bit numbers. */
class U32 {
  a: Uint32Array;
  constructor(capacity: number) {
    this.a = new Uint32Array(capacity);
  }
  /** Makes index `i` addressable. */
  ensure(i: number): void {
    if (i < this.a.length) return;
    let n = this.a.length * 2;
    while (n <= i) n *= 2;
    const next = new Uint32Array(n);
    next.set(this.a);
    this.a = next;
  }
}

/**
 * A binary min-heap of (slot, generation) pairs in the caller's order, with lazy removal: an
 * entry whose generation is no longer its slot's current one is dead and skipped.
 */
class ShapeQueue {
  readonly shape: Shape;
  /** This queue's number in its index. */
  readonly num: number;
  readonly #order: QueueOrder;
  readonly #gen: U32;
  readonly #refs: U32;
  /** Pairs: slot at 2i, generation at 2i+1. */
  #heap = new U32(32);
  #n = 0;
  /** Entries in the heap that were removed (skipped when they surface). */
  #dead = 0;

  constructor(shape: Shape, num: number, order: QueueOrder, gen: U32, refs: U32) {
    this.shape = shape;
    this.num = num;
    this.#order = order;
    this.#gen = gen;
    this.#refs = refs;
  }

  /** Live entries. */
  get size(): number {
    return this.#n - this.#dead;
  }

  push(slot: number): void {
    this.#heap.ensure(2 * this.#n + 1);
    const h = this.#heap.a;
    let i = this.#n++;
    h[2 * i] = slot;
    h[2 * i + 1] = this.#gen.a[slot]!;
    this.#refs.a[slot]!++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.#order(h[2 * i]!, h[2 * p]!) >= 0) break;
      this.#swap(i, p);
      i = p;
    }
  }

  /** The first live slot, dropping dead entries on the way. */
  peek(): number | undefined {
    for (;;) {
      if (this.#n === 0) return undefined;
      const h = this.#heap.a;
      if (this.#gen.a[h[0]!] === h[1]) return h[0];
      this.popTop();
      this.#dead--;
    }
  }

  /** Removes the top (which the caller has just peeked). */
  popTop(): void {
    const h = this.#heap.a;
    this.#refs.a[h[0]!]!--;
    const last = --this.#n;
    if (last <= 0) return;
    h[0] = h[2 * last]!;
    h[1] = h[2 * last + 1]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.#n && this.#order(h[2 * l]!, h[2 * m]!) < 0) m = l;
      if (r < this.#n && this.#order(h[2 * r]!, h[2 * m]!) < 0) m = r;
      if (m === i) break;
      this.#swap(i, m);
      i = m;
    }
  }

  /** One entry died; the heap is rebuilt once most of it is dead. */
  markDead(): void {
    this.#dead++;
    if (this.#dead > 1_024 && this.#dead * 2 > this.#n) this.#compact();
  }

  /** Lets go of every entry (the queue is being dropped). */
  release(): void {
    const h = this.#heap.a;
    for (let i = 0; i < this.#n; i++) this.#refs.a[h[2 * i]!]!--;
    this.#n = 0;
    this.#dead = 0;
  }

  #compact(): void {
    const h = this.#heap.a;
    const live: number[] = [];
    for (let i = 0; i < this.#n; i++) {
      const slot = h[2 * i]!;
      this.#refs.a[slot]!--;
      if (this.#gen.a[slot] === h[2 * i + 1]) live.push(slot);
    }
    live.sort(this.#order);
    // A sorted array is a valid heap.
    this.#heap = new U32(Math.max(32, 2 * live.length));
    this.#n = 0;
    this.#dead = 0;
    for (const slot of live) {
      const i = this.#n++;
      this.#heap.a[2 * i] = slot;
      this.#heap.a[2 * i + 1] = this.#gen.a[slot]!;
      this.#refs.a[slot]!++;
    }
  }

  #swap(i: number, j: number): void {
    const h = this.#heap.a;
    const s = h[2 * i]!;
    const g = h[2 * i + 1]!;
    h[2 * i] = h[2 * j]!;
    h[2 * i + 1] = h[2 * j + 1]!;
    h[2 * j] = s;
    h[2 * j + 1] = g;
  }
}

/** The queued tasks, by shape, in scheduling order. */
export class QueueIndex {
  readonly #order: QueueOrder;
  /** Per slot: bumped on every add and remove, so stale heap entries are recognised. */
  readonly #gen = new U32(1_024);
  /** Per slot: the number of its shape queue plus one; 0 when the slot is not queued. */
  readonly #queueOf = new U32(1_024);
  /** Per slot: heap entries that name it, live or dead. */
  readonly #refs = new U32(1_024);
  readonly #byShape = new Map<string, ShapeQueue>();
  readonly #queues: (ShapeQueue | undefined)[] = [undefined];
  readonly #freeQueues: number[] = [];
  #size = 0;

  constructor(order: QueueOrder) {
    this.#order = order;
  }

  /** Number of queued tasks. */
  get size(): number {
    return this.#size;
  }

  has(slot: number): boolean {
    return slot < this.#queueOf.a.length && this.#queueOf.a[slot] !== 0;
  }

  /**
   * Whether a heap still holds an entry for `slot` (a dead one until it surfaces or the heap
   * is compacted). The slot's order must not change while it does.
   */
  references(slot: number): boolean {
    return slot < this.#refs.a.length && this.#refs.a[slot] !== 0;
  }

  /** Adds a task, or replaces the entry of the same slot (its order or shape changed). */
  add(slot: number, shape: Shape): void {
    this.remove(slot);
    this.#gen.ensure(slot);
    this.#queueOf.ensure(slot);
    this.#refs.ensure(slot);
    let q = this.#byShape.get(shape.id);
    if (q === undefined) {
      const n = this.#freeQueues.pop() ?? this.#queues.length;
      q = new ShapeQueue(shape, n, this.#order, this.#gen, this.#refs);
      this.#queues[n] = q;
      this.#byShape.set(shape.id, q);
    }
    this.#gen.a[slot]!++;
    this.#queueOf.a[slot] = q.num;
    this.#size++;
    q.push(slot);
  }

  /** Removes a task; false when it was not queued. */
  remove(slot: number): boolean {
    if (!this.has(slot)) return false;
    const n = this.#queueOf.a[slot]!;
    this.#queueOf.a[slot] = 0;
    this.#gen.a[slot]!++;
    this.#size--;
    const q = this.#queues[n];
    if (q !== undefined) {
      q.markDead();
      if (q.size === 0) this.#dropQueue(n);
    }
    return true;
  }

  /** The shapes that have queued tasks, with how many each. */
  *shapes(): IterableIterator<{ shape: Shape; size: number }> {
    for (const q of this.#byShape.values()) yield { shape: q.shape, size: q.size };
  }

  /** The first task of a shape in scheduling order, or undefined. */
  head(shapeId: string): number | undefined {
    return this.#byShape.get(shapeId)?.peek();
  }

  /**
   * Takes the tasks of the shapes `fits` accepts, in scheduling order across shapes, for as
   * long as `take` says so. `take` sees each task in turn and answers "taken" (the task leaves
   * the index), "skip" (it stays, the next of its shape comes up) or "shape-full" (nothing
   * more of this shape fits in this pass; the task stays). `take` must not change the index.
   */
  drain(fits: (shape: Shape) => boolean, take: (slot: number) => DrainVerdict): void {
    // The current candidate of every fitting shape, merged by a small sorted list of shapes.
    const heads: { q: ShapeQueue; slot: number; skipped: number[] }[] = [];
    for (const q of this.#byShape.values()) {
      if (!fits(q.shape)) continue;
      const slot = q.peek();
      if (slot !== undefined) heads.push({ q, slot, skipped: [] });
    }
    const cmp = (a: (typeof heads)[number], b: (typeof heads)[number]): number =>
      this.#order(a.slot, b.slot);
    heads.sort(cmp);
    while (heads.length > 0) {
      const h = heads.shift()!;
      const verdict = take(h.slot);
      if (verdict === "shape-full") {
        this.#restore(h);
        continue;
      }
      // Taken or skipped: the task leaves the heap for now; skipped ones go back afterwards.
      h.q.popTop();
      if (verdict === "taken") {
        this.#queueOf.a[h.slot] = 0;
        this.#gen.a[h.slot]!++;
        this.#size--;
      } else {
        h.skipped.push(h.slot);
      }
      const next = h.q.peek();
      if (next === undefined) {
        this.#restore(h);
        continue;
      }
      h.slot = next;
      // Re-insert in order (few shapes in practice: a linear insert is fine).
      let i = 0;
      while (i < heads.length && cmp(heads[i]!, h) <= 0) i++;
      heads.splice(i, 0, h);
    }
  }

  #restore(h: { q: ShapeQueue; skipped: number[] }): void {
    // A skipped task is still queued under its generation; it only left the heap.
    for (const slot of h.skipped) h.q.push(slot);
    h.skipped.length = 0;
    if (h.q.size === 0) this.#dropQueue(h.q.num);
  }

  #dropQueue(n: number): void {
    const q = this.#queues[n];
    if (q === undefined) return;
    q.release();
    this.#byShape.delete(q.shape.id);
    this.#queues[n] = undefined;
    this.#freeQueues.push(n);
  }
}
