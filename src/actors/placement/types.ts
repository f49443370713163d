/**
 * Placement: the pure decision of which worker should run a task.
 *
 * Everything here is data in, data out. Time and randomness reach a strategy only through its
 * arguments so that every decision can be replayed and explained.
 */

/** An amount of each schedulable resource. Used for capacities, reservations and requests. */
export interface Resources {
  cpu: number;
  memoryMb: number;
  slots: number;
}

/** The scheduler's snapshot of one worker, as a placement strategy sees it. */
export interface WorkerView {
  id: string;
  /** Task types it can run. */
  types: readonly string[];
  labels: Readonly<Record<string, string>>;
  /** Total capacity. */
  capacity: Resources;
  /** Currently reserved by its assigned/running tasks. */
  used: Resources;
  /** Ms epoch of the last assignment, 0 if never (for least-recently-used). */
  lastAssignedAt: number;
  /** Draining workers are never candidates. */
  state: "ready" | "draining";
  /** Set while the leader holds the worker back after a failed assignment: why. Never a candidate then. */
  heldBack?: string;
}

/** The part of a task that placement needs. */
export interface TaskView {
  id: string;
  type: string;
  resources: Resources;
  /** Required labels: `worker.labels[k] === v` must hold for each entry. */
  labels: Readonly<Record<string, string>>;
  /** Affinity key for consistent-hash; the task id is used when null. */
  key: string | null;
}

/**
 * How one worker fared. A worker that failed a hard constraint has `fits: false`, `score: null`
 * and a `reason`; a fitting worker has the strategy's numeric score (its meaning is documented on
 * each strategy).
 */
export interface CandidateScore {
  workerId: string;
  fits: boolean;
  score: number | null;
  reason?: string;
}

/** The outcome of one placement, self-explaining enough to log or show to an operator. */
export interface PlacementDecision {
  strategy: StrategyName;
  /** The chosen worker, or null when none fits. */
  workerId: string | null;
  /** Every worker given, in the given order. */
  candidates: CandidateScore[];
  /** One human sentence, e.g. "best-fit: w2 leaves least capacity (score 0.25)". */
  reason: string;
}

/** Effects a strategy may need, injected so decisions stay deterministic under test. */
export interface PlacementContext {
  /** Uniform random number in [0, 1). */
  random: () => number;
}

/** A placement algorithm. Instances may hold state across calls (round-robin's cursor). */
export interface PlacementStrategy {
  readonly name: StrategyName;
  place(task: TaskView, workers: readonly WorkerView[], ctx: PlacementContext): PlacementDecision;
}

/** Every strategy `createStrategy` knows, by its configuration name. */
export const STRATEGY_NAMES = [
  "first-fit",
  "best-fit",
  "worst-fit",
  "spread",
  "round-robin",
  "random",
  "consistent-hash",
  "power-of-two",
  "least-recently-used",
] as const;

/** A strategy's configuration name. */
export type StrategyName = (typeof STRATEGY_NAMES)[number];
