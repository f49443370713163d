/**
 * BullMQ under the workload of `drover bench`: no-op jobs, W worker processes with a given
 * concurrency, I submits in flight, on Debian's redis-server started here on a free loopback
 * port with `appendonly yes` and `appendfsync everysec` (and no RDB snapshots). Prints the same
 * figures as `drover bench --json` and checks that every job ran and completed exactly once.
 *
 *   node bench/bullmq-bench.ts [--tasks 10000] [--workers 2] [--concurrency 50] [--inflight 256]
 *                              [--batch 1] [--timeout-s 120] [--json]
 *
 * With --batch N, jobs are added N at a time (`queue.addBulk`); --inflight counts those calls.
 *
 * Used by `bench/compare.ts` (`npm run bench:compare`); BullMQ is a dev dependency only for it.
 */
import { fork, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Queue, QueueEvents } from "bullmq";
import { now, readCpuTicks, round1 } from "../src/cli/bench-scale/support.ts";
import { freePort, stopChildren } from "../src/cli/local.ts";
import type { BenchFigures } from "./figures.ts";
import { checkBullmqRun, latencyFigures } from "./figures.ts";

const { values } = parseArgs({
  options: {
    tasks: { type: "string", default: "10000" },
    workers: { type: "string", default: "2" },
    concurrency: { type: "string", default: "50" },
    inflight: { type: "string", default: "256" },
    batch: { type: "string", default: "1" },
    "timeout-s": { type: "string", default: "120" },
    json: { type: "boolean", default: false },
  },
});
const positive = (
  name: "tasks" | "workers" | "concurrency" | "inflight" | "batch" | "timeout-s",
): number => {
  const v = Number(values[name]);
  if (!Number.isInteger(v) || v <= 0) {
    console.error(`bullmq-bench: --${name} must be a positive integer (got '${values[name]}')`);
    process.exit(2);
  }
  return v;
};
const tasks = positive("tasks");
const workers = positive("workers");
const concurrency = positive("concurrency");
const inflight = positive("inflight");
const batch = positive("batch");
const timeoutS = positive("timeout-s");

interface Redis {
  port: number;
  proc: ChildProcess;
  version: string;
  stop: () => Promise<void>;
}

/** Starts redis-server on a free loopback port and resolves once it accepts connections. */
async function startRedis(): Promise<Redis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "drover-bullmq-"));
  // Durability like a production BullMQ: the append-only file, fsynced every second.
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir];
  args.push("--appendonly", "yes", "--appendfsync", "everysec", "--save", "");
  const proc = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const stop = async (): Promise<void> => {
    await stopChildren([proc]);
    rmSync(dir, { recursive: true, force: true });
  };
  const version = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${log}`)), 10_000);
    proc.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start redis-server (${err.message}); run: npm run bench:compare`));
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}): ${log.trim().slice(-300)}`));
    });
    proc.stdout?.on("data", (d: Buffer) => {
      log = (log + d.toString()).slice(-4_000);
      if (/Ready to accept connections/.test(log)) {
        clearTimeout(timer);
        resolve(/version=([\d.]+)/.exec(log)?.[1] ?? /v=([\d.]+)/.exec(log)?.[1] ?? "?");
      }
    });
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return { port, proc, version, stop };
}

/** A worker child; resolves once its BullMQ Worker is connected. */
async function startWorker(port: number, queueName: string): Promise<ChildProcess> {
  const script = new URL("./bullmq-worker.ts", import.meta.url).pathname;
  const child = fork(script, [String(port), queueName, String(concurrency)], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  await new Promise<void>((resolve, reject) => {
    child.once("message", () => resolve());
    child.once("exit", (code) => reject(new Error(`bullmq worker exited (${code}) before ready`)));
  });
  return child;
}

/** Asks a worker to close and resolves with how many times it ran each job id. */
async function stopWorker(child: ChildProcess): Promise<[string, number][]> {
  return await new Promise((resolve, reject) => {
    child.on("message", (m: { kind?: string; runs?: [string, number][] }) => {
      if (m.kind === "runs" && m.runs !== undefined) resolve(m.runs);
    });
    child.once("exit", (code) =>
      reject(new Error(`bullmq worker exited (${code}) before its runs`)),
    );
    child.send("stop");
  });
}

const redis = await startRedis();
const connection = { host: "127.0.0.1", port: redis.port };
const queueName = `bench${randomBytes(4).toString("hex")}`;
// The events stream is trimmed at maxLen: keep room for every event of the run, so the
// QueueEvents reader never misses a completion it is counting.
const queue = new Queue(queueName, { connection, streams: { events: { maxLen: tasks * 10 } } });
const events = new QueueEvents(queueName, { connection });
const children: ChildProcess[] = [];
let exitCode: number | undefined;
try {
  await queue.waitUntilReady();
  await events.waitUntilReady();
  for (let i = 0; i < workers; i++) children.push(await startWorker(redis.port, queueName));

  const submitAt = new Map<string, number>();
  const startedAt = new Map<string, number>();
  const doneAt = new Map<string, number>();
  const completedEvents = new Map<string, number>();
  let acked = 0;
  let firstSubmitAt = Number.NaN;
  let lastAckAt = Number.NaN;
  let lastDoneAt = Number.NaN;
  let settle!: () => void;
  const finished = new Promise<void>((r) => (settle = r));
  const checkFinished = (): void => {
    if (acked === tasks && doneAt.size >= tasks) settle();
  };
  events.on("completed", ({ jobId, returnvalue }) => {
    const at = now();
    completedEvents.set(jobId, (completedEvents.get(jobId) ?? 0) + 1);
    if (doneAt.has(jobId)) return;
    doneAt.set(jobId, at);
    lastDoneAt = at;
    const started = (returnvalue as unknown as { startedAt?: unknown } | null)?.startedAt;
    if (typeof started === "number") startedAt.set(jobId, started);
    checkFinished();
  });

  const cpuPids: [string, number | undefined][] = [
    ["redis-server", redis.proc.pid],
    ...children.map((c, i): [string, number | undefined] => [`worker-${i + 1}`, c.pid]),
  ];
  const cpuBefore = cpuPids.map(([, pid]) => readCpuTicks(pid));
  const selfBefore = process.cpuUsage();
  const progress = setInterval(
    () => console.error(`bullmq: submitted ${acked}/${tasks}, done ${doneAt.size}/${tasks}`),
    1_000,
  );
  const deadline = setTimeout(() => {
    console.error(`bullmq-bench: timed out after ${timeoutS} s (done ${doneAt.size}/${tasks})`);
    process.exit(1);
  }, timeoutS * 1_000);
  let next = 0;
  const submitter = async (): Promise<void> => {
    while (next < tasks) {
      const n = Math.min(batch, tasks - next);
      next += n;
      const at = now();
      if (Number.isNaN(firstSubmitAt)) firstSubmitAt = at;
      const jobs =
        batch === 1
          ? [await queue.add("noop", {})]
          : await queue.addBulk(Array.from({ length: n }, () => ({ name: "noop", data: {} })));
      lastAckAt = now();
      for (const job of jobs) {
        if (job.id !== undefined) submitAt.set(job.id, at);
        acked++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(inflight, tasks) }, submitter));
  checkFinished();
  await finished;
  clearInterval(progress);
  clearTimeout(deadline);

  const cpuSeconds: Record<string, number> = {};
  cpuPids.forEach(([name, pid], i) => {
    const before = cpuBefore[i];
    const after = readCpuTicks(pid);
    if (before != null && after !== null) cpuSeconds[name] = round1((after - before) / 100);
  });
  const self = process.cpuUsage(selfBefore);
  cpuSeconds.bench = round1((self.user + self.system) / 1e6);

  const runs = new Map<string, number>();
  for (const child of children)
    for (const [id, n] of await stopWorker(child)) runs.set(id, (runs.get(id) ?? 0) + n);
  const counts = await queue.getJobCounts("completed", "failed", "active", "wait", "delayed");
  const check = checkBullmqRun({ submitted: submitAt, runs, completedEvents, counts, tasks });

  const durationMs = lastDoneAt - firstSubmitAt;
  const figures: BenchFigures = {
    system: "bullmq",
    tasks,
    workers,
    concurrency,
    inflight,
    batch,
    schedulers: null,
    durationMs: round1(durationMs),
    throughputPerS: round1((tasks / durationMs) * 1_000),
    ...latencyFigures(submitAt, startedAt, doneAt),
    submitsPerS: round1((tasks / (lastAckAt - firstSubmitAt)) * 1_000),
    cpuSeconds,
    cpuMsPerTask:
      Math.round((Object.values(cpuSeconds).reduce((a, b) => a + b, 0) / tasks) * 1e6) / 1e3,
    versions: { redis: redis.version },
    check,
  };
  if (values.json) console.log(JSON.stringify(figures));
  else {
    for (const [k, v] of Object.entries(figures))
      console.log(`${k.padEnd(16)} ${JSON.stringify(v)}`);
  }
  if (!check.ok)
    console.error(`bullmq-bench: check FAILED: ${check.problems.slice(0, 5).join("; ")}`);
  exitCode = check.ok ? 0 : 1;
} finally {
  await events.close().catch(() => undefined);
  await queue.close().catch(() => undefined);
  await stopChildren(children);
  await redis.stop();
}
process.exit(exitCode ?? 1);
