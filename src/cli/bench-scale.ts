/**
 * `drover bench --backlog N`: the scale benchmark. Fills the queue with N tasks of a type no
 * worker runs, then measures what a large backlog costs and whether the cluster stays
 * responsive: RSS of every scheduler replica, the leader's CPU with nothing placeable, how soon
 * a runnable task behind the backlog starts, a SIGKILLed leader's failover, and each replica's
 * event-loop delay (reported by the replica itself in its health reply).
 *
 * The pure computations (percentiles, CPU %, /proc parsing, window and ping summaries) are
 * exported for the unit tests; everything else talks to processes and NATS.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { isStrategyName, STRATEGY_NAMES } from "../actors/index.ts";
import type { HealthReply, TaskRecord, TaskState } from "../protocol/index.ts";
import { DroverError, ErrorCode, resourceNames } from "../protocol/index.ts";
import type { NatsConnection } from "../runtime/index.ts";
import { connectNats, DroverClient, ensureResources } from "../runtime/index.ts";
import { resourceSettings } from "./config.ts";
import type { CommandContext } from "./command.ts";
import { UsageError } from "./command.ts";
import { numFlag, positiveIntFlag } from "./flags.ts";
import type { ThrowawayNats } from "./local.ts";
import { benchNats, mainScript, runGuard, stopChildren, waitForCluster } from "./local.ts";

// ---- pure computations (unit-tested) -----------------------------------------------------

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

// ---- the benchmark -------------------------------------------------------------------------

/** Epoch milliseconds with sub-millisecond resolution (same clock as `Date.now()`). */
const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round1 = (v: number): number => Math.round(v * 10) / 10;
const MIB = 1_048_576;

/** The type of the backlog: no worker has a handler for it, so it stays queued. */
const BACKLOG_TYPE = "nohandler";
/** The runnable probe type (an example handler that returns at once). */
const PROBE_TYPE = "echo";
const PAD = "x".repeat(200);

/** The backlog the RSS goal is stated for. */
const RSS_GOAL_BACKLOG = 1_000_000;
/** Goals of the issue this benchmark answers. */
const GOALS = {
  rssMiB: 512,
  idleCpuPercent: 5,
  probeMedianMs: 20,
  apiAnswerMs: 1_000,
  firstAssignmentMs: 2_000,
  eventLoopDelayMs: 100,
} as const;

interface Role {
  name: string;
  kind: "scheduler" | "worker";
  proc: ChildProcess;
  tail: string;
  /** Killed on purpose (the failover): its exit is not a failure. */
  killed: boolean;
  peakRssBytes: number;
}

interface RssFigures {
  before: number | null;
  afterFill: number | null;
  peak: number | null;
  end: number | null;
}

const isRetryable = (err: unknown): boolean =>
  err instanceof DroverError &&
  (err.retryable || err.code === ErrorCode.Unavailable || err.code === ErrorCode.Timeout);

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function readCpuTicks(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    return parseStatCpuTicks(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return null;
  }
}

function readRssBytes(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    return parseVmRssBytes(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return null;
  }
}

/** What the probe watch saw of one runnable task. */
interface Seen {
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
class ProbeWatch {
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

const STARTED: readonly TaskState[] = ["assigned", "running", "succeeded"];

/**
 * Asks health until `done` holds for the latest reply of every replica in `ids`, and returns
 * every reply by replica. Health is served by a queue group, so which replica answers is up to
 * NATS: a few requests reach them all.
 */
async function pollHealth(
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

const delayWindows = (replies: readonly HealthReply[]): DelayWindow[] =>
  replies.flatMap((h) => (h.process !== undefined ? [h.process] : []));

/** Runs `drover bench --backlog N`; returns the exit code. */
export async function runScaleBench(ctx: CommandContext): Promise<number> {
  const { values, config, signal } = ctx;
  const positive = (name: string, def: number): number => positiveIntFlag(values, name, def);
  const backlog = positive("backlog", 100_000);
  const schedulers = positive("schedulers", 2);
  const workers = positive("workers", 1);
  const inflight = positive("inflight", 256);
  const concurrency = positive("concurrency", 16);
  const probes = positive("probes", 20);
  const idleS = numFlag(values, "idle-s", 10);
  const failoverS = numFlag(values, "failover-s", 5);
  if (idleS <= 0) throw new UsageError("--idle-s must be positive");
  if (failoverS <= 0) throw new UsageError("--failover-s must be positive");
  const strategy = String(values.strategy);
  if (!isStrategyName(strategy))
    throw new UsageError(`unknown --strategy '${strategy}' (one of: ${STRATEGY_NAMES.join(", ")})`);
  const json = values.json === true;
  const external =
    values.nats !== undefined || (process.env.DROVER_NATS_URL ?? "").trim().length > 0;
  const prefix = `scale${randomBytes(4).toString("hex")}`;
  const replicas = external ? config.replicas : 1;
  const say = (line: string): void => console.error(`scale bench: ${line}`);

  const roles: Role[] = [];
  let stopping = false;
  let server: ThrowawayNats | null = null;
  let nc: NatsConnection | null = null;
  let stopWatch: (() => void) | null = null;
  let rssTimer: NodeJS.Timeout | null = null;
  // Rejects when a role process exits on its own, so no phase waits for a dead cluster.
  const { guard, roleFailed: roleFailed } = runGuard(signal, "scale bench");

  try {
    const nats = await benchNats(external, config.natsUrl, signal, guard);
    server = nats.server;
    const { servers } = nats;
    nc = await guard(connectNats({ servers, name: "drover-bench-scale", reconnectForever: false }));
    // Room for the whole backlog (about 1 KiB a record) under the 80 % admission line, unless
    // DROVER_TASKS_MAX_BYTES says otherwise.
    const settings = resourceSettings(config, replicas);
    const tasksBytes =
      process.env.DROVER_TASKS_MAX_BYTES === undefined
        ? Math.max(config.maxBytes.tasks, backlog * 2_048)
        : config.maxBytes.tasks;
    await guard(
      ensureResources(nc, prefix, {
        ...settings,
        maxBytes: { ...config.maxBytes, tasks: tasksBytes },
      }),
    );
    const env = {
      ...process.env,
      DROVER_NATS_URL: servers.join(","),
      DROVER_PREFIX: prefix,
      DROVER_LOG_LEVEL: "warn",
      DROVER_REPLICAS: String(replicas),
    };
    const specs: [string, Role["kind"], string[]][] = [
      ...Array.from({ length: schedulers }, (_, i): [string, Role["kind"], string[]] => [
        `scheduler-${i + 1}`,
        "scheduler",
        ["scheduler", "--id", `scheduler-${i + 1}`, "--strategy", strategy],
      ]),
      ...Array.from({ length: workers }, (_, i): [string, Role["kind"], string[]] => [
        `worker-${i + 1}`,
        "worker",
        [
          "worker",
          "--id",
          `worker-${i + 1}`,
          "--slots",
          String(concurrency),
          "--cpu",
          "1000",
          "--memory-mb",
          "1000000",
        ],
      ]),
    ];
    for (const [name, kind, args] of specs) {
      const proc = spawn(process.execPath, [...process.execArgv, mainScript, ...args], {
        env,
        stdio: ["ignore", "ignore", "pipe"],
      });
      const role: Role = { name, kind, proc, tail: "", killed: false, peakRssBytes: 0 };
      roles.push(role);
      proc.stderr?.on(
        "data",
        (d: Buffer) => (role.tail = (role.tail + d.toString()).slice(-4_000)),
      );
      const onGone = (why: string): void => {
        if (!stopping && !role.killed)
          roleFailed(
            new DroverError(
              ErrorCode.Unavailable,
              `scale bench: ${name} ${why}${lastLines(role.tail) ? `: ${lastLines(role.tail)}` : ""}`,
            ),
          );
      };
      proc.once("error", (err) => onGone(`could not start (${err.message})`));
      proc.once("exit", (code, sig) => onGone(`exited (${sig ?? code})`));
    }
    const schedulerRoles = roles.filter((r) => r.kind === "scheduler");
    const schedulerIds = schedulerRoles.map((r) => r.name);
    // Every process's RSS once a second, for the peaks (cheap: one small /proc read each).
    const sampleRss = (): void => {
      for (const r of roles) {
        if (r.killed) continue;
        const rss = readRssBytes(r.proc.pid);
        if (rss !== null) r.peakRssBytes = Math.max(r.peakRssBytes, rss);
      }
    };
    rssTimer = setInterval(sampleRss, 1_000);

    const client = new DroverClient(nc, { prefix, timeoutMs: 10_000 });
    // Health and failover requests must not hide a stall behind a long timeout.
    const quick = new DroverClient(nc, { prefix, timeoutMs: 2_000 });
    await guard(waitForCluster(client, workers, signal));
    say(
      `cluster up (prefix ${prefix}, ${schedulers} schedulers, ${workers} worker(s)); filling ${backlog} tasks`,
    );

    // ---- before ----------------------------------------------------------------------------
    const pollOpts = (what: string, timeoutMs = 30_000, intervalMs = 0) => ({
      what,
      timeoutMs,
      intervalMs,
      signal,
    });
    // Also starts every replica's event-loop window: the fill's figures cover from here.
    const beforeHealth = await guard(
      pollHealth(quick, schedulerIds, () => true, pollOpts("asking every scheduler for health")),
    );
    const rssBefore = new Map(roles.map((r) => [r.name, readRssBytes(r.proc.pid)]));
    const natsRssBefore = readRssBytes(server?.pid);
    const processReported = [...beforeHealth.values()].every((hs) =>
      hs.some((h) => h.process !== undefined),
    );

    // ---- fill ------------------------------------------------------------------------------
    const cpuBeforeFill = new Map(roles.map((r) => [r.name, readCpuTicks(r.proc.pid)]));
    let submitted = 0;
    let retries = 0;
    let next = 0;
    let firstId: string | null = null;
    const fillStarted = now();
    let lastProgress = { at: fillStarted, submitted: 0 };
    const progress = setInterval(() => {
      const at = now();
      const rate = ((submitted - lastProgress.submitted) / (at - lastProgress.at)) * 1_000;
      lastProgress = { at, submitted };
      say(
        `fill ${submitted}/${backlog} submitted, ${Math.round(rate)}/s over the last 5 s, ` +
          `${retries} retries`,
      );
    }, 5_000);
    let halted = false;
    try {
      const submitter = async (): Promise<void> => {
        while (next < backlog && !halted && !signal.aborted) {
          next++;
          for (let attempt = 1; ; attempt++) {
            try {
              const reply = await client.submit({
                type: BACKLOG_TYPE,
                payload: { pad: PAD },
              });
              firstId ??= reply.id;
              submitted++;
              break;
            } catch (err) {
              // A retried submit whose first try was in fact stored adds one task more:
              // acceptable for a backlog, and the catch-up below waits for "at least N".
              if (!isRetryable(err) || attempt >= 10 || halted || signal.aborted)
                throw new DroverError(
                  ErrorCode.Unavailable,
                  `scale bench: submit failed after ${submitted} accepted (attempt ${attempt}): ${errText(err)}`,
                  { cause: err },
                );
              retries++;
              await sleep(Math.min(1_000, 50 * 2 ** attempt));
            }
          }
        }
      };
      const running = Promise.all(Array.from({ length: Math.min(inflight, backlog) }, submitter));
      running.catch(() => undefined);
      await guard(running);
    } finally {
      halted = true;
      clearInterval(progress);
    }
    const fillMs = now() - fillStarted;
    say(
      `fill done: ${submitted} in ${(fillMs / 1_000).toFixed(1)} s (${Math.round((submitted / fillMs) * 1_000)}/s), ` +
        `${retries} retries; waiting for every replica's mirror`,
    );
    // The figures "with the backlog" start once every replica holds all of it.
    const catchUpStarted = now();
    const fillHealth = await guard(
      pollHealth(
        quick,
        schedulerIds,
        (latest) => [...latest.values()].every((h) => (h.tasks.queued ?? 0) >= backlog),
        pollOpts("waiting for the mirrors to hold the backlog", Math.max(60_000, backlog * 2), 250),
      ),
    );
    const catchUpMs = now() - catchUpStarted;
    const cpuAfterFill = new Map(roles.map((r) => [r.name, readCpuTicks(r.proc.pid)]));
    const fillCpuS: Record<string, number> = {};
    for (const r of roles) {
      const a = cpuBeforeFill.get(r.name);
      const b = cpuAfterFill.get(r.name);
      if (a != null && b != null) fillCpuS[r.name] = round1((b - a) / 100);
    }
    sampleRss();
    const rssAfterFill = new Map(roles.map((r) => [r.name, readRssBytes(r.proc.pid)]));
    const natsRssAfterFill = readRssBytes(server?.pid);
    const eldFill = new Map(
      schedulerIds.map((id) => [id, mergeDelayWindows(delayWindows(fillHealth.get(id) ?? []))]),
    );

    // ---- idle leader CPU -------------------------------------------------------------------
    const leaderHealth = await guard(
      pollHealth(
        quick,
        schedulerIds,
        (latest) => [...latest.values()].some((h) => h.role === "leader"),
        pollOpts("finding the leader"),
      ),
    );
    const leaderReply = [...leaderHealth.values()]
      .flat()
      .findLast((h) => h.role === "leader" && h.term !== null)!;
    const leaderId = leaderReply.replicaId;
    // Let the end of the catch-up (the leader's first passes over the full queue) settle.
    await guard(sleep(2_000));
    say(`measuring idle CPU of the leader (${leaderId}) for ${idleS} s`);
    const cpuProcs: [string, number | undefined][] = [
      ...roles.map((r): [string, number | undefined] => [r.name, r.proc.pid]),
      ...(server !== null ? [["nats-server", server.pid] as [string, number | undefined]] : []),
    ];
    const idleBefore = cpuProcs.map(([, pid]) => ({ ticks: readCpuTicks(pid), atMs: now() }));
    await guard(sleep(idleS * 1_000));
    const idleCpu: Record<string, number> = {};
    cpuProcs.forEach(([name, pid], i) => {
      const b = idleBefore[i]!;
      const ticks = readCpuTicks(pid);
      if (b.ticks !== null && ticks !== null)
        idleCpu[name] = round1(
          cpuPercent({ ticks: b.ticks, atMs: b.atMs }, { ticks, atMs: now() }),
        );
    });

    // ---- probes ----------------------------------------------------------------------------
    const watch = new ProbeWatch();
    stopWatch = await guard(client.watchAll(watch.onRecord, signal));
    say(`${probes} ${PROBE_TYPE} probes behind the backlog, one at a time`);
    const probeRecordMs: number[] = [];
    const probeSeenMs: number[] = [];
    const probeAckMs: number[] = [];
    let probesMissed = 0;
    for (let i = 1; i <= probes && !signal.aborted; i++) {
      const submitAt = now();
      const { id } = await guard(client.submit({ type: PROBE_TYPE, payload: { probe: i } }));
      probeAckMs.push(now() - submitAt);
      const s = await guard(watch.waitFor(id, (x) => STARTED.includes(x.state), 10_000, signal));
      if (s === null) {
        probesMissed++;
        continue;
      }
      probeSeenMs.push(s.at - submitAt);
      const startedAt = s.startedAt ?? s.assignedAt;
      if (startedAt !== null) probeRecordMs.push(startedAt - submitAt);
    }

    // ---- failover --------------------------------------------------------------------------
    let failover: FailoverFigures | null = null;
    if (schedulers >= 2 && firstId !== null) {
      say("failover: SIGKILL the leader");
      failover = await guard(
        measureFailover({
          client,
          quick,
          prefix,
          roles: schedulerRoles,
          pingId: firstId,
          watch,
          failoverS,
          signal,
          pollOpts,
        }),
      );
    }
    sampleRss();
    const rssEnd = new Map(roles.map((r) => [r.name, r.killed ? null : readRssBytes(r.proc.pid)]));
    const natsRssEnd = readRssBytes(server?.pid);
    stopWatch();
    stopWatch = null;

    // ---- report ----------------------------------------------------------------------------
    const rss: Record<string, RssFigures> = {};
    for (const r of roles)
      rss[r.name] = {
        before: rssBefore.get(r.name) ?? null,
        afterFill: rssAfterFill.get(r.name) ?? null,
        peak: r.peakRssBytes > 0 ? r.peakRssBytes : null,
        end: rssEnd.get(r.name) ?? null,
      };
    if (server !== null)
      rss["nats-server"] = {
        before: natsRssBefore,
        afterFill: natsRssAfterFill,
        peak: null,
        end: natsRssEnd,
      };
    const probeRecord = summarize(probeRecordMs);
    const probeSeen = summarize(probeSeenMs);
    const probeAck = summarize(probeAckMs);
    const schedulerPeakMiB = Math.max(...schedulerRoles.map((r) => r.peakRssBytes)) / MIB;
    const leaderIdleCpu = idleCpu[leaderId] ?? Number.NaN;
    const eldAll = [
      ...[...eldFill.values()].map((w) => w?.maxMs ?? Number.NaN),
      ...(failover !== null
        ? Object.values(failover.eventLoopDelay).map((w) => w?.maxMs ?? Number.NaN)
        : []),
    ].filter((v) => Number.isFinite(v));
    const goals = {
      rssPerReplicaAtMostMiB: {
        goal: GOALS.rssMiB,
        goalBacklog: RSS_GOAL_BACKLOG,
        measuredPeakMiB: round1(schedulerPeakMiB),
        // The goal is stated for a million queued tasks: a smaller run neither meets nor misses it.
        met: backlog >= RSS_GOAL_BACKLOG ? schedulerPeakMiB <= GOALS.rssMiB : null,
      },
      idleLeaderCpuAtMostPercent: {
        goal: GOALS.idleCpuPercent,
        measured: leaderIdleCpu,
        met: leaderIdleCpu <= GOALS.idleCpuPercent,
      },
      probeMedianAtMostMs: {
        goal: GOALS.probeMedianMs,
        measured: round1(probeRecord.median),
        met: probesMissed === 0 && probeRecord.median <= GOALS.probeMedianMs,
      },
      ...(failover !== null
        ? {
            apiAnsweredWithinMsAfter1s: {
              goal: GOALS.apiAnswerMs,
              measuredMaxMs: round1(failover.pings.after.maxAnswerMs),
              noAnswer: failover.pings.after.noAnswerWithinLimit,
              met: failover.pings.after.noAnswerWithinLimit === 0,
            },
            firstAssignmentAtMostMs: {
              goal: GOALS.firstAssignmentMs,
              measured: failover.firstAssignmentMs,
              met:
                failover.firstAssignmentMs !== null &&
                failover.firstAssignmentMs <= GOALS.firstAssignmentMs,
            },
          }
        : {}),
      eventLoopDelayAtMostMs: {
        goal: GOALS.eventLoopDelayMs,
        measuredMaxMs: eldAll.length > 0 ? Math.max(...eldAll) : null,
        met: eldAll.length > 0 && Math.max(...eldAll) <= GOALS.eventLoopDelayMs,
      },
    };
    const figures = {
      backlog,
      submitted,
      schedulers,
      workers,
      inflight,
      strategy,
      prefix,
      nats: external ? servers.join(",") : "throwaway",
      processStatsReported: processReported,
      fill: {
        durationMs: round1(fillMs),
        submitsPerS: round1((submitted / fillMs) * 1_000),
        retries,
        mirrorsCaughtUpMs: round1(catchUpMs),
        cpuSeconds: fillCpuS,
      },
      rssBytes: rss,
      idleCpu: { leader: leaderId, windowS: idleS, percentOfCore: idleCpu },
      probes: {
        sent: probes,
        missed: probesMissed,
        submitToStartRecordMs: roundSummary(probeRecord),
        submitToStartSeenMs: roundSummary(probeSeen),
        submitAckMs: roundSummary(probeAck),
      },
      failover,
      eventLoopDelayMs: {
        fill: Object.fromEntries(eldFill),
        failover: failover?.eventLoopDelay ?? null,
      },
      goals,
    };
    if (json) {
      console.log(JSON.stringify(figures));
      say("done");
    } else {
      printReport(figures, roles, leaderId);
      console.log("scale bench: done");
    }
    if (!processReported)
      console.error(
        "note: the schedulers' health replies carry no `process` field, so there are no event-loop figures",
      );
    const warned = roles.filter((r) => /"level":(4|5|6)\d/.test(r.tail));
    if (warned.length > 0)
      console.error(
        `note: ${warned.map((r) => r.name).join(", ")} logged warnings; last lines of ${warned[0]!.name}: ${lastLines(warned[0]!.tail, 2).slice(0, 400)}`,
      );
    if (external)
      console.error(
        `note: the streams and buckets of prefix '${prefix}' stay on ${servers.join(",")} (delete them with the nats CLI)`,
      );
    return 0;
  } catch (err) {
    if (signal.aborted) {
      console.error("scale bench: interrupted; stopping what it started");
      return 130;
    }
    for (const r of roles)
      if (r.tail.trim() !== "" && !r.killed)
        console.error(`--- ${r.name} (last lines) ---\n${lastLines(r.tail, 5)}`);
    throw err;
  } finally {
    stopping = true;
    if (rssTimer !== null) clearInterval(rssTimer);
    stopWatch?.();
    await stopChildren(roles.map((r) => r.proc));
    await nc?.close().catch(() => undefined);
    await server?.stop();
  }
}

const roundSummary = (s: { count: number; median: number; max: number }) => ({
  count: s.count,
  median: round1(s.median),
  max: round1(s.max),
});

const lastLines = (text: string, n = 2): string => text.trim().split("\n").slice(-n).join(" | ");

// ---- failover ------------------------------------------------------------------------------

interface FailoverFigures {
  killed: string;
  oldTerm: number;
  /** Who holds the lease after the kill, and its term (the lease message's sequence). */
  newLeader: string | null;
  newTerm: number | null;
  /** Kill → the lease key names another replica. */
  leaseTakenMs: number | null;
  /** Kill → the watch sees the probe running or succeeded under a term above the old one. */
  firstAssignmentMs: number | null;
  /** Kill → the probe's `assignedAt` under the new term (the new leader's clock). */
  firstAssignmentRecordMs: number | null;
  probeSubmitRetries: number;
  pingSubject: string;
  pings: { before: PingFigures; after: PingFigures; sent: number };
  eventLoopDelay: Record<string, { maxMs: number; p99Ms: number; windows: number } | null>;
}

async function measureFailover(o: {
  client: DroverClient;
  quick: DroverClient;
  prefix: string;
  roles: Role[];
  pingId: string;
  watch: ProbeWatch;
  failoverS: number;
  signal: AbortSignal;
  pollOpts: (
    what: string,
    timeoutMs?: number,
    intervalMs?: number,
  ) => { what: string; timeoutMs: number; intervalMs: number; signal: AbortSignal };
}): Promise<FailoverFigures> {
  const { quick, signal } = o;
  const schedulerIds = o.roles.map((r) => r.name);
  // Right before the kill: who leads under which term, and every replica's event-loop window
  // restarts (each health answer starts a new one).
  const before = await pollHealth(
    quick,
    schedulerIds,
    (latest) => [...latest.values()].some((h) => h.role === "leader" && h.term !== null),
    o.pollOpts("asking every scheduler for health before the kill"),
  );
  const leaderReply = [...before.values()]
    .flat()
    .findLast((h) => h.role === "leader" && h.term !== null)!;
  const killed = leaderReply.replicaId;
  const oldTerm = leaderReply.term!;
  const leaderRole = o.roles.find((r) => r.name === killed)!;
  const survivors = schedulerIds.filter((id) => id !== killed);

  const bucket = resourceNames(o.prefix).buckets.leader;
  const leaseSubject = `$JS.API.STREAM.MSG.GET.KV_${bucket}`;
  const leaseQuery = JSON.stringify({ last_by_subj: `$KV.${bucket}.lease` });
  const horizonMs = Math.max(15_000, o.failoverS * 1_000);

  leaderRole.killed = true;
  const killAt = now();
  const killAtEpoch = Date.now();
  leaderRole.proc.kill("SIGKILL");

  // The lease: polled every 20 ms from the stream, so its figure does not depend on health.
  const leaseTask = (async (): Promise<{ replicaId: string; seq: number; at: number } | null> => {
    while (now() - killAt < horizonMs && !signal.aborted) {
      try {
        const reply = await quick.nc.request(leaseSubject, leaseQuery, { timeout: 1_000 });
        const lease = parseLeaseMessage(reply.string());
        if (lease !== null && lease.replicaId !== killed) return { ...lease, at: now() };
      } catch {
        // A slow or lost answer: ask again.
      }
      await sleep(20);
    }
    return null;
  })();

  // A runnable probe submitted right after the kill. A request sent before NATS has noticed
  // the dead connection can be routed to the killed replica and never answered, so the submit
  // gives up after 500 ms and is sent again; its idempotency key makes a retry of a submit that
  // was in fact stored return the same task instead of a second one.
  let probeSubmitRetries = 0;
  const submitter = new DroverClient(quick.nc, { prefix: o.prefix, timeoutMs: 500 });
  const idempotencyKey = `failover-probe-${randomBytes(6).toString("hex")}`;
  const probeTask = (async (): Promise<{ seen: Seen | null }> => {
    let id: string | null = null;
    while (id === null && now() - killAt < horizonMs && !signal.aborted) {
      try {
        id = (
          await submitter.submit({
            type: PROBE_TYPE,
            payload: { probe: "failover" },
            idempotencyKey,
          })
        ).id;
      } catch (err) {
        if (!isRetryable(err)) throw err;
        probeSubmitRetries++;
      }
    }
    if (id === null) return { seen: null };
    const seen = await o.watch.waitFor(
      id,
      (s) => (s.state === "running" || s.state === "succeeded") && s.term > oldTerm,
      Math.max(1, horizonMs - (now() - killAt)),
      signal,
    );
    return { seen };
  })();

  // API answer times: a `get` every 100 ms (not health, whose replies close event-loop windows).
  const pings: Ping[] = [];
  const inFlight: Promise<void>[] = [];
  const pinger = new DroverClient(quick.nc, { prefix: o.prefix, timeoutMs: 3_000 });
  for (let i = 0; now() - killAt < o.failoverS * 1_000 && !signal.aborted; i++) {
    const sentAt = now();
    const ping: Ping = { sentOffsetMs: round1(sentAt - killAt), answerMs: null };
    pings.push(ping);
    inFlight.push(
      pinger.get(o.pingId).then(
        () => void (ping.answerMs = round1(now() - sentAt)),
        (err: unknown) => {
          // An error reply is an answer; a timeout or no responders is not.
          if (err instanceof DroverError && !err.retryable) {
            ping.answerMs = round1(now() - sentAt);
            ping.error = err.message;
          }
        },
      ),
    );
    await sleep(Math.max(0, killAt + (i + 1) * 100 - now()));
  }
  await Promise.all(inFlight);
  const [lease, probe] = await Promise.all([leaseTask, probeTask]);

  // Each survivor's first health answer now closes a window that began just before the kill.
  const after = await pollHealth(
    quick,
    survivors,
    () => true,
    o.pollOpts("asking the surviving schedulers for health"),
  );
  const eventLoopDelay: FailoverFigures["eventLoopDelay"] = {};
  for (const id of schedulerIds)
    eventLoopDelay[id] =
      id === killed ? null : mergeDelayWindows(delayWindows(after.get(id) ?? []));
  const seen = probe.seen;
  return {
    killed,
    oldTerm,
    newLeader: lease?.replicaId ?? null,
    newTerm: seen?.term ?? lease?.seq ?? null,
    leaseTakenMs: lease !== null ? round1(lease.at - killAt) : null,
    firstAssignmentMs: seen !== null ? round1(seen.at - killAt) : null,
    firstAssignmentRecordMs:
      seen?.assignedAt != null ? round1(seen.assignedAt - killAtEpoch) : null,
    probeSubmitRetries,
    pingSubject: quick.subjects.api.get,
    pings: { ...summarizePings(pings), sent: pings.length },
    eventLoopDelay,
  };
}

// ---- printing ------------------------------------------------------------------------------

function printReport(
  f: {
    backlog: number;
    submitted: number;
    schedulers: number;
    workers: number;
    inflight: number;
    fill: {
      durationMs: number;
      submitsPerS: number;
      retries: number;
      mirrorsCaughtUpMs: number;
      cpuSeconds: Record<string, number>;
    };
    rssBytes: Record<string, RssFigures>;
    idleCpu: { leader: string; windowS: number; percentOfCore: Record<string, number> };
    probes: {
      sent: number;
      missed: number;
      submitToStartRecordMs: { count: number; median: number; max: number };
      submitToStartSeenMs: { count: number; median: number; max: number };
      submitAckMs: { count: number; median: number; max: number };
    };
    failover: FailoverFigures | null;
    eventLoopDelayMs: {
      fill: Record<string, { maxMs: number; p99Ms: number; windows: number } | null>;
      failover: FailoverFigures["eventLoopDelay"] | null;
    };
  },
  roles: readonly Role[],
  leaderId: string,
): void {
  const ok = (met: boolean): string => (met ? "meets goal" : "MISSES goal");
  const ms = (v: number | null): string =>
    v === null || !Number.isFinite(v) ? "n/a" : `${v.toFixed(1)} ms`;
  const lines: string[] = [];
  const table = (rows: string[][]): void => {
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
    for (const r of rows)
      lines.push(
        `  ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")}`,
      );
  };
  lines.push(
    `scale bench: backlog ${f.backlog} '${BACKLOG_TYPE}' tasks, ${f.schedulers} schedulers, ` +
      `${f.workers} worker(s), ${f.inflight} submits in flight`,
  );
  lines.push("");
  lines.push(
    `fill: ${f.submitted} submitted in ${(f.fill.durationMs / 1_000).toFixed(1)} s ` +
      `(${f.fill.submitsPerS.toFixed(0)}/s), ${f.fill.retries} retries; every mirror held the ` +
      `backlog ${(f.fill.mirrorsCaughtUpMs / 1_000).toFixed(1)} s after the last submit`,
  );
  lines.push(
    `      CPU during fill: ${Object.entries(f.fill.cpuSeconds)
      .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
      .join(", ")}`,
  );
  lines.push("");
  lines.push(`RSS (goal: ≤ ${GOALS.rssMiB} MiB on every scheduler replica with 1,000,000 queued)`);
  const killedName = f.failover?.killed;
  table([
    ["process", "before", "after fill", "peak (1 s samples)", "at end"],
    ...Object.entries(f.rssBytes).map(([name, r]) => [
      `${name}${name === leaderId ? " (leader)" : ""}`,
      formatMiB(r.before),
      formatMiB(r.afterFill),
      formatMiB(r.peak),
      name === killedName ? "killed" : formatMiB(r.end),
    ]),
  ]);
  const peak = Math.max(
    ...roles.filter((r) => r.kind === "scheduler").map((r) => r.peakRssBytes / MIB),
  );
  const growth = Object.entries(f.rssBytes)
    .filter(([name]) => name.startsWith("scheduler-"))
    .flatMap(([name, r]) =>
      r.before !== null && r.afterFill !== null && f.submitted > 0
        ? [`${name} ${((r.afterFill - r.before) / f.submitted / 1_024).toFixed(2)} KiB`]
        : [],
    );
  lines.push(`  RSS growth per queued task (after fill − before): ${growth.join(", ")}`);
  lines.push(
    `  highest scheduler peak ${peak.toFixed(1)} MiB: ${
      f.backlog >= RSS_GOAL_BACKLOG
        ? ok(peak <= GOALS.rssMiB)
        : `no verdict (the goal is for ${RSS_GOAL_BACKLOG} queued, this run had ${f.backlog})`
    }`,
  );
  lines.push("");
  const leaderCpu = f.idleCpu.percentOfCore[f.idleCpu.leader] ?? Number.NaN;
  lines.push(
    `idle CPU over ${f.idleCpu.windowS} s, nothing placeable (goal: leader ≤ ${GOALS.idleCpuPercent}% of a core)`,
  );
  lines.push(
    `  leader ${f.idleCpu.leader}: ${leaderCpu.toFixed(1)}% of a core: ${ok(leaderCpu <= GOALS.idleCpuPercent)}`,
  );
  lines.push(
    `  others: ${Object.entries(f.idleCpu.percentOfCore)
      .filter(([k]) => k !== f.idleCpu.leader)
      .map(([k, v]) => `${k} ${v.toFixed(1)}%`)
      .join(", ")}`,
  );
  lines.push("");
  const p = f.probes;
  lines.push(
    `probes: ${p.sent} '${PROBE_TYPE}' tasks behind the backlog, one at a time (goal: median submit→start ≤ ${GOALS.probeMedianMs} ms)`,
  );
  table([
    ["submit→start", "median", "max", "n"],
    [
      "record (startedAt or assignedAt)",
      ms(p.submitToStartRecordMs.median),
      ms(p.submitToStartRecordMs.max),
      String(p.submitToStartRecordMs.count),
    ],
    [
      "first seen assigned/running (watch)",
      ms(p.submitToStartSeenMs.median),
      ms(p.submitToStartSeenMs.max),
      String(p.submitToStartSeenMs.count),
    ],
    [
      "submit acknowledged",
      ms(p.submitAckMs.median),
      ms(p.submitAckMs.max),
      String(p.submitAckMs.count),
    ],
  ]);
  lines.push(
    `  ${p.missed > 0 ? `${p.missed} probes did not start within 10 s; ` : ""}${ok(
      p.missed === 0 && p.submitToStartRecordMs.median <= GOALS.probeMedianMs,
    )}`,
  );
  lines.push("");
  const fo = f.failover;
  if (fo === null) {
    lines.push("failover: skipped (needs --schedulers 2 or more)");
  } else {
    lines.push(
      `failover: SIGKILL the leader ${fo.killed} (term ${fo.oldTerm}) with the backlog ` +
        `(goals: first assignment under the new term ≤ ${GOALS.firstAssignmentMs} ms; requests sent ≥ 1 s after the kill answered within 1 s)`,
    );
    table([
      ["figure", "value"],
      [
        "a follower holds the lease",
        fo.leaseTakenMs === null
          ? `not within the window`
          : `${ms(fo.leaseTakenMs)} (${fo.newLeader})`,
      ],
      [
        "first assignment under the new term",
        fo.firstAssignmentMs === null
          ? "none seen within 15 s"
          : `${ms(fo.firstAssignmentMs)} seen by the watch, ${ms(fo.firstAssignmentRecordMs)} by the record's assignedAt (term ${fo.newTerm})`,
      ],
      [
        `API '${fo.pingSubject.split(".").slice(-2).join(".")}' every 100 ms`,
        `${fo.pings.sent} sent from the kill on`,
      ],
      [
        "  sent < 1 s after the kill",
        `${fo.pings.before.sent} sent, max answer ${ms(fo.pings.before.maxAnswerMs)}, ` +
          `${fo.pings.before.noAnswerWithinLimit} without an answer within 1 s`,
      ],
      [
        "  sent ≥ 1 s after the kill",
        `${fo.pings.after.sent} sent, max answer ${ms(fo.pings.after.maxAnswerMs)}, ` +
          `${fo.pings.after.noAnswerWithinLimit} without an answer within 1 s`,
      ],
    ]);
    if (fo.pings.before.errorReplies + fo.pings.after.errorReplies > 0)
      lines.push(
        `  (${fo.pings.before.errorReplies + fo.pings.after.errorReplies} of the answers were error replies)`,
      );
    if (fo.probeSubmitRetries > 0)
      lines.push(`  the probe's submit was retried ${fo.probeSubmitRetries} times`);
    lines.push(
      `  first assignment: ${ok(fo.firstAssignmentMs !== null && fo.firstAssignmentMs <= GOALS.firstAssignmentMs)}; ` +
        `API after 1 s: ${ok(fo.pings.after.noAnswerWithinLimit === 0)}`,
    );
  }
  lines.push("");
  lines.push(
    `event-loop delay, max / p99 (monitorEventLoopDelay, 10 ms resolution: idle reads ≈ 10 ms; goal ≤ ${GOALS.eventLoopDelayMs} ms)`,
  );
  const eld = (w: { maxMs: number; p99Ms: number } | null | undefined): string =>
    w == null ? "n/a" : `${w.maxMs.toFixed(1)} / ${w.p99Ms.toFixed(1)} ms`;
  table([
    ["replica", "fill (submit → mirrors caught up)", "failover (kill → +window)"],
    ...Object.keys(f.eventLoopDelayMs.fill).map((id) => [
      id,
      eld(f.eventLoopDelayMs.fill[id]),
      fo === null ? "n/a" : id === fo.killed ? "killed" : eld(f.eventLoopDelayMs.failover?.[id]),
    ]),
  ]);
  const maxima = [
    ...Object.values(f.eventLoopDelayMs.fill),
    ...Object.values(f.eventLoopDelayMs.failover ?? {}),
  ]
    .filter((w) => w != null)
    .map((w) => w.maxMs);
  if (maxima.length > 0)
    lines.push(
      `  highest max ${Math.max(...maxima).toFixed(1)} ms: ${ok(Math.max(...maxima) <= GOALS.eventLoopDelayMs)}`,
    );
  lines.push(
    "  (p99 over a phase is the highest p99 of the health windows it spans; the max is exact)",
  );
  for (const line of lines) console.log(line);
}
