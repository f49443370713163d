/**
 * The timing loop of the pure-computation benchmarks (`drover bench-placement`,
 * `drover bench-machines`): the median over `rounds` rounds of the time per call of `fn`, each
 * round `calls` calls. `fn` gets a counter that runs on across rounds, for fresh ids.
 */
import { performance } from "node:perf_hooks";

/** Median of the per-call times of `fn` over `rounds` rounds of `calls` calls (µs, 0.1). */
export function medianMicros(fn: (i: number) => void, calls: number, rounds = 7): number {
  const times: number[] = [];
  let n = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) fn(n++);
    times.push(((performance.now() - t0) * 1_000) / calls);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[Math.floor(times.length / 2)]! * 10) / 10;
}
