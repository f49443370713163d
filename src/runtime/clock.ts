/**
 * The monotonic clock, for every deadline a process keeps for itself (its lease, its
 * heartbeat, its fencing): it never jumps when the wall clock is set, and it is the same in
 * every thread of the process. Wall-clock time (`Date.now()`) is for what is written down
 * and shown; it is never compared across hosts for a decision.
 */

/** Milliseconds (with microseconds) since an arbitrary point, e.g. boot. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000n) / 1_000;
}
