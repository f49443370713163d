/**
 * The scale benchmark's pure computations: percentiles, CPU %, /proc parsing, event-loop
 * window and ping summaries. Unit-tested; nothing here talks to a process or to NATS.
 */

/** Nearest-rank percentile (`p` in 0…100) of `samples`; NaN for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Count, nearest-rank median and max of `samples` (NaN figures for none). */
export function summarize(samples: readonly number[]): {
  count: number;
  median: number;
  max: number;
} {
  return {
    count: samples.length,
    median: percentile(samples, 50),
    max: samples.length === 0 ? Number.NaN : Math.max(...samples),
  };
}

/**
 * User + system CPU time of a process in clock ticks, from the text of `/proc/<pid>/stat`;
 * null when it does not parse. The command name (field 2) may hold spaces and parentheses, so
 * fields are counted from the last ")".
 */
export function parseStatCpuTicks(stat: string): number | null {
  const close = stat.lastIndexOf(")");
  if (close < 0) return null;
  // After "(comm) " the state is field 3; utime and stime are fields 14 and 15.
  const f = stat
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  return f.length >= 13 && Number.isInteger(utime) && Number.isInteger(stime)
    ? utime + stime
    : null;
}

/** Resident set size in bytes from the text of `/proc/<pid>/status` (`VmRSS: … kB`); null if absent. */
export function parseVmRssBytes(status: string): number | null {
  const m = /^VmRSS:\s+(\d+)\s+kB\s*$/m.exec(status);
  return m === null ? null : Number(m[1]) * 1024;
}

/** A process's CPU clock ticks at a wall-clock time (ms). */
export interface CpuSample {
  ticks: number;
  atMs: number;
}

/**
 * CPU use between two samples as a percentage of one core (200 = two cores busy). Linux
 * reports ticks at USER_HZ, which is 100 on every mainstream kernel build.
 */
export function cpuPercent(before: CpuSample, after: CpuSample, ticksPerSecond = 100): number {
  const wallMs = after.atMs - before.atMs;
  if (wallMs <= 0) return Number.NaN;
  return ((after.ticks - before.ticks) / ticksPerSecond / (wallMs / 1_000)) * 100;
}

/** One health window's event-loop figures, as in a health reply's `process` field. */
export interface DelayWindow {
  eventLoopDelayMaxMs: number;
  eventLoopDelayP99Ms: number;
}

/**
 * Event-loop delay over consecutive health windows. The max is exact (the max of the maxima);
 * a p99 cannot be recombined from windows, so the highest window p99 stands in for it, which
 * is never lower than the p99 of the whole span's busiest window. Null for no windows.
 */
export function mergeDelayWindows(
  windows: readonly DelayWindow[],
): { maxMs: number; p99Ms: number; windows: number } | null {
  if (windows.length === 0) return null;
  return {
    maxMs: Math.max(...windows.map((w) => w.eventLoopDelayMaxMs)),
    p99Ms: Math.max(...windows.map((w) => w.eventLoopDelayP99Ms)),
    windows: windows.length,
  };
}

/** One API request sent during failover: when (ms after the kill) and how long its answer took. */
export interface Ping {
  sentOffsetMs: number;
  /** Null when no answer came before the request's own timeout. */
  answerMs: number | null;
  /** Set when the answer was an error reply. */
  error?: string;
}

/** Figures of the pings sent in one part of the failover window. */
export interface PingFigures {
  sent: number;
  /** Answers (error replies included) within `limitMs`. */
  answeredWithinLimit: number;
  /** Requests with no answer within `limitMs` (late or never). */
  noAnswerWithinLimit: number;
  /** Slowest answer that did come (NaN if none). */
  maxAnswerMs: number;
  errorReplies: number;
}

/**
 * Splits pings at `splitMs` after the kill (requests sent before it may legitimately wait for
 * the election) and summarizes each side against `limitMs`.
 */
export function summarizePings(
  pings: readonly Ping[],
  splitMs = 1_000,
  limitMs = 1_000,
): { before: PingFigures; after: PingFigures } {
  const figures = (ps: readonly Ping[]): PingFigures => {
    const answered = ps.filter((p) => p.answerMs !== null).map((p) => p.answerMs!);
    const within = answered.filter((ms) => ms <= limitMs).length;
    return {
      sent: ps.length,
      answeredWithinLimit: within,
      noAnswerWithinLimit: ps.length - within,
      maxAnswerMs: answered.length === 0 ? Number.NaN : Math.max(...answered),
      errorReplies: ps.filter((p) => p.error !== undefined).length,
    };
  };
  return {
    before: figures(pings.filter((p) => p.sentOffsetMs < splitMs)),
    after: figures(pings.filter((p) => p.sentOffsetMs >= splitMs)),
  };
}

/**
 * The lease holder from a JetStream `STREAM.MSG.GET` reply for the lease key: its replica id
 * and the message's sequence (the term when the message is the `create` that won the lease,
 * a renewal's revision otherwise). Null for an error reply (no lease), a delete or purge
 * marker (empty body) or anything unparseable.
 */
export function parseLeaseMessage(reply: string): { replicaId: string; seq: number } | null {
  try {
    const r = JSON.parse(reply) as { message?: { seq?: unknown; data?: unknown } };
    const m = r.message;
    if (m === undefined || typeof m.seq !== "number" || typeof m.data !== "string") return null;
    const body = Buffer.from(m.data, "base64").toString();
    if (body === "") return null;
    const value = JSON.parse(body) as { replicaId?: unknown };
    return typeof value.replicaId === "string" ? { replicaId: value.replicaId, seq: m.seq } : null;
  } catch {
    return null;
  }
}

/** "12.3 MiB" (binary megabytes, the unit of the ≤ 512 MB goal). */
export function formatMiB(bytes: number | null): string {
  return bytes === null ? "n/a" : `${(bytes / 1_048_576).toFixed(1)} MiB`;
}
