import { decide } from "./filter.ts";
import { lowestBy, scoreAll } from "./score.ts";
import type { PlacementStrategy } from "./types.ts";

/**
 * Least-recently-used: the fitting worker whose last assignment is oldest (never-assigned workers,
 * at 0, come first), ties by id. Spreads work over time rather than by load, which suits tasks
 * whose cost the resource request does not capture.
 *
 * Score: `lastAssignedAt`; lower wins.
 */
export function createLeastRecentlyUsed(): PlacementStrategy {
  return {
    name: "least-recently-used",
    place(task, workers) {
      return decide("least-recently-used", task, workers, (fitting) => {
        const chosen = lowestBy(fitting, (w) => w.lastAssignedAt);
        const when =
          chosen.lastAssignedAt === 0
            ? "never assigned"
            : `last assigned at ${chosen.lastAssignedAt}`;
        return {
          chosen,
          scores: scoreAll(fitting, (w) => w.lastAssignedAt),
          reason: `least-recently-used: ${chosen.id} was assigned longest ago (${when})`,
        };
      });
    },
  };
}
