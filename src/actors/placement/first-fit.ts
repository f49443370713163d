import { decide } from "./filter.ts";
import type { PlacementStrategy } from "./types.ts";

/**
 * First-fit: the first fitting worker in the order given. Callers pass workers sorted by id, which
 * makes it deterministic and packs work onto the low ids.
 *
 * Score: position among the fitting workers (0 = chosen).
 */
export function createFirstFit(): PlacementStrategy {
  return {
    name: "first-fit",
    place(task, workers) {
      return decide("first-fit", task, workers, (fitting) => ({
        chosen: fitting[0],
        scores: new Map(fitting.map((w, i) => [w, i])),
        reason: `first-fit: ${fitting[0].id} is the first of ${fitting.length} fitting workers`,
      }));
    },
  };
}
