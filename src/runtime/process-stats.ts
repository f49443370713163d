/**
 * Self-measurement of a long-running role process: resident memory and event-loop delay, for
 * the health reply (and through it for `drover bench --backlog`). Kept tiny so that measuring
 * costs nothing noticeable: one 10 ms libuv timer per histogram, and a read is a few calls.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { ELDHistogram } from "node:perf_hooks";
import type { HealthProcessStats } from "../protocol/index.ts";

/** Sampling interval of the event-loop delay monitor. */
const RESOLUTION_MS = 10;

/** Reads the figures of {@link HealthProcessStats}; see {@link processStats}. */
export interface ProcessStatsReader {
  /** The figures of the current window and since start, without closing the window. */
  readonly read: () => HealthProcessStats;
  /** Starts a new window now. */
  readonly reset: () => void;
  /** {@link read}, then {@link reset}: consecutive calls cover consecutive, disjoint windows. */
  readonly readAndReset: () => HealthProcessStats;
}

let shared: ProcessStatsReader | null = null;

/**
 * The process-wide reader, started on first use. Two delay monitors run side by side: one is
 * never reset (the `sinceStart` figures), the other is reset by {@link ProcessStatsReader.reset}
 * (the window figures), since a histogram's percentiles cannot be recovered from two snapshots.
 *
 * There is one reader per process, not per caller, because the event loop is per process: a
 * reset by anyone in the process starts everyone's next window. The scheduler replica calls
 * `readAndReset()` on every health request, so a reply's window is "since the previous health
 * request this process answered" (health is served by a queue group: a client that wants one
 * replica's window over a phase asks until each replica has answered once at the start, and
 * keeps each replica's first answer at the end).
 *
 * The members are plain functions (no `this`), so they can be passed around unbound. The
 * monitors' timers are unreferenced by Node, so they never keep a process alive.
 */
export function processStats(): ProcessStatsReader {
  if (shared !== null) return shared;
  const total = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  const windowed = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  total.enable();
  windowed.enable();
  const startedAt = Date.now();
  let windowStartedAt = startedAt;
  const read = (): HealthProcessStats => ({
    rssBytes: process.memoryUsage.rss(),
    eventLoopDelayMaxMs: maxMs(windowed),
    eventLoopDelayP99Ms: p99Ms(windowed),
    windowStartedAt,
    sinceStart: {
      startedAt,
      eventLoopDelayMaxMs: maxMs(total),
      eventLoopDelayP99Ms: p99Ms(total),
    },
  });
  const reset = (): void => {
    windowed.reset();
    windowStartedAt = Date.now();
  };
  shared = {
    read,
    reset,
    readAndReset: () => {
      const stats = read();
      reset();
      return stats;
    },
  };
  return shared;
}

// An empty histogram reports max 0 and a tiny p99 (its lowest bucket): both round to 0.
const ms = (ns: number): number => Math.round(ns / 1e5) / 10;
const maxMs = (h: ELDHistogram): number => (h.count === 0 ? 0 : ms(h.max));
const p99Ms = (h: ELDHistogram): number => (h.count === 0 ? 0 : ms(h.percentile(99)));
