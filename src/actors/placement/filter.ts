/**
 * Hard constraints, applied before any strategy ranks anything, and the shared pipeline that
 * turns a strategy's ranking into a {@link PlacementDecision}.
 */
import type {
  CandidateScore,
  PlacementDecision,
  Resources,
  StrategyName,
  TaskView,
  WorkerView,
} from "./types.ts";

/** The resource dimensions, in the order they appear in messages. */
export const RESOURCE_DIMENSIONS = ["cpu", "memoryMb", "slots"] as const;

/** One resource dimension. */
export type ResourceDimension = (typeof RESOURCE_DIMENSIONS)[number];

/**
 * What is left on a worker: capacity minus what its tasks have reserved. Negative when the worker
 * is overcommitted (e.g. its capacity shrank under running tasks).
 */
export function freeCapacity(w: WorkerView): Resources {
  return {
    cpu: w.capacity.cpu - w.used.cpu,
    memoryMb: w.capacity.memoryMb - w.used.memoryMb,
    slots: w.capacity.slots - w.used.slots,
  };
}

/**
 * Whether a request fits into free resources in every dimension.
 *
 * The comparison is exact, with no tolerance: a rounding error may reject a worker that fits to
 * the last bit, but can never admit one that is short. NaN anywhere never fits.
 */
export function fits(req: Resources, free: Resources): boolean {
  return shortDimensions(req, free).length === 0;
}

function shortDimensions(req: Resources, free: Resources): ResourceDimension[] {
  // `!(a >= b)` rather than `a < b` so that NaN counts as short.
  return RESOURCE_DIMENSIONS.filter((d) => !(free[d] >= req[d]));
}

/** Which hard constraint a worker failed, in the order they are checked. */
export type ConstraintStage = "draining" | "type" | "labels" | "capacity";

const STAGE_ORDER: readonly ConstraintStage[] = ["draining", "type", "labels", "capacity"];

/** Why one worker cannot take a task. */
export interface ConstraintFailure {
  stage: ConstraintStage;
  message: string;
  /** Dimensions where free capacity is below the request (capacity failures only). */
  short: readonly ResourceDimension[];
}

/**
 * Checks the hard constraints for one worker: ready, runs the task type, carries every required
 * label, and has enough free capacity in every dimension. Returns null when all hold, otherwise
 * the first failure.
 */
export function checkWorker(task: TaskView, w: WorkerView): ConstraintFailure | null {
  // Anything but "ready" is refused, so a state added later cannot slip through by default.
  if (w.state !== "ready") {
    return { stage: "draining", message: `worker is ${String(w.state)}`, short: [] };
  }
  if (w.heldBack !== undefined) {
    return { stage: "draining", message: `held back: ${w.heldBack}`, short: [] };
  }
  if (!w.types.includes(task.type)) {
    return { stage: "type", message: `does not run type '${task.type}'`, short: [] };
  }
  const mismatches = labelMismatches(task.labels, w.labels);
  if (mismatches.length > 0) {
    return { stage: "labels", message: `labels do not match: ${mismatches.join(", ")}`, short: [] };
  }
  const free = freeCapacity(w);
  const short = shortDimensions(task.resources, free);
  if (short.length > 0) {
    const detail = short
      .map((d) => `${d} free ${formatNumber(free[d])} < need ${formatNumber(task.resources[d])}`)
      .join(", ");
    return { stage: "capacity", message: `insufficient capacity: ${detail}`, short };
  }
  return null;
}

function labelMismatches(
  required: Readonly<Record<string, string>>,
  has: Readonly<Record<string, string>>,
): string[] {
  const out: string[] = [];
  for (const k of sortedKeys(required)) {
    const want = required[k];
    // Own properties only: a label named "constructor" must not match Object.prototype.
    if (!Object.hasOwn(has, k)) out.push(`${k}=${String(want)} (missing)`);
    else if (has[k] !== want) out.push(`${k}=${String(want)} (has ${k}=${String(has[k])})`);
  }
  return out;
}

/** The outcome of the hard constraints for one worker. */
export interface CandidateCheck {
  worker: WorkerView;
  failure: ConstraintFailure | null;
}

/** Applies {@link checkWorker} to every worker, keeping the given order. */
export function checkWorkers(task: TaskView, workers: readonly WorkerView[]): CandidateCheck[] {
  return workers.map((worker) => ({ worker, failure: checkWorker(task, worker) }));
}

/**
 * Why nobody fits, as a code (for metrics): the constraint that got furthest, or
 * `no_workers` when there is no worker at all. `not_ready` covers draining workers and
 * workers held back after failed assignments.
 */
export type NoFitStage = "no_workers" | "not_ready" | "type" | "labels" | "capacity";

export function noFitStage(checks: readonly CandidateCheck[]): NoFitStage {
  const furthest = furthestStage(checks);
  return furthest === null ? "no_workers" : furthest === "draining" ? "not_ready" : furthest;
}

function furthestStage(checks: readonly CandidateCheck[]): ConstraintStage | null {
  let best: ConstraintStage | null = null;
  for (const c of checks)
    if (
      c.failure !== null &&
      (best === null || STAGE_ORDER.indexOf(c.failure.stage) > STAGE_ORDER.indexOf(best))
    )
      best = c.failure.stage;
  return best;
}

/**
 * The sentence for "nobody fits". It names the constraint that got furthest: if some worker ran
 * the type and matched the labels but was full, capacity is the real blocker, not labels.
 */
export function noFitReason(task: TaskView, checks: readonly CandidateCheck[]): string {
  const failures = checks.flatMap((c) => (c.failure === null ? [] : [c.failure]));
  const furthest = furthestStage(checks);
  if (furthest === null) return "no workers available";
  switch (furthest) {
    case "draining": {
      const held = checks.filter((c) => c.worker.state === "ready").length;
      return held === 0
        ? `no ready worker: all ${failures.length} workers are draining`
        : `no ready worker: ${failures.length - held} draining, ${held} held back after failed assignments`;
    }
    case "type": {
      // Worth saying when the type exists but only on workers on their way out.
      const draining = checks
        .filter((c) => c.worker.state !== "ready" && c.worker.types.includes(task.type))
        .map((c) => c.worker.id);
      const tail = draining.length > 0 ? ` (only draining workers do: ${draining.join(", ")})` : "";
      return `no worker runs type '${task.type}'${tail}`;
    }
    case "labels":
      return `no worker matches labels ${formatLabels(task.labels)}`;
    case "capacity": {
      const short = new Set(failures.flatMap((f) => f.short));
      const need = RESOURCE_DIMENSIONS.filter((d) => short.has(d))
        .map((d) => `${d} ${formatNumber(task.resources[d])}`)
        .join(", ");
      return `no worker has free capacity: need ${need}`;
    }
  }
}

/** What a strategy returns for the workers that passed the hard constraints. */
export interface Ranking {
  chosen: WorkerView;
  /** A score for every fitting worker (keyed by identity, so duplicate ids cannot collide). */
  scores: ReadonlyMap<WorkerView, number>;
  reason: string;
}

/**
 * The pipeline shared by every strategy: hard constraints first, then the strategy's ranking over
 * the survivors only, so no strategy can pick a worker that fails a constraint. `rank` is only
 * called with a non-empty list.
 */
export function decide(
  strategy: StrategyName,
  task: TaskView,
  workers: readonly WorkerView[],
  rank: (fitting: readonly [WorkerView, ...WorkerView[]]) => Ranking,
): PlacementDecision {
  const checks = checkWorkers(task, workers);
  const fitting = checks.flatMap((c) => (c.failure === null ? [c.worker] : []));
  const [first, ...rest] = fitting;
  if (first === undefined) {
    return {
      strategy,
      workerId: null,
      candidates: checks.map((c) => filteredOut(c)),
      reason: noFitReason(task, checks),
    };
  }
  const ranking = rank([first, ...rest]);
  const candidates = checks.map((c): CandidateScore => {
    if (c.failure !== null) return filteredOut(c);
    return { workerId: c.worker.id, fits: true, score: ranking.scores.get(c.worker) ?? null };
  });
  return { strategy, workerId: ranking.chosen.id, candidates, reason: ranking.reason };
}

/**
 * The "nothing fits" decision for a task, or null when some worker passes every hard
 * constraint. Touches no strategy state (round-robin's cursor stays where it is), so a
 * scheduling pass can ask it once per shape of queued tasks before placing any of them.
 */
export function explainNoFit(
  strategy: StrategyName,
  task: TaskView,
  workers: readonly WorkerView[],
): (PlacementDecision & { stage: NoFitStage }) | null {
  const checks = checkWorkers(task, workers);
  if (checks.some((c) => c.failure === null)) return null;
  return {
    strategy,
    workerId: null,
    candidates: checks.map((c) => filteredOut(c)),
    reason: noFitReason(task, checks),
    stage: noFitStage(checks),
  };
}

function filteredOut(c: CandidateCheck): CandidateScore {
  return {
    workerId: c.worker.id,
    fits: false,
    score: null,
    reason: c.failure?.message ?? "filtered out",
  };
}

/** Keys in code-unit order, so messages do not depend on the host locale or insertion order. */
function sortedKeys(o: Readonly<Record<string, string>>): string[] {
  return Object.keys(o).sort(compareStrings);
}

/** Code-unit string order: the same on every host, unlike `localeCompare`. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `{gpu=true, zone=eu}`, keys sorted. */
export function formatLabels(labels: Readonly<Record<string, string>>): string {
  return `{${sortedKeys(labels)
    .map((k) => `${k}=${String(labels[k])}`)
    .join(", ")}}`;
}

/** A number for a sentence: at most three decimals, no trailing zeros. */
export function formatNumber(n: number): string {
  return String(Math.round(n * 1000) / 1000);
}
