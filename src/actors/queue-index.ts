/**
 * The queue of tasks waiting for a worker, indexed by what placement needs, so a scheduling
 * pass touches the tasks that can be placed now rather than the whole backlog.
 *
 * Tasks are grouped by **shape** (type, resources, labels): tasks of one shape fit exactly the
 * same workers, so "does anything fit?" is asked once per shape, and a backlog of a million
 * tasks that no worker runs costs a pass one question. Within a shape, a binary heap keeps
 * the scheduling order: higher priority first, then older first, then by id. A pass merges the
 * heads of the shapes that fit, in that same order. Pure data structure: no I/O, no clock.
 */
import type { Resources, TaskView } from "./placement/index.ts";

/** What the index keeps of a queued task (a compact copy, no payload). */
export interface QueuedTask {
  id: string;
  priority: number;
  createdAt: number;
  /** Affinity key (consistent-hash placement); null when none. */
  key: string | null;
  shape: Shape;
}

/** The part of a task that decides which workers fit it. Shared by every task of the shape. */
export interface Shape {
  /** Stable identity of the shape, e.g. for explanations. */
  readonly id: string;
  readonly type: string;
  readonly resources: Resources;
  readonly labels: Readonly<Record<string, string>>;
}

/** The scheduling order: negative when `a` runs first. */
export function compareQueued(a: QueuedTask, b: QueuedTask): number {
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

/** The shape key of a task's placement-relevant fields. */
export function shapeKey(
  type: string,
  resources: Resources,
  labels: Readonly<Record<string, string>>,
): string {
  const l = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k] ?? ""}`)
    .join(",");
  return `${type}|${resources.cpu}|${resources.memoryMb}|${resources.slots}|${l}`;
}

/** A binary min-heap in {@link compareQueued} order, with lazy removal. */
class ShapeQueue {
  readonly shape: Shape;
  readonly #heap: QueuedTask[] = [];
  /** Entries in the heap that were removed (skipped when they surface). */
  #dead = 0;
  /** Set when the heap should be rebuilt from its live entries (done by the index). */
  #compact = false;

  constructor(shape: Shape) {
    this.shape = shape;
  }

  /** Live entries. */
  get size(): number {
    return this.#heap.length - this.#dead;
  }

  push(t: QueuedTask): void {
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (compareQueued(h[i]!, h[p]!) >= 0) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  /** The first live entry, dropping dead ones on the way. */
  peek(live: (t: QueuedTask) => boolean): QueuedTask | undefined {
    for (;;) {
      const top = this.#heap[0];
      if (top === undefined || live(top)) return top;
      this.#popTop();
      this.#dead--;
    }
  }

  /** Removes the top (which the caller has just peeked). */
  popTop(): void {
    this.#popTop();
  }

  markDead(): void {
    this.#dead++;
    // Rebuild once most of the heap is dead, so removed tasks do not hold memory for long.
    if (this.#dead > 1_024 && this.#dead * 2 > this.#heap.length) this.#compact = true;
  }

  get wantsCompaction(): boolean {
    return this.#compact;
  }

  compact(live: (t: QueuedTask) => boolean): void {
    const keep = this.#heap.filter(live).sort(compareQueued);
    this.#heap.length = 0;
    // A sorted array is a valid heap.
    for (const t of keep) this.#heap.push(t);
    this.#dead = 0;
    this.#compact = false;
  }

  #popTop(): void {
    const h = this.#heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && compareQueued(h[l]!, h[m]!) < 0) m = l;
      if (r < h.length && compareQueued(h[r]!, h[m]!) < 0) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

const MAX_CACHED_SHAPES = 10_000;

/** The queued tasks, by shape, in scheduling order. */
export class QueueIndex {
  /** The live entry of every queued task, by id. */
  readonly #byId = new Map<string, QueuedTask>();
  readonly #shapes = new Map<string, ShapeQueue>();
  readonly #live = (t: QueuedTask): boolean => this.#byId.get(t.id) === t;

  /** Number of queued tasks. */
  get size(): number {
    return this.#byId.size;
  }

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  /**
   * Shape objects by key, shared by every task of a shape whether or not it is queued (a
   * million tasks of one shape hold one copy of its resources and labels). Bounded: tasks
   * with unique labels each would otherwise grow it without end.
   */
  readonly #shapeCache = new Map<string, Shape>();

  /** The shape object for these fields, shared by every task of the shape. */
  shapeOf(type: string, resources: Resources, labels: Readonly<Record<string, string>>): Shape {
    const id = shapeKey(type, resources, labels);
    const known = this.#shapes.get(id)?.shape ?? this.#shapeCache.get(id);
    if (known !== undefined) return known;
    const shape: Shape = { id, type, resources: { ...resources }, labels: { ...labels } };
    if (this.#shapeCache.size < MAX_CACHED_SHAPES) this.#shapeCache.set(id, shape);
    return shape;
  }

  /** Adds a task, or replaces the entry of a task with the same id. */
  add(t: QueuedTask): void {
    this.remove(t.id);
    this.#byId.set(t.id, t);
    let q = this.#shapes.get(t.shape.id);
    if (q === undefined) this.#shapes.set(t.shape.id, (q = new ShapeQueue(t.shape)));
    q.push(t);
  }

  /** Removes a task; false when it was not queued. */
  remove(id: string): boolean {
    const t = this.#byId.get(id);
    if (t === undefined) return false;
    this.#byId.delete(id);
    const q = this.#shapes.get(t.shape.id);
    if (q !== undefined) {
      q.markDead();
      if (q.size === 0) this.#shapes.delete(t.shape.id);
      else if (q.wantsCompaction) q.compact(this.#live);
    }
    return true;
  }

  /** The shapes that have queued tasks, with how many each. */
  *shapes(): IterableIterator<{ shape: Shape; size: number }> {
    for (const q of this.#shapes.values()) yield { shape: q.shape, size: q.size };
  }

  /** The first task of a shape in scheduling order, or undefined. */
  head(shapeId: string): QueuedTask | undefined {
    return this.#shapes.get(shapeId)?.peek(this.#live);
  }

  /**
   * Takes the tasks of the shapes `fits` accepts, in scheduling order across shapes, for as
   * long as `take` returns true. `take` sees each task in turn and returns "taken" (the task
   * leaves the index), "skip" (it stays, the next of its shape comes up) or "shape-full"
   * (nothing more of this shape fits in this pass; the task stays).
   */
  drain(
    fits: (shape: Shape) => boolean,
    take: (t: QueuedTask) => "taken" | "skip" | "shape-full",
  ): void {
    // The current candidate of every fitting shape, merged by a small heap of shapes.
    const heads: { q: ShapeQueue; t: QueuedTask; skipped: QueuedTask[] }[] = [];
    for (const q of this.#shapes.values()) {
      if (!fits(q.shape)) continue;
      const t = q.peek(this.#live);
      if (t !== undefined) heads.push({ q, t, skipped: [] });
    }
    const cmp = (a: (typeof heads)[number], b: (typeof heads)[number]): number =>
      compareQueued(a.t, b.t);
    heads.sort(cmp);
    while (heads.length > 0) {
      const h = heads.shift()!;
      const verdict = take(h.t);
      if (verdict === "shape-full") {
        this.#restore(h);
        continue;
      }
      // Taken or skipped: the task leaves the heap for now; skipped ones go back afterwards.
      h.q.popTop();
      if (verdict === "taken") this.#byId.delete(h.t.id);
      else h.skipped.push(h.t);
      const next = h.q.peek(this.#live);
      if (next === undefined) {
        this.#restore(h);
        continue;
      }
      h.t = next;
      // Re-insert in order (few shapes in practice: a linear insert is fine).
      let i = 0;
      while (i < heads.length && cmp(heads[i]!, h) <= 0) i++;
      heads.splice(i, 0, h);
    }
  }

  #restore(h: { q: ShapeQueue; skipped: QueuedTask[] }): void {
    for (const t of h.skipped) h.q.push(t);
    h.skipped.length = 0;
    if (h.q.size === 0) this.#shapes.delete(h.q.shape.id);
  }
}
