import { compareStrings, decide, formatNumber } from "./filter.ts";
import { drawIndex } from "./random.ts";
import { projectedLoad, scoreAll, sortById } from "./score.ts";
import type { PlacementStrategy, WorkerView } from "./types.ts";

/**
 * Power-of-two-choices: samples two distinct fitting workers with `ctx.random` and takes the less
 * loaded one (lower projected load after placing; ties by id). Nearly as balanced as worst-fit,
 * yet without every scheduler herding onto the same least-loaded worker from stale views.
 *
 * Sampling, over the fitting workers sorted by id (n of them): the first draw picks index
 * `floor(r1 * n)`, the second picks among the remaining n - 1 by `floor(r2 * (n - 1))`, skipping
 * the first. With a single fitting worker no draw is made.
 *
 * Score: projected load (see `projectedLoad`) for every fitting worker; lower wins.
 */
export function createPowerOfTwo(): PlacementStrategy {
  return {
    name: "power-of-two",
    place(task, workers, ctx) {
      return decide("power-of-two", task, workers, (fitting) => {
        const load = (w: WorkerView): number => projectedLoad(task, w);
        const scores = scoreAll(fitting, load);
        const pool = sortById(fitting);
        if (pool.length === 1) {
          return {
            chosen: fitting[0],
            scores,
            reason: `power-of-two: ${fitting[0].id} is the only fitting worker`,
          };
        }
        const i = drawIndex(ctx, pool.length);
        const j0 = drawIndex(ctx, pool.length - 1);
        const j = j0 >= i ? j0 + 1 : j0;
        const a = pool[i] ?? fitting[0];
        const b = pool[j] ?? fitting[0];
        const la = load(a);
        const lb = load(b);
        const aWins = la < lb || (la === lb && compareStrings(a.id, b.id) < 0);
        const [chosen, other] = aWins ? [a, b] : [b, a];
        const detail =
          la === lb
            ? `equally loaded (load ${formatNumber(la)}), ${chosen.id} wins by id`
            : `${chosen.id} is less loaded (load ${formatNumber(load(chosen))} vs ${formatNumber(load(other))})`;
        return {
          chosen,
          scores,
          reason: `power-of-two: sampled ${a.id} and ${b.id}; ${detail}`,
        };
      });
    },
  };
}
