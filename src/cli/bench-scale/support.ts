/**
 * What the scale benchmark's phases share: its constants and goals, the role processes it
 * started, /proc readings, a watch that follows probe tasks, and polling every replica's health.
 */
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import type { HealthReply, TaskRecord, TaskState } from "../../protocol/index.ts";
import { DroverError, ErrorCode } from "../../protocol/index.ts";
import type { DroverClient } from "../../runtime/index.ts";
import type { DelayWindow } from "./stats.ts";
import { parseStatCpuTicks, parseVmRssBytes } from "./stats.ts";

/** Epoch milliseconds with sub-millisecond resolution (same clock as `Date.now()`). */
export const now = (): number => performance.timeOrigin + performance.now();
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const round1 = (v: number): number => Math.round(v * 10) / 10;
export const MIB = 1_048_576;

/** The type of the backlog: no worker has a handler for it, so it stays queued. */
export const BACKLOG_TYPE = "nohandler";
/** The runnable probe type (an example handler that returns at once). */
export const PROBE_TYPE = "echo";
export const PAD = "x".repeat(200);

/** The backlog the RSS goal is stated for. */
export const RSS_GOAL_BACKLOG = 1_000_000;
/** Goals of the issue this benchmark answers. */
export const GOALS = {
  rssMiB: 512,
  idleCpuPercent: 5,
  probeMedianMs: 20,
  apiAnswerMs: 1_000,
  firstAssignmentMs: 2_000,
  eventLoopDelayMs: 100,
  listPageMs: 100,
  dashboardPageMs: 200,
} as const;

export interface Role {
  name: string;
  kind: "scheduler" | "worker";
  proc: ChildProcess;
  tail: string;
  /** Killed on purpose (the failover): its exit is not a failure. */
  killed: boolean;
  peakRssBytes: number;
}

export interface RssFigures {
  before: number | null;
  afterFill: number | null;
  peak: number | null;
  end: number | null;
}

export const isRetryable = (err: unknown): boolean =>
  err instanceof DroverError &&
  (err.retryable || err.code === ErrorCode.Unavailable || err.code === ErrorCode.Timeout);

export const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Parses `/proc/<pid>/<file>`; null when the process or the file is gone or unparsable. */
function readProc<T>(
  pid: number | undefined,
  file: string,
  parse: (text: string) => T | null,
): T | null {
  if (pid === undefined) return null;
  try {
    return parse(readFileSync(`/proc/${pid}/${file}`, "utf8"));
  } catch {
    return null;
  }
}

export const readCpuTicks = (pid: number | undefined): number | null =>
  readProc(pid, "stat", parseStatCpuTicks);

export const readRssBytes = (pid: number | undefined): number | null =>
  readProc(pid, "status", parseVmRssBytes);

/** What the probe watch saw of one runnable task. */
export interface Seen {
  at: number;
  state: TaskState;
  term: number;
  startedAt: number | null;
  assignedAt: number | null;
}

/**
 * Follows the records of probe tasks (type {@link PROBE_TYPE}) through one watch of the tasks
 * bucket. Records are kept by id from the start, since a probe's assignment can reach the
 * watch before its submit reply reaches the bench.
 */
export class ProbeWatch {
  readonly #seen = new Map<string, Seen[]>();
  readonly #waiters = new Set<() => void>();

  readonly onRecord = (r: TaskRecord): void => {
    if (r.type !== PROBE_TYPE) return;
    const list = this.#seen.get(r.id) ?? [];
    list.push({
      at: now(),
      state: r.state,
      term: r.term,
      startedAt: r.startedAt,
      assignedAt: r.assignedAt,
    });
    this.#seen.set(r.id, list);
    for (const w of [...this.#waiters]) w();
  };

  /** The first sighting of `id` that satisfies `pred`, or null after `timeoutMs`. */
  async waitFor(
    id: string,
    pred: (s: Seen) => boolean,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<Seen | null> {
    const find = (): Seen | null => this.#seen.get(id)?.find(pred) ?? null;
    const found = find();
    if (found !== null || signal.aborted) return found;
    return await new Promise<Seen | null>((resolve) => {
      const finish = (s: Seen | null): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        signal.removeEventListener("abort", onAbort);
        resolve(s);
      };
      const check = (): void => {
        const s = find();
        if (s !== null) finish(s);
      };
      const onAbort = (): void => finish(null);
      const timer = setTimeout(() => finish(null), timeoutMs);
      this.#waiters.add(check);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}

export const STARTED: readonly TaskState[] = ["assigned", "running", "succeeded"];

/**
 * Asks health until `done` holds for the latest reply of every replica in `ids`, and returns
 * every reply by replica. Health is served by a queue group, so which replica answers is up to
 * NATS: a few requests reach them all.
 */
export async function pollHealth(
  client: DroverClient,
  ids: readonly string[],
  done: (latest: ReadonlyMap<string, HealthReply>) => boolean,
  opts: { timeoutMs: number; intervalMs: number; what: string; signal: AbortSignal },
): Promise<Map<string, HealthReply[]>> {
  const replies = new Map<string, HealthReply[]>();
  const latest = new Map<string, HealthReply>();
  const deadline = now() + opts.timeoutMs;
  let lastError = "";
  for (;;) {
    try {
      const h = await client.health();
      if (ids.includes(h.replicaId)) {
        latest.set(h.replicaId, h);
        replies.set(h.replicaId, [...(replies.get(h.replicaId) ?? []), h]);
        if (ids.every((id) => latest.has(id)) && done(latest)) return replies;
      }
    } catch (err) {
      lastError = errText(err);
    }
    if (opts.signal.aborted) return replies;
    if (now() > deadline)
      throw new DroverError(
        ErrorCode.Timeout,
        `scale bench: ${opts.what} took longer than ${Math.round(opts.timeoutMs / 1_000)} s ` +
          `(answered: ${[...latest.keys()].join(", ") || "none"}${lastError ? `; last error: ${lastError}` : ""})`,
      );
    if (opts.intervalMs > 0) await sleep(opts.intervalMs);
  }
}

export const delayWindows = (replies: readonly HealthReply[]): DelayWindow[] =>
  replies.flatMap((h) => (h.process !== undefined ? [h.process] : []));

/** Runs `drover bench --backlog N`; returns the exit code. */

export const roundSummary = (s: { count: number; median: number; max: number }) => ({
  count: s.count,
  median: round1(s.median),
  max: round1(s.max),
});

export const lastLines = (text: string, n = 2): string =>
  text.trim().split("\n").slice(-n).join(" | ");
