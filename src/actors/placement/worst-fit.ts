import { decide, formatNumber } from "./filter.ts";
import { leftoverScore, lowestBy, scoreAll } from "./score.ts";
import type { PlacementStrategy } from "./types.ts";

function create(name: "worst-fit" | "spread"): PlacementStrategy {
  return {
    name,
    place(task, workers) {
      return decide(name, task, workers, (fitting) => {
        const scores = scoreAll(fitting, (w) => leftoverScore(task, w));
        // Highest leftover = lowest negated leftover; lowestBy keeps ties on the smallest id.
        const chosen = lowestBy(fitting, (w) => -leftoverScore(task, w));
        const score = formatNumber(leftoverScore(task, chosen));
        const why = name === "spread" ? "is least loaded" : "leaves most capacity";
        return { chosen, scores, reason: `${name}: ${chosen.id} ${why} (score ${score})` };
      });
    },
  };
}

/**
 * Worst-fit: the worker left with the most capacity after placing the task (the least loaded),
 * ties by id. Spreads load and leaves headroom for bursts on every worker.
 *
 * Score: normalized leftover (see `leftoverScore`); higher wins.
 */
export function createWorstFit(): PlacementStrategy {
  return create("worst-fit");
}

/** Spread: worst-fit under the name operators usually look for. Same choice, same scores. */
export function createSpread(): PlacementStrategy {
  return create("spread");
}
