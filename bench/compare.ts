/**
 * `npm run bench:compare`: Drover against BullMQ on this machine, in one run, with the same
 * workload — no-op tasks, W worker processes × C concurrency — once under load (I submits in
 * flight) and once at low load (1 in flight). Drover runs with 1 and with 2 scheduler replicas
 * (what high availability costs). Prints both, the ratios, and whether the throughput goals
 * are met; exits non-zero when a run fails or its exactly-once check does.
 *
 *   node bench/compare.ts [--tasks 10000] [--low-tasks 2000] [--workers 2] [--concurrency 50]
 *                         [--inflight 256] [--batch 50] [--markdown] [--json]
 *
 * The third workload submits in batches of --batch (Drover's `submitMany`, BullMQ's `addBulk`),
 * with inflight ÷ batch requests in flight (at least 1), so the same number of tasks is on
 * its way; --batch 1 leaves it out.
 */
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { mainScript, natsServerBinary, root } from "../src/cli/local.ts";
import type { BenchFigures, Comparison } from "./figures.ts";
import { BenchFiguresSchema, comparisonRows, goals, renderTable } from "./figures.ts";

const { values } = parseArgs({
  options: {
    tasks: { type: "string", default: "10000" },
    "low-tasks": { type: "string", default: "2000" },
    workers: { type: "string", default: "2" },
    concurrency: { type: "string", default: "50" },
    inflight: { type: "string", default: "256" },
    batch: { type: "string", default: "50" },
    markdown: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
type NumFlag = "tasks" | "low-tasks" | "workers" | "concurrency" | "inflight" | "batch";
const positive = (name: NumFlag): string => {
  const v = Number(values[name]);
  if (!Number.isInteger(v) || v <= 0) {
    console.error(`bench:compare: --${name} must be a positive integer (got '${values[name]}')`);
    process.exit(2);
  }
  return String(v);
};
const shape = {
  workers: positive("workers"),
  concurrency: positive("concurrency"),
};
const loaded = { tasks: positive("tasks"), inflight: positive("inflight") };
// 2,000 rather than 500: at 1 in flight 500 tasks take under two seconds, much of it before the
// JIT has warmed up, and their p99 is the fifth-slowest task (both sides alike).
const low = { tasks: positive("low-tasks"), inflight: "1" };
const batch = Number(positive("batch"));
const bulk = {
  tasks: loaded.tasks,
  inflight: String(Math.max(1, Math.floor(Number(loaded.inflight) / batch))),
  batch: String(batch),
};

/** Runs one benchmark process (its progress on our stderr) and parses its `--json` line. */
async function run(label: string, args: string[]): Promise<BenchFigures> {
  console.error(`\n== ${label}`);
  const child = spawn(process.execPath, [...process.execArgv, ...args, "--json"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => {
    child.once("error", () => resolve(null));
    child.once("exit", (c) => resolve(c));
  });
  const line = out.trim().split("\n").at(-1) ?? "";
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new Error(
      `${label}: exited (${code}) without figures${line ? `: ${line.slice(0, 300)}` : ""}`,
    );
  }
  const figures = BenchFiguresSchema.parse(parsed);
  if (code !== 0 && figures.check.ok) throw new Error(`${label}: exited (${code})`);
  return figures;
}

/** A workload: tasks, submit requests in flight, tasks per request (1 when absent). */
interface Workload {
  tasks: string;
  inflight: string;
  batch?: string;
}

/** The flags both benchmarks take for one workload. */
const workload = (w: Workload): string[] => [
  "--tasks",
  w.tasks,
  "--inflight",
  w.inflight,
  ...(w.batch !== undefined ? ["--batch", w.batch] : []),
  "--workers",
  shape.workers,
  "--concurrency",
  shape.concurrency,
];
const inFlight = (w: Workload): string =>
  w.batch !== undefined
    ? `${w.inflight} batches of ${w.batch} in flight`
    : `${w.inflight} in flight`;
const drover = (schedulers: number, w: Workload): Promise<BenchFigures> =>
  run(
    `Drover, ${schedulers} scheduler${schedulers > 1 ? "s" : ""}: ${w.tasks} tasks, ${inFlight(w)}`,
    [mainScript, "bench", ...workload(w), "--schedulers", String(schedulers)],
  );
const bullmq = (w: Workload): Promise<BenchFigures> =>
  run(`BullMQ: ${w.tasks} jobs, ${inFlight(w)}`, [
    join(root, "bench", "bullmq-bench.ts"),
    ...workload(w),
  ]);

// Interleaved, so a machine that slows down during the run does not favour one system.
const l1 = await drover(1, loaded);
const lb = await bullmq(loaded);
const l2 = await drover(2, loaded);
const s1 = await drover(1, low);
const sb = await bullmq(low);
const s2 = await drover(2, low);
const bulkRuns =
  batch > 1
    ? { drover1: await drover(1, bulk), bullmq: await bullmq(bulk), drover2: await drover(2, bulk) }
    : undefined;
const comparison: Comparison = {
  loaded: { drover1: l1, drover2: l2, bullmq: lb },
  low: { drover1: s1, drover2: s2, bullmq: sb },
  ...(bulkRuns !== undefined ? { bulk: bulkRuns } : {}),
};

const version = (cmd: string, args: string[]): string => {
  try {
    return execFileSync(cmd, args, { encoding: "utf8" }).trim().split("\n")[0] ?? "?";
  } catch {
    return "?";
  }
};
const pkgVersion = (name: string): string =>
  (
    JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")) as {
      version: string;
    }
  ).version;
const machine = {
  cpus: `${cpus().length} × ${cpus()[0]?.model ?? "?"}`,
  memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
  node: process.version,
  natsServer: version(natsServerBinary(), ["--version"]),
  redis: lb.versions?.redis ?? "?",
  bullmq: pkgVersion("bullmq"),
  ioredis: pkgVersion("ioredis"),
};
const rows = comparisonRows(comparison);
const met = goals(comparison);
const ok = [l1, l2, lb, s1, s2, sb, ...Object.values(bulkRuns ?? {})].every((f) => f.check.ok);

if (values.json) {
  console.log(
    JSON.stringify({
      machine,
      shape: { ...shape, loaded, low, ...(bulkRuns !== undefined ? { bulk } : {}) },
      comparison,
      rows,
      goals: met,
    }),
  );
} else {
  console.log(
    `\nNo-op tasks, ${shape.workers} worker processes × ${shape.concurrency} concurrency; ` +
      `${loaded.tasks} tasks with ${loaded.inflight} submits in flight, then ${low.tasks} with 1 in flight` +
      (bulkRuns !== undefined
        ? `, then ${bulk.tasks} in batches of ${bulk.batch} (${bulk.inflight} in flight).`
        : "."),
  );
  console.log(
    `Machine: ${machine.cpus}, ${machine.memoryGiB} GiB; node ${machine.node}; ${machine.natsServer}; ` +
      `redis ${machine.redis}, bullmq ${machine.bullmq}, ioredis ${machine.ioredis}.\n`,
  );
  console.log(renderTable(rows, values.markdown));
  console.log("\nGoals (Drover with 1 / 2 schedulers):");
  for (const g of met)
    console.log(
      `  ${g.goal}: ${g.measured[0]} ${g.met[0] ? "met" : "not met"} / ${g.measured[1]} ${g.met[1] ? "met" : "not met"}`,
    );
  console.log(
    ok ? "\nexactly-once checks: OK (every run)" : "\nexactly-once checks: FAILED (see above)",
  );
}
process.exit(ok ? 0 : 1);
