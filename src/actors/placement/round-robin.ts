import { compareStrings, decide } from "./filter.ts";
import { sortById } from "./score.ts";
import type { PlacementStrategy } from "./types.ts";

/**
 * Round-robin: rotates through the fitting workers in id order, one step per placement.
 *
 * The cursor is the id of the last chosen worker rather than an index, so workers joining,
 * leaving or filling up do not reset or skew the rotation: the next choice is simply the first
 * fitting id after the last one, wrapping around. Each instance has its own cursor; a placement
 * that finds no fitting worker leaves it unchanged.
 *
 * Score: steps from the cursor (0 = chosen, 1 = next in line, ...).
 */
export function createRoundRobin(): PlacementStrategy {
  let last: string | null = null;
  return {
    name: "round-robin",
    place(task, workers) {
      return decide("round-robin", task, workers, (fitting) => {
        const ring = sortById(fitting);
        const prev = last;
        const after = prev === null ? -1 : ring.findIndex((w) => compareStrings(w.id, prev) > 0);
        // Past the highest id (or first call): wrap to the start of the ring.
        const start = after === -1 ? 0 : after;
        const scores = new Map(ring.map((w, i) => [w, (i - start + ring.length) % ring.length]));
        const chosen = ring[start] ?? fitting[0];
        const reason =
          prev === null
            ? `round-robin: ${chosen.id} starts the rotation of ${ring.length} fitting workers`
            : `round-robin: ${chosen.id} is next after ${prev} among ${ring.length} fitting workers`;
        last = chosen.id;
        return { chosen, scores, reason };
      });
    },
  };
}
