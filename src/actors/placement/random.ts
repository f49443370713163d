import { decide } from "./filter.ts";
import { sortById } from "./score.ts";
import type { PlacementContext, PlacementStrategy } from "./types.ts";

/**
 * A uniform index in [0, n) from the injected RNG. Out-of-contract draws (1, negative, NaN) are
 * clamped rather than trusted, so a bad RNG can skew the choice but never index out of range.
 */
export function drawIndex(ctx: PlacementContext, n: number): number {
  const r = ctx.random();
  const i = Math.floor((r >= 0 ? r : 0) * n);
  return Math.min(Math.max(i, 0), n - 1);
}

/**
 * Random: a uniformly random fitting worker, drawn with `ctx.random`. The fitting workers are
 * sorted by id before drawing, so the same draw picks the same worker whatever the input order.
 *
 * Score: the probability each fitting worker had of being chosen (1/n).
 */
export function createRandom(): PlacementStrategy {
  return {
    name: "random",
    place(task, workers, ctx) {
      return decide("random", task, workers, (fitting) => {
        const pool = sortById(fitting);
        const chosen = pool[drawIndex(ctx, pool.length)] ?? fitting[0];
        return {
          chosen,
          scores: new Map(pool.map((w) => [w, 1 / pool.length])),
          reason: `random: ${chosen.id} drawn from ${pool.length} fitting workers`,
        };
      });
    },
  };
}
