import { decide, formatNumber } from "./filter.ts";
import { lowestBy, scoreAll } from "./score.ts";
import type { PlacementStrategy } from "./types.ts";

/**
 * A 32-bit string hash: FNV-1a over the UTF-16 code units (low byte, then high byte), followed by
 * the murmur3 `fmix32` finalizer.
 *
 * FNV-1a alone mixes its last bytes poorly into the high bits, and rendezvous hashing compares
 * whole 32-bit values of strings that differ only at the end (the worker id), so the finalizer
 * is what makes the weights behave like independent uniform draws. Pure and stable across hosts.
 */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h = Math.imul(h ^ (c & 0xff), 0x01000193);
    h = Math.imul(h ^ (c >>> 8), 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The rendezvous weight of a worker for a key, in [0, 1). The NUL separator keeps ("ab", "c")
 * and ("a", "bc") apart.
 */
export function rendezvousWeight(key: string, workerId: string): number {
  return hash32(`${key}\u0000${workerId}`) / 0x1_0000_0000;
}

/**
 * Consistent-hash: rendezvous (highest-random-weight) hashing of `task.key ?? task.id` over the
 * fitting workers; ties (32-bit collisions) by id.
 *
 * Each key goes to the worker with the highest weight for it, so a joining worker takes only the
 * keys it now wins (about 1/n of them) and a leaving worker gives up only its own keys; every
 * other key stays put, which keeps per-key caches and locality warm.
 *
 * Score: the rendezvous weight in [0, 1); higher wins.
 */
export function createConsistentHash(): PlacementStrategy {
  return {
    name: "consistent-hash",
    place(task, workers) {
      const key = task.key ?? task.id;
      return decide("consistent-hash", task, workers, (fitting) => {
        const scores = scoreAll(fitting, (w) => rendezvousWeight(key, w.id));
        const chosen = lowestBy(fitting, (w) => -rendezvousWeight(key, w.id));
        const weight = formatNumber(rendezvousWeight(key, chosen.id));
        return {
          chosen,
          scores,
          reason: `consistent-hash: key '${key}' maps to ${chosen.id} (weight ${weight}, highest of ${fitting.length} fitting workers)`,
        };
      });
    },
  };
}
