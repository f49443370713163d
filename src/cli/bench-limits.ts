/**
 * The benchmarks submit as a named submitter, so that admission control is on their path,
 * with limits far above what they send: what they measure includes the checks, never a
 * refusal. Their scheduler processes get the limits through the environment.
 */
export const BENCH_SUBMITTER = "bench";

/** Per-submitter limits far above any benchmark's rate and backlog. */
export const BENCH_LIMITS_ENV = {
  DROVER_SUBMITTER_RATE: "1000000",
  DROVER_SUBMITTER_BURST: "1000000",
  DROVER_SUBMITTER_MAX_UNFINISHED: "100000000",
} as const;
