/**
 * `drover bench`: an end-to-end throughput and latency benchmark. Starts scheduler and worker
 * processes (and, unless told where NATS is, a throwaway nats-server), submits `noop` tasks with
 * a bounded number in flight (one at a time, or `--batch` at a time), follows every task through
 * the events stream, prints the figures and checks that every task succeeded exactly once.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { isStrategyName, STRATEGY_NAMES } from "../actors/index.ts";
import type { TaskTransitionEvent } from "../protocol/index.ts";
import { DroverError, ErrorCode, MAX_SUBMIT_BATCH } from "../protocol/index.ts";
import type { NatsConnection } from "../runtime/index.ts";
import {
  authEnv,
  connectNats,
  DroverClient,
  ensureResources,
  taskWriteCount,
} from "../runtime/index.ts";
import { runScaleBench } from "./bench-scale/run.ts";
import type { Track } from "./bench-check.ts";
import { checkRun, describeStates } from "./bench-check.ts";
import { resourceSettings } from "./config.ts";
import type { Command, CommandContext } from "./command.ts";
import { UsageError } from "./command.ts";
import { numFlag, positiveIntFlag } from "./flags.ts";
import type { ThrowawayNats } from "./local.ts";
import { BENCH_LIMITS_ENV, BENCH_SUBMITTER } from "./bench-limits.ts";
import { benchNats, mainScript, runGuard, stopChildren, waitForCluster } from "./local.ts";

/** Epoch milliseconds with sub-millisecond resolution (same clock as `Date.now()`). */
const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A no-op task's finished record is ≈ 1.1 KB; the check's list pages are sized for this. */
const RECORD_BYTES = 2_048;

/** A spawned role process with the tail of its log. */
interface Child {
  name: string;
  proc: ChildProcess;
  tail: string;
  /** Log lines at level warn or above. */
  warnings: number;
  firstWarning: string | null;
}

export const benchCommand: Command = {
  name: "bench",
  summary: "benchmark: run schedulers and workers, push noop tasks through, report and check",
  usage:
    `drover bench [--tasks 2000] [--workers 2] [--concurrency 16] [--inflight 64] [--batch 1] [--schedulers 1]\n` +
    `             [--strategy ${STRATEGY_NAMES.join("|")}] [--timeout-s 120] [--json] [--nats URL]\n` +
    "drover bench --backlog 100000 [--schedulers 2] [--workers 1] [--inflight 256] [--probes 20]\n" +
    "             [--idle-s 10] [--failover-s 5] [--flood N [--rounds 3]] [--concurrency 16]\n" +
    "             [--strategy S] [--json] [--nats URL]\n" +
    "With --backlog, the scale benchmark: N tasks no worker can run, then replica RSS, idle leader\n" +
    "CPU, pages of tasks.list, probe submit→start behind the backlog, a SIGKILLed leader's failover\n" +
    "and event-loop delay; --flood adds rounds of N submits sent at once from one connection.\n" +
    "--batch N submits N tasks a request (tasks.submit-many); --inflight counts requests.\n" +
    "Without --nats / DROVER_NATS_URL a throwaway nats-server is started on a free loopback port.\n" +
    "Every run uses its own prefix (bench<hex>, scale<hex> with --backlog), so runs never see each\n" +
    "other's data.",
  options: {
    tasks: { type: "string", default: "2000" },
    // No defaults here for the flags --backlog defaults differently; runBench applies its own.
    workers: { type: "string" },
    concurrency: { type: "string", default: "16" },
    inflight: { type: "string" },
    batch: { type: "string", default: "1" },
    schedulers: { type: "string" },
    strategy: { type: "string", default: "best-fit" },
    "timeout-s": { type: "string", default: "120" },
    json: { type: "boolean", default: false },
    backlog: { type: "string" },
    probes: { type: "string" },
    "idle-s": { type: "string" },
    "failover-s": { type: "string" },
    flood: { type: "string" },
    rounds: { type: "string" },
  },
  run: runBench,
};

async function runBench(ctx: CommandContext): Promise<number> {
  if (ctx.values.backlog !== undefined) return await runScaleBench(ctx);
  const { values, config, signal } = ctx;
  const positive = (name: string, def: number): number => positiveIntFlag(values, name, def);
  const tasks = positive("tasks", 2000);
  const workers = positive("workers", 2);
  const concurrency = positive("concurrency", 16);
  const inflight = positive("inflight", 64);
  const batch = positive("batch", 1);
  if (batch > MAX_SUBMIT_BATCH) throw new UsageError(`--batch is at most ${MAX_SUBMIT_BATCH}`);
  const schedulers = positive("schedulers", 1);
  const timeoutS = numFlag(values, "timeout-s", 120);
  if (timeoutS <= 0) throw new UsageError("--timeout-s must be positive");
  const strategy = String(values.strategy);
  if (!isStrategyName(strategy))
    throw new UsageError(`unknown --strategy '${strategy}' (one of: ${STRATEGY_NAMES.join(", ")})`);
  const json = values.json === true;
  const external =
    values.nats !== undefined || (process.env.DROVER_NATS_URL ?? "").trim().length > 0;
  const prefix = `bench${randomBytes(4).toString("hex")}`;
  const replicas = external ? config.replicas : 1;

  const children: Child[] = [];
  let stopping = false;
  let server: ThrowawayNats | null = null;
  let nc: NatsConnection | null = null;
  let stopWatch: (() => void) | null = null;
  // Rejects when a role process exits on its own, so no phase waits for a dead cluster.
  const { guard, roleFailed: childFailed } = runGuard(signal, "bench");

  try {
    const nats = await benchNats(external, config.natsUrl, signal, guard);
    server = nats.server;
    const { servers } = nats;
    nc = await guard(
      connectNats({
        servers,
        name: "drover-bench",
        reconnectForever: false,
        ...(external ? { auth: config.auth } : {}),
      }),
    );
    await guard(ensureResources(nc, prefix, resourceSettings(config, replicas)));
    const env = {
      ...process.env,
      // Credentials given as flags reach the role processes as the nats CLI's env variables.
      ...(external ? authEnv(config.auth) : {}),
      DROVER_NATS_URL: servers.join(","),
      DROVER_PREFIX: prefix,
      DROVER_LOG_LEVEL: "warn",
      DROVER_REPLICAS: String(replicas),
      ...BENCH_LIMITS_ENV,
    };
    const roles: [string, string[]][] = [
      ...Array.from({ length: schedulers }, (_, i): [string, string[]] => [
        `scheduler-${i + 1}`,
        // Metrics on (as users run them), each on a free port.
        ["scheduler", "--id", `scheduler-${i + 1}`, "--strategy", strategy, "--metrics-port", "0"],
      ]),
      ...Array.from({ length: workers }, (_, i): [string, string[]] => [
        `worker-${i + 1}`,
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
          "--metrics-port",
          "0",
        ],
      ]),
    ];
    for (const [name, args] of roles) {
      const proc = spawn(process.execPath, [...process.execArgv, mainScript, ...args], {
        env,
        stdio: ["ignore", "ignore", "pipe"],
      });
      const child: Child = { name, proc, tail: "", warnings: 0, firstWarning: null };
      children.push(child);
      let partial = "";
      proc.stderr?.on("data", (d: Buffer) => {
        const text = d.toString();
        child.tail = (child.tail + text).slice(-4_000);
        const lines = (partial + text).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) {
          const level = /"level":(\d+)/.exec(line)?.[1];
          if (level !== undefined && Number(level) >= 40) {
            child.warnings++;
            child.firstWarning ??= line.slice(0, 300);
          }
        }
      });
      const onGone = (why: string): void => {
        if (!stopping)
          childFailed(
            new DroverError(
              ErrorCode.Unavailable,
              `${name} ${why}${lastLines(child.tail) ? `: ${lastLines(child.tail)}` : ""}`,
            ),
          );
      };
      proc.once("error", (err) => onGone(`could not start (${err.message})`));
      proc.once("exit", (code, sig) => onGone(`exited (${sig ?? code})`));
    }
    const client = new DroverClient(nc, { prefix, timeoutMs: 10_000, submitter: BENCH_SUBMITTER });
    const clusterStarted = now();
    await guard(waitForCluster(client, workers, signal));
    ctx.log.debug({ ms: now() - clusterStarted }, "cluster up");

    // ---- submit and follow --------------------------------------------------------------
    const tracks = new Map<string, Track>();
    const track = (id: string): Track => {
      let t = tracks.get(id);
      if (t === undefined) {
        t = {
          submitAt: null,
          runningSeenAt: null,
          assignedAt: null,
          startedAt: null,
          doneAt: null,
          successes: new Set(),
          state: null,
        };
        tracks.set(id, t);
      }
      return t;
    };
    let acked = 0;
    let done = 0;
    let firstSubmitAt = Number.NaN;
    let lastAckAt = Number.NaN;
    let lastDoneAt = Number.NaN;
    let duplicateSubmits = 0;
    let settle!: () => void;
    let fail!: (err: Error) => void;
    const finished = new Promise<void>((res, rej) => ((settle = res), (fail = rej)));
    finished.catch(() => undefined);
    const checkFinished = (): void => {
      if (acked === tasks && done >= tasks) settle();
    };
    // Followed like BullMQ's QueueEvents follows jobs: through the events stream (a small event
    // per state change), not a watch of the records (three whole records per task).
    const onEvent = (e: TaskTransitionEvent): void => {
      const at = now();
      const t = track(e.taskId);
      t.state = e.to;
      if (e.to === "assigned") t.assignedAt ??= e.at;
      else if (e.to === "running" && t.runningSeenAt === null) {
        t.runningSeenAt = at;
        t.startedAt = e.at;
      } else if (e.to === "succeeded") {
        t.successes.add(`${e.at}:${e.from}:${e.event}`);
        if (t.doneAt === null) {
          t.doneAt = at;
          // Quick tasks skip the `started` report; their handler began right after assignment.
          t.startedAt ??= t.assignedAt;
          lastDoneAt = at;
          done++;
          checkFinished();
        }
      } else if (e.to === "failed" || e.to === "dead" || e.to === "timed_out") {
        fail(new DroverError(ErrorCode.Internal, `task ${e.taskId} ended ${e.to}`));
      }
    };
    stopWatch = await guard(
      client.followTaskEvents(onEvent, {
        to: ["assigned", "running", "succeeded", "failed", "dead", "timed_out"],
        signal,
      }),
    );
    const writesBefore = await guard(taskWriteCount(nc, prefix));

    const cpuProcs: [string, number | undefined][] = [
      ...children.map((c): [string, number | undefined] => [c.name, c.proc.pid]),
      ...(server !== null ? [["nats-server", server.pid] as [string, number | undefined]] : []),
    ];
    const cpuBefore = cpuProcs.map(([, pid]) => cpuSeconds(pid));
    const selfCpuBefore = process.cpuUsage();
    const deadline = setTimeout(
      () =>
        fail(
          new DroverError(
            ErrorCode.Timeout,
            `timed out after ${timeoutS} s: submitted ${acked}/${tasks}, done ${done}/${tasks}` +
              ` (${describeStates(tracks)})`,
          ),
        ),
      timeoutS * 1_000,
    );
    let progressLines = 0;
    const progress = setInterval(() => {
      progressLines++;
      console.error(`submitted ${acked}/${tasks}, done ${done}/${tasks}`);
    }, 1_000);
    let halted = false;
    try {
      let next = 0;
      const submitter = async (): Promise<void> => {
        while (next < tasks && !halted && !signal.aborted) {
          const n = Math.min(batch, tasks - next);
          next += n;
          const at = now();
          if (Number.isNaN(firstSubmitAt)) firstSubmitAt = at;
          let replies: { id: string; duplicate: boolean }[];
          try {
            replies =
              batch === 1
                ? [await client.submit({ type: "noop" })]
                : (
                    await client.submitMany(Array.from({ length: n }, () => ({ type: "noop" })))
                  ).map((r) => {
                    if (!r.ok) throw r.error;
                    return r;
                  });
          } catch (err) {
            throw new DroverError(
              ErrorCode.Unavailable,
              `submit failed after ${acked} accepted: ${(err as Error).message}`,
              { cause: err },
            );
          }
          lastAckAt = now();
          for (const reply of replies) {
            if (reply.duplicate) duplicateSubmits++;
            track(reply.id).submitAt = at;
            acked++;
          }
          checkFinished();
        }
      };
      const submitting = Promise.all(Array.from({ length: Math.min(inflight, tasks) }, submitter));
      submitting.catch(() => undefined);
      await guard(Promise.race([submitting.then(() => finished), finished]));
    } finally {
      halted = true;
      clearTimeout(deadline);
      clearInterval(progress);
    }
    if (progressLines > 0) console.error(`submitted ${acked}/${tasks}, done ${done}/${tasks}`);
    // CPU seconds each process spent during the run (Linux /proc; empty elsewhere).
    const recordWrites = (await guard(taskWriteCount(nc, prefix))) - writesBefore;
    const cpu: Record<string, number> = {};
    cpuProcs.forEach(([name, pid], i) => {
      const before = cpuBefore[i];
      const after = cpuSeconds(pid);
      if (before != null && after !== null) cpu[name] = round1(after - before);
    });
    if (Object.keys(cpu).length > 0) {
      const self = process.cpuUsage(selfCpuBefore);
      cpu.bench = round1((self.user + self.system) / 1e6);
    }

    // ---- figures -------------------------------------------------------------------------
    const startLat: number[] = [];
    const doneLat: number[] = [];
    for (const t of tracks.values()) {
      if (t.submitAt === null || t.doneAt === null) continue;
      startLat.push((t.startedAt ?? t.doneAt) - t.submitAt);
      doneLat.push(t.doneAt - t.submitAt);
    }
    const durationMs = lastDoneAt - firstSubmitAt;
    const submitMs = lastAckAt - firstSubmitAt;
    const figures = {
      tasks,
      workers,
      concurrency,
      inflight,
      batch,
      schedulers,
      strategy,
      durationMs: round1(durationMs),
      throughputPerS: round1((tasks / durationMs) * 1_000),
      submitToStartMs: { p50: round1(pct(startLat, 50)), p99: round1(pct(startLat, 99)) },
      submitToDoneMs: { p50: round1(pct(doneLat, 50)), p99: round1(pct(doneLat, 99)) },
      submitsPerS: round1((tasks / submitMs) * 1_000),
      recordWritesPerTask: Math.round((recordWrites / tasks) * 100) / 100,
      cpuSeconds: cpu,
      // Every process of the run together (server and this load generator included).
      cpuMsPerTask:
        Object.keys(cpu).length > 0
          ? Math.round((Object.values(cpu).reduce((a, b) => a + b, 0) / tasks) * 1e6) / 1e3
          : null,
    };

    // ---- check ---------------------------------------------------------------------------
    // The list is answered from a replica's mirror, which may trail the events by a moment.
    // Pages are sized to fit the server's max_payload: a list reply larger than that is not
    // sent (and, as of this writing, takes the answering scheduler down; see the bench report).
    const maxPayload = nc.info?.max_payload ?? 1_048_576;
    const pageSize = Math.max(1, Math.min(1000, Math.floor((0.75 * maxPayload) / RECORD_BYTES)));
    const checkStarted = now();
    let check = await checkRun((o) => client.list(o), pageSize, tracks, tasks, duplicateSubmits);
    while (!check.ok && now() - checkStarted < 5_000 && !signal.aborted) {
      await sleep(250);
      check = await checkRun((o) => client.list(o), pageSize, tracks, tasks, duplicateSubmits);
    }
    stopWatch();
    stopWatch = null;
    const warnings = children.reduce((n, c) => n + c.warnings, 0);
    const summary = check.ok
      ? `check: OK (${tasks} tasks, ${check.completions} completions, 0 duplicates, 0 lost)`
      : `check: FAILED (listed ${check.listed}/${tasks}, ${check.completions} completions, ` +
        `${check.duplicates} duplicates, ${check.lost} lost): ${check.problems.slice(0, 5).join("; ")}`;
    if (json) {
      console.log(
        JSON.stringify({
          ...figures,
          prefix,
          nats: external ? servers.join(",") : "throwaway",
          childWarnings: warnings,
          check,
        }),
      );
    } else {
      const ms = (v: number): string => `${v.toFixed(1)} ms`;
      const rows: [string, string][] = [
        ["tasks", String(tasks)],
        ["workers", String(workers)],
        ["concurrency", `${concurrency} slots/worker`],
        ["inflight", String(inflight)],
        ...(batch > 1 ? [["batch", `${batch} tasks/request`] as [string, string]] : []),
        ["schedulers", String(schedulers)],
        ["strategy", strategy],
        ["duration", ms(figures.durationMs)],
        ["throughput", `${figures.throughputPerS.toFixed(1)} tasks/s`],
        ["submit→start p50", ms(figures.submitToStartMs.p50)],
        ["submit→start p99", ms(figures.submitToStartMs.p99)],
        ["submit→done p50", ms(figures.submitToDoneMs.p50)],
        ["submit→done p99", ms(figures.submitToDoneMs.p99)],
        ["submits/s", figures.submitsPerS.toFixed(1)],
      ];
      rows.push(["record writes/task", figures.recordWritesPerTask.toFixed(2)]);
      if (Object.keys(cpu).length > 0)
        rows.push([
          "cpu during run",
          Object.entries(cpu)
            .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
            .join(", "),
        ]);
      if (figures.cpuMsPerTask !== null)
        rows.push(["cpu per task", `${figures.cpuMsPerTask.toFixed(3)} ms (all processes)`]);
      if (check.detoured > 0) rows.push(["requeued/retried", String(check.detoured)]);
      const width = Math.max(...rows.map(([k]) => k.length));
      for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
      console.log(summary);
    }
    if (warnings > 0) {
      const first = children.find((c) => c.firstWarning !== null);
      console.error(
        `note: role processes logged ${warnings} warnings/errors; first (${first?.name}): ${first?.firstWarning}`,
      );
    }
    if (json && !check.ok) console.error(summary);
    if (external)
      console.error(
        `note: the streams and buckets of prefix '${prefix}' stay on ${servers.join(",")} (delete them with the nats CLI)`,
      );
    return check.ok ? 0 : 1;
  } catch (err) {
    if (signal.aborted) {
      console.error("drover: bench interrupted; stopping what it started");
      return 130;
    }
    for (const c of children)
      if (c.tail.trim() !== "")
        console.error(`--- ${c.name} (last lines) ---\n${lastLines(c.tail, 5)}`);
    throw err;
  } finally {
    stopping = true;
    stopWatch?.();
    await stopChildren(children.map((c) => c.proc));
    await nc?.close().catch(() => undefined);
    await server?.stop();
  }
}

// ---- figures and check -----------------------------------------------------------------

const round1 = (v: number): number => Math.round(v * 10) / 10;

/** CPU seconds (user + system) a process has used so far, from /proc; null when unavailable. */
function cpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after "(comm)": state is field 3, utime 14 and stime 15, in clock ticks (100/s).
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(f[11]) + Number(f[12]);
    return Number.isFinite(ticks) ? ticks / 100 : null;
  } catch {
    return null;
  }
}

/** Nearest-rank percentile; NaN for no samples. */
function pct(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  ]!;
}

// ---- processes -------------------------------------------------------------------------

const lastLines = (text: string, n = 2): string => text.trim().split("\n").slice(-n).join(" | ");
