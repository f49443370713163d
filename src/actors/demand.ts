/**
 * Demand per worker pool, as a pure function of the live workers (with what their tasks hold),
 * the shapes of the queued tasks, and each pool's template. The leader computes it for the
 * autoscaler and the metrics.
 *
 * A queued shape is counted for the first pool whose template can run it (the type, every
 * required label, and the resources fit an empty worker), autoscaled pools first (they are the
 * ones that can grow), each group in name order; a shape no template can run is counted as
 * unplaceable, since no number of new workers would help it. Running work
 * counts for the pool of the worker it runs on. Draining workers offer nothing: they are on
 * their way out.
 */
import type { PoolDemand, PoolTemplate, Resources } from "../protocol/index.ts";
import { fits, freeCapacity, RESOURCE_DIMENSIONS } from "./placement/index.ts";
import type { WorkerView } from "./placement/index.ts";
import { addResources } from "./scheduling-pass.ts";
import type { Shape } from "./shapes.ts";

/** A live worker, as demand sees it. */
export interface DemandWorker extends WorkerView {
  pool: string;
}

export interface DemandInput {
  /** Each pool's template (pools with a policy, and pools seen only in live workers). */
  templates: ReadonlyMap<string, PoolTemplate>;
  workers: readonly DemandWorker[];
  /** The queued tasks, by shape. */
  queued: Iterable<{ shape: Shape; size: number }>;
  /** Pools that are autoscaled: queued work is counted for them before the others. */
  autoscaled?: ReadonlySet<string>;
}

export interface DemandResult {
  pools: Map<string, PoolDemand>;
  /** Queued tasks no pool's template can run. */
  unplaceable: number;
}

const ZERO: Resources = { cpu: 0, memoryMb: 0, slots: 0 };

const scale = (r: Resources, n: number): Resources => ({
  cpu: r.cpu * n,
  memoryMb: r.memoryMb * n,
  slots: r.slots * n,
});

/** Whether `has` carries every label of `wanted` (own properties only). */
function labelsMatch(
  wanted: Readonly<Record<string, string>>,
  has: Readonly<Record<string, string>>,
): boolean {
  for (const [k, v] of Object.entries(wanted))
    if (!Object.hasOwn(has, k) || has[k] !== v) return false;
  return true;
}

/** Whether a worker made from `template` could ever run tasks of `shape`. */
export function templateRuns(template: PoolTemplate, shape: Shape): boolean {
  return (
    template.types.includes(shape.type) &&
    labelsMatch(shape.labels, template.labels) &&
    fits(shape.resources, template.capacity)
  );
}

const maxOf = (a: Resources, b: Resources): Resources => ({
  cpu: Math.max(a.cpu, b.cpu),
  memoryMb: Math.max(a.memoryMb, b.memoryMb),
  slots: Math.max(a.slots, b.slots),
});

/**
 * "Could a live worker take a task of this shape now?", answered per shape without building
 * an explanation: the workers taking work, by type, with their free capacity, and the largest
 * free capacity per type so that a shape no worker has room for is refused at once (the common
 * case on a busy cluster, where every worker is full).
 */
function liveFit(workers: readonly DemandWorker[]): (shape: Shape) => boolean {
  const byType = new Map<string, { w: DemandWorker; free: Resources }[]>();
  const most = new Map<string, Resources>();
  for (const w of workers) {
    if (w.state !== "ready" || w.heldBack !== undefined) continue;
    const free = freeCapacity(w);
    for (const t of w.types) {
      const list = byType.get(t);
      if (list === undefined) byType.set(t, [{ w, free }]);
      else list.push({ w, free });
      const m = most.get(t);
      most.set(t, m === undefined ? free : maxOf(m, free));
    }
  }
  return (shape) => {
    const m = most.get(shape.type);
    if (m === undefined || !fits(shape.resources, m)) return false;
    return byType
      .get(shape.type)!
      .some(({ w, free }) => fits(shape.resources, free) && labelsMatch(shape.labels, w.labels));
  };
}

/**
 * Workers of `template` that would hold `need` at full use: the largest, over the resource
 * dimensions the template offers, of need / capacity (fractional).
 */
export function workersFor(need: Resources, template: PoolTemplate): number {
  let n = 0;
  for (const d of RESOURCE_DIMENSIONS) {
    const cap = template.capacity[d];
    if (cap > 0) n = Math.max(n, need[d] / cap);
  }
  return n;
}

export function poolDemand(input: DemandInput): DemandResult {
  const names = [...input.templates.keys()].sort();
  const scaled = input.autoscaled ?? new Set<string>();
  const order = [...names.filter((p) => scaled.has(p)), ...names.filter((p) => !scaled.has(p))];
  const acc = new Map(
    names.map((pool) => [
      pool,
      {
        ready: 0,
        draining: 0,
        capacity: ZERO,
        used: ZERO,
        queuedTasks: 0,
        queued: ZERO,
        waiting: 0,
      },
    ]),
  );
  for (const w of input.workers) {
    const a = acc.get(w.pool);
    if (a === undefined) continue;
    if (w.state !== "ready") {
      a.draining++;
      continue;
    }
    a.ready++;
    a.capacity = addResources(a.capacity, w.capacity);
    a.used = addResources(a.used, w.used);
  }
  // The pools whose template runs each type, in `order`: a shape is checked only against
  // those, so the cost is not queued shapes × pools when there are many of both.
  const byType = new Map<string, string[]>();
  for (const p of order)
    for (const t of new Set(input.templates.get(p)!.types)) {
      const list = byType.get(t);
      if (list === undefined) byType.set(t, [p]);
      else list.push(p);
    }
  let unplaceable = 0;
  const fitsNow = liveFit(input.workers);
  for (const { shape, size } of input.queued) {
    if (size === 0) continue;
    const pool = byType.get(shape.type)?.find((p) => templateRuns(input.templates.get(p)!, shape));
    if (pool === undefined) {
      unplaceable += size;
      continue;
    }
    const a = acc.get(pool)!;
    a.queuedTasks += size;
    a.queued = addResources(a.queued, scale(shape.resources, size));
    if (!fitsNow(shape)) a.waiting += size;
  }
  const pools = new Map<string, PoolDemand>();
  for (const pool of names) {
    const a = acc.get(pool)!;
    pools.set(pool, {
      ...a,
      workersAtFullUse: workersFor(addResources(a.used, a.queued), input.templates.get(pool)!),
    });
  }
  return { pools, unplaceable };
}
