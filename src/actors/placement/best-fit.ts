import { decide, formatNumber } from "./filter.ts";
import { leftoverScore, lowestBy, scoreAll } from "./score.ts";
import type { PlacementStrategy } from "./types.ts";

/**
 * Best-fit: the worker left with the least capacity after placing the task, ties by id. Packs
 * tasks tightly so that large holes stay available for large tasks.
 *
 * Score: normalized leftover (see `leftoverScore`); lower wins.
 */
export function createBestFit(): PlacementStrategy {
  return {
    name: "best-fit",
    place(task, workers) {
      return decide("best-fit", task, workers, (fitting) => {
        const scores = scoreAll(fitting, (w) => leftoverScore(task, w));
        const chosen = lowestBy(fitting, (w) => leftoverScore(task, w));
        const score = formatNumber(leftoverScore(task, chosen));
        return {
          chosen,
          scores,
          reason: `best-fit: ${chosen.id} leaves least capacity (score ${score})`,
        };
      });
    },
  };
}
