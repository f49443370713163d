/**
 * Retry backoff: a pure function of the policy, the failure count and a random number,
 * so the caller owns randomness (the machine stays deterministic and testable).
 */
import type { RetryPolicy } from "../protocol/index.ts";

/**
 * Delay before the next attempt, in ms (an integer in `[0, maxMs]`).
 *
 * - `fixed`: `baseMs`;
 * - `exponential`: `min(maxMs, baseMs * 2^(failures - 1))`;
 * - then jitter: multiplied by `1 - jitter + 2 * jitter * rand` (a factor in
 *   `[1 - jitter, 1 + jitter]`), and clamped to `[0, maxMs]`.
 *
 * @param policy the task's retry policy
 * @param failures failed attempts so far, including the one just reported (≥ 1)
 * @param rand a uniform random number in `[0, 1)`; out-of-range values are clamped
 */
export function backoffDelay(policy: RetryPolicy, failures: number, rand: number): number {
  const { type, baseMs, maxMs, jitter } = policy.backoff;
  const n = Math.max(1, Math.floor(Number.isFinite(failures) ? failures : 1));
  // 2^(n-1) grows past maxMs quickly; Math.min keeps it finite for n ≤ 100 (maxAttempts bound).
  const raw = type === "fixed" ? baseMs : Math.min(maxMs, baseMs * 2 ** Math.min(n - 1, 1000));
  const r = Number.isFinite(rand) ? Math.min(1, Math.max(0, rand)) : 0.5;
  const j = Math.min(1, Math.max(0, jitter));
  const jittered = raw * (1 - j + 2 * j * r);
  return Math.round(Math.min(maxMs, Math.max(0, jittered)));
}
