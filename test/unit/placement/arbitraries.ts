/**
 * Shared fast-check arbitraries, fixtures and an independent oracle for the placement tests.
 *
 * The oracle deliberately re-implements the hard constraints instead of calling the code under
 * test, so a bug in `src/actors/placement/filter.ts` cannot vouch for itself.
 */
import fc from "fast-check";
import type {
  PlacementContext,
  Resources,
  TaskView,
  WorkerView,
} from "../../../src/actors/placement/index.ts";

export const TYPES = ["build", "test", "deploy"] as const;
const DIMS = ["cpu", "memoryMb", "slots"] as const;

/**
 * Capacities: mostly whole multiples of a unit (so ties and exact fits are common), cpu sometimes
 * an arbitrary double, rarely zero. fast-check leans towards small values, which would otherwise
 * leave most workers with no capacity at all.
 */
const unitsArb = (max: number, unit: number) =>
  fc.oneof(
    { weight: 14, arbitrary: fc.integer({ min: 1, max }).map((x) => x * unit) },
    { weight: 1, arbitrary: fc.constant(0) },
  );
const capacityArb: fc.Arbitrary<Resources> = fc.record({
  cpu: fc.oneof(
    { weight: 4, arbitrary: unitsArb(16, 0.5) },
    { weight: 1, arbitrary: fc.double({ min: 0.5, max: 8, noNaN: true }) },
  ),
  memoryMb: unitsArb(8, 512),
  slots: unitsArb(6, 1),
});

/** Share of capacity in use, per dimension. */
const usageArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(0, 0.25, 0.5, 0.75) },
  { weight: 2, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) },
  { weight: 1, arbitrary: fc.constant(1) },
);

const labelsArb: fc.Arbitrary<Record<string, string>> = fc.record(
  { gpu: fc.constantFrom("true", "false"), zone: fc.constantFrom("eu", "us") },
  { requiredKeys: [] },
);

/**
 * A worker, with `used` usually within capacity and sometimes overcommitted in one dimension
 * (capacity shrank under running tasks). Unbiased (`fc.noBias`) with weights chosen so that most
 * random (task, workers) pairs have one or more fitting workers: fast-check's usual lean towards
 * small and edge values would leave almost every worker full, empty or typeless, and the ranking
 * properties would then rarely be exercised. The edge values that matter (zero capacity, exactly
 * full, exact fits) are produced explicitly by the weights above.
 */
export const workerArb: fc.Arbitrary<WorkerView> = fc.noBias(
  fc
    .record({
      id: fc.stringMatching(/^w-[a-z0-9]{1,3}$/),
      types: fc.oneof(
        { weight: 4, arbitrary: fc.constant([...TYPES]) },
        { weight: 1, arbitrary: fc.subarray([...TYPES]) },
      ),
      labels: labelsArb,
      capacity: capacityArb,
      usage: fc.record({ cpu: usageArb, memoryMb: usageArb, slots: usageArb }),
      overcommit: fc.oneof(
        { weight: 9, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.constantFrom(...DIMS) },
      ),
      lastAssignedAt: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5 })),
      state: fc.constantFrom<"ready" | "draining">("ready", "ready", "ready", "draining"),
    })
    .map(({ usage, capacity, overcommit, ...rest }) => {
      const used = {
        cpu: capacity.cpu * usage.cpu,
        memoryMb: Math.round(capacity.memoryMb * usage.memoryMb),
        slots: Math.round(capacity.slots * usage.slots),
      };
      if (overcommit !== null) used[overcommit] = capacity[overcommit] + 1;
      return { ...rest, capacity, used };
    }),
);

/** 0..10 workers with unique ids, in arbitrary order. */
export const workersArb: fc.Arbitrary<WorkerView[]> = fc.uniqueArray(workerArb, {
  selector: (w) => w.id,
  maxLength: 10,
  size: "max",
});

/** A task; unbiased for the same reason as {@link workerArb}. */
export const taskArb: fc.Arbitrary<TaskView> = fc.noBias(
  fc.record({
    id: fc.string({ minLength: 1, maxLength: 8 }),
    type: fc.constantFrom(...TYPES, ...TYPES, "unknown"),
    resources: fc.record({
      cpu: fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min: 0, max: 4 }).map((x) => x / 2) },
        { weight: 1, arbitrary: fc.double({ min: 0, max: 2, noNaN: true }) },
      ),
      memoryMb: fc.integer({ min: 0, max: 2 }).map((x) => x * 256),
      slots: fc.constantFrom(0, 1, 1, 1),
    }),
    labels: fc.oneof(
      { weight: 2, arbitrary: fc.constant({}) },
      { weight: 1, arbitrary: labelsArb },
    ),
    key: fc.option(fc.string({ maxLength: 8 })),
  }),
);

/** Draws in [0, 1), including the edges 0 and just below 1. */
export const randomsArb = fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
  minLength: 1,
  maxLength: 6,
});

/** A context replaying the given draws in a cycle. */
export function cyclingContext(draws: readonly number[]): PlacementContext {
  let i = 0;
  return {
    random: () => {
      const r = draws[i % draws.length] ?? 0;
      i += 1;
      return r;
    },
  };
}

/** A small seeded PRNG (mulberry32) for tests that want many uniform draws. */
export function seededContext(seed: number): PlacementContext {
  let a = seed >>> 0;
  return {
    random: () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** Oracle: does the worker satisfy every hard constraint for the task? */
export function satisfiesConstraints(task: TaskView, w: WorkerView): boolean {
  if (w.state !== "ready") return false;
  if (!w.types.includes(task.type)) return false;
  for (const [k, v] of Object.entries(task.labels)) {
    if (!Object.hasOwn(w.labels, k) || w.labels[k] !== v) return false;
  }
  return DIMS.every((d) => w.capacity[d] - w.used[d] >= task.resources[d]);
}

/** Oracle: mean over dimensions with capacity > 0 of (free - request) / capacity. */
export function oracleLeftover(task: TaskView, w: WorkerView): number {
  const parts = DIMS.filter((d) => w.capacity[d] > 0).map(
    (d) => (w.capacity[d] - w.used[d] - task.resources[d]) / w.capacity[d],
  );
  return parts.length === 0 ? 0 : parts.reduce((a, b) => a + b, 0) / parts.length;
}

/** Code-unit id order, the order strategies use for ties. */
export function byId(a: WorkerView, b: WorkerView): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** A ready worker that runs every test type, with overrides. */
export function worker(id: string, over: Partial<WorkerView> = {}): WorkerView {
  return {
    id,
    types: [...TYPES],
    labels: {},
    capacity: { cpu: 4, memoryMb: 4096, slots: 4 },
    used: { cpu: 0, memoryMb: 0, slots: 0 },
    lastAssignedAt: 0,
    state: "ready",
    ...over,
  };
}

/** A small "build" task, with overrides. */
export function task(over: Partial<TaskView> = {}): TaskView {
  return {
    id: "t1",
    type: "build",
    resources: { cpu: 1, memoryMb: 256, slots: 1 },
    labels: {},
    key: null,
    ...over,
  };
}

/** Freezes a value and everything reachable from it, to catch mutation of inputs. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export const CTX: PlacementContext = { random: () => 0 };
