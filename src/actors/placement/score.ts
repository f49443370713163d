/** Scoring and tie-breaking shared by the ranking strategies. */
import { compareStrings, freeCapacity, RESOURCE_DIMENSIONS } from "./filter.ts";
import type { TaskView, WorkerView } from "./types.ts";

/**
 * How much of a worker would stay free after placing the task, normalized to [0, 1] for a
 * fitting worker: the mean over dimensions with capacity > 0 of `(free - request) / capacity`.
 *
 * Normalizing per dimension keeps memory (thousands of MB) from drowning out cpu and slots.
 * Dimensions with zero capacity carry no information and would divide by zero, so they are
 * skipped; a worker with no capacity at all scores 0 (nothing left).
 */
export function leftoverScore(task: TaskView, w: WorkerView): number {
  const free = freeCapacity(w);
  let sum = 0;
  let dims = 0;
  for (const d of RESOURCE_DIMENSIONS) {
    const cap = w.capacity[d];
    if (cap > 0) {
      sum += (free[d] - task.resources[d]) / cap;
      dims += 1;
    }
  }
  return dims === 0 ? 0 : sum / dims;
}

/**
 * Projected utilization after placing the task: `1 - leftoverScore`. Used where "less loaded"
 * is the natural phrasing (spread, power-of-two).
 */
export function projectedLoad(task: TaskView, w: WorkerView): number {
  return 1 - leftoverScore(task, w);
}

/** Workers ordered by id, so every id-based tie-break and rotation is input-order independent. */
export function sortById(workers: readonly WorkerView[]): WorkerView[] {
  return [...workers].sort((a, b) => compareStrings(a.id, b.id));
}

/**
 * The worker with the lowest score, ties going to the smallest id. Callers wanting the highest
 * score negate it.
 */
export function lowestBy(
  workers: readonly [WorkerView, ...WorkerView[]],
  score: (w: WorkerView) => number,
): WorkerView {
  let [best] = workers;
  let bestScore = score(best);
  for (const w of workers) {
    const s = score(w);
    if (s < bestScore || (s === bestScore && compareStrings(w.id, best.id) < 0)) {
      best = w;
      bestScore = s;
    }
  }
  return best;
}

/** Scores for every worker, keyed by identity as {@link Ranking} expects. */
export function scoreAll(
  workers: readonly WorkerView[],
  score: (w: WorkerView) => number,
): Map<WorkerView, number> {
  return new Map(workers.map((w) => [w, score(w)]));
}
