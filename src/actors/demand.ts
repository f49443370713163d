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
import { checkWorker, fits, RESOURCE_DIMENSIONS } from "./placement/index.ts";
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

/** Whether a worker made from `template` could ever run tasks of `shape`. */
export function templateRuns(template: PoolTemplate, shape: Shape): boolean {
  if (!template.types.includes(shape.type)) return false;
  for (const [k, v] of Object.entries(shape.labels))
    if (!Object.hasOwn(template.labels, k) || template.labels[k] !== v) return false;
  return fits(shape.resources, template.capacity);
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
  let unplaceable = 0;
  for (const { shape, size } of input.queued) {
    if (size === 0) continue;
    const pool = order.find((p) => templateRuns(input.templates.get(p)!, shape));
    if (pool === undefined) {
      unplaceable += size;
      continue;
    }
    const a = acc.get(pool)!;
    a.queuedTasks += size;
    a.queued = addResources(a.queued, scale(shape.resources, size));
    const view = {
      id: "",
      type: shape.type,
      resources: shape.resources,
      labels: shape.labels,
      key: null,
    };
    if (!input.workers.some((w) => checkWorker(view, w) === null)) a.waiting += size;
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
