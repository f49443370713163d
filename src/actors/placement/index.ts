/**
 * Placement strategies: pure functions from a task and a snapshot of workers to a decision.
 *
 * Every strategy first applies the hard constraints (ready, task type, labels, free capacity in
 * every dimension) and only ranks the survivors, then explains itself in the decision.
 */
import { createBestFit } from "./best-fit.ts";
import { createConsistentHash } from "./consistent-hash.ts";
import { createFirstFit } from "./first-fit.ts";
import { createLeastRecentlyUsed } from "./least-recently-used.ts";
import { createPowerOfTwo } from "./power-of-two.ts";
import { createRandom } from "./random.ts";
import { createRoundRobin } from "./round-robin.ts";
import { STRATEGY_NAMES } from "./types.ts";
import type { PlacementStrategy, StrategyName } from "./types.ts";
import { createSpread, createWorstFit } from "./worst-fit.ts";

export type {
  CandidateScore,
  PlacementContext,
  PlacementDecision,
  PlacementStrategy,
  Resources,
  StrategyName,
  TaskView,
  WorkerView,
} from "./types.ts";
export { STRATEGY_NAMES } from "./types.ts";
export {
  checkWorker,
  explainNoFit,
  fits,
  freeCapacity,
  noFitStage,
  RESOURCE_DIMENSIONS,
} from "./filter.ts";
export type { NoFitStage } from "./filter.ts";
export type { ConstraintFailure, ConstraintStage, ResourceDimension } from "./filter.ts";
export { leftoverScore, projectedLoad } from "./score.ts";
export { MAX_RECORDED_CANDIDATES, recordedDecision } from "./recorded.ts";
export { hash32, rendezvousWeight } from "./consistent-hash.ts";

/**
 * A fresh instance of the named strategy. Instances do not share state: each round-robin keeps
 * its own cursor, so create one per scheduler and keep it for the scheduler's life.
 */
export function createStrategy(name: StrategyName): PlacementStrategy {
  switch (name) {
    case "first-fit":
      return createFirstFit();
    case "best-fit":
      return createBestFit();
    case "worst-fit":
      return createWorstFit();
    case "spread":
      return createSpread();
    case "round-robin":
      return createRoundRobin();
    case "random":
      return createRandom();
    case "consistent-hash":
      return createConsistentHash();
    case "power-of-two":
      return createPowerOfTwo();
    case "least-recently-used":
      return createLeastRecentlyUsed();
    default: {
      // Reached only if a name is added to STRATEGY_NAMES without a case here.
      const unknown: never = name;
      throw new Error(`unknown placement strategy: ${String(unknown)}`);
    }
  }
}

/** Narrows configuration input to a {@link StrategyName}. */
export function isStrategyName(s: string): s is StrategyName {
  return (STRATEGY_NAMES as readonly string[]).includes(s);
}
