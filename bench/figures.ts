/**
 * The comparison's pure part: the figures each benchmark prints (Drover's `bench --json` and
 * `bench/bullmq-bench.ts` share one shape), BullMQ's exactly-once check, and the table of both
 * with their ratios and the throughput goals. Unit-tested without a server.
 */
import { z } from "zod";
import { percentile } from "../src/cli/bench-scale/stats.ts";
import { round1 } from "../src/cli/bench-scale/support.ts";

// JSON turns NaN (no samples) into null.
const Percentiles = z.object({ p50: z.number().nullable(), p99: z.number().nullable() });

export const CheckSchema = z.looseObject({
  ok: z.boolean(),
  completions: z.number(),
  duplicates: z.number(),
  lost: z.number(),
  problems: z.array(z.string()),
});
export type Check = z.infer<typeof CheckSchema>;

/** One run's figures, as both benchmarks print them with `--json`. */
export const BenchFiguresSchema = z.looseObject({
  system: z.string().optional(),
  tasks: z.number(),
  workers: z.number(),
  concurrency: z.number(),
  inflight: z.number(),
  /** Tasks per submit request (1 when absent: one at a time). */
  batch: z.number().optional(),
  schedulers: z.number().nullable(),
  durationMs: z.number(),
  throughputPerS: z.number(),
  submitToStartMs: Percentiles,
  submitToDoneMs: Percentiles,
  submitsPerS: z.number(),
  cpuSeconds: z.record(z.string(), z.number()),
  cpuMsPerTask: z.number().nullable(),
  versions: z.record(z.string(), z.string()).optional(),
  check: CheckSchema,
});
export type BenchFigures = z.infer<typeof BenchFiguresSchema>;

/** Submit→start and submit→done percentiles from per-task times (epoch ms, keyed by id). */
export function latencyFigures(
  submitAt: ReadonlyMap<string, number>,
  startedAt: ReadonlyMap<string, number>,
  doneAt: ReadonlyMap<string, number>,
): Pick<BenchFigures, "submitToStartMs" | "submitToDoneMs"> {
  const start: number[] = [];
  const done: number[] = [];
  for (const [id, at] of submitAt) {
    const d = doneAt.get(id);
    if (d === undefined) continue;
    start.push((startedAt.get(id) ?? d) - at);
    done.push(d - at);
  }
  const pcts = (s: number[]): { p50: number; p99: number } => ({
    p50: round1(percentile(s, 50)),
    p99: round1(percentile(s, 99)),
  });
  return { submitToStartMs: pcts(start), submitToDoneMs: pcts(done) };
}

/**
 * Every acknowledged job ran exactly once (the workers' own counts), its completion was
 * published exactly once, no job ran that was not submitted, and the queue counts `tasks`
 * completed jobs and nothing failed, active, waiting or delayed.
 */
export function checkBullmqRun(o: {
  submitted: ReadonlyMap<string, number>;
  runs: ReadonlyMap<string, number>;
  completedEvents: ReadonlyMap<string, number>;
  counts: Readonly<Record<string, number>>;
  tasks: number;
}): Check {
  const problems: string[] = [];
  let duplicates = 0;
  let lost = 0;
  let completions = 0;
  if (o.submitted.size !== o.tasks)
    problems.push(`${o.submitted.size} submits acknowledged, expected ${o.tasks}`);
  for (const id of o.submitted.keys()) {
    const ran = o.runs.get(id) ?? 0;
    const completed = o.completedEvents.get(id) ?? 0;
    completions += completed;
    if (ran > 1 || completed > 1) {
      duplicates++;
      problems.push(`job ${id} ran ${ran} times, completed ${completed} times`);
    } else if (ran === 0 || completed === 0) {
      lost++;
      problems.push(`job ${id} ran ${ran} times, completed ${completed} times`);
    }
  }
  for (const id of o.runs.keys())
    if (!o.submitted.has(id)) problems.push(`job ${id} ran but was never submitted`);
  for (const [state, n] of Object.entries(o.counts)) {
    const want = state === "completed" ? o.tasks : 0;
    if (n !== want) problems.push(`queue counts ${n} ${state} jobs, expected ${want}`);
  }
  return { ok: problems.length === 0, completions, duplicates, lost, problems };
}

/** The runs of one comparison: each workload shape for each system. */
export interface Comparison {
  loaded: { drover1: BenchFigures; drover2: BenchFigures; bullmq: BenchFigures };
  /** One submit in flight: the per-submit round trip and latency at low load. */
  low: { drover1: BenchFigures; drover2: BenchFigures; bullmq: BenchFigures };
  /** Submits in batches (Drover's submitMany, BullMQ's addBulk); absent when not run. */
  bulk?: { drover1: BenchFigures; drover2: BenchFigures; bullmq: BenchFigures };
}

export interface Row {
  label: string;
  /** Which way is better: a ratio above 1 is better for "higher" rows. */
  better: "higher" | "lower" | null;
  drover1: string;
  drover2: string;
  bullmq: string;
  ratio1: string;
  ratio2: string;
}

const fmt = (v: number | null, digits = 1): string =>
  v === null || !Number.isFinite(v)
    ? "–"
    : v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ratio = (a: number | null, b: number | null): string =>
  a === null || b === null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0
    ? "–"
    : `${(a / b).toFixed(2)}×`;

/** The comparison table: figure, Drover with 1 and 2 schedulers, BullMQ, Drover ÷ BullMQ. */
export function comparisonRows(c: Comparison): Row[] {
  const rows: Row[] = [];
  const add = (
    label: string,
    better: Row["better"],
    runs: Comparison["loaded"],
    pick: (f: BenchFigures) => number | null,
    digits = 1,
  ): void => {
    const [d1, d2, b] = [pick(runs.drover1), pick(runs.drover2), pick(runs.bullmq)];
    rows.push({
      label,
      better,
      drover1: fmt(d1, digits),
      drover2: fmt(d2, digits),
      bullmq: fmt(b, digits),
      ratio1: better === null ? "" : ratio(d1, b),
      ratio2: better === null ? "" : ratio(d2, b),
    });
  };
  // How much of the machine a run kept busy (CPU seconds per second): on a machine whose
  // every core is busy, throughput can only follow CPU per task.
  const cores = (f: BenchFigures): number | null =>
    f.cpuMsPerTask === null ? null : (f.throughputPerS * f.cpuMsPerTask) / 1_000;
  const { loaded: l, low } = c;
  add("completed/s", "higher", l, (f) => f.throughputPerS, 0);
  add("submit→start p50 ms", "lower", l, (f) => f.submitToStartMs.p50);
  add("submit→start p99 ms", "lower", l, (f) => f.submitToStartMs.p99);
  add("submit→done p50 ms", "lower", l, (f) => f.submitToDoneMs.p50);
  add("submit→done p99 ms", "lower", l, (f) => f.submitToDoneMs.p99);
  add("CPU per task ms", "lower", l, (f) => f.cpuMsPerTask, 3);
  add("cores busy (completed/s × CPU per task)", null, l, cores, 2);
  add("1 in flight: submits/s", "higher", low, (f) => f.submitsPerS, 0);
  add("1 in flight: submit→start p50 ms", "lower", low, (f) => f.submitToStartMs.p50);
  add("1 in flight: submit→start p99 ms", "lower", low, (f) => f.submitToStartMs.p99);
  add("1 in flight: submit→done p50 ms", "lower", low, (f) => f.submitToDoneMs.p50);
  add("1 in flight: submit→done p99 ms", "lower", low, (f) => f.submitToDoneMs.p99);
  add("1 in flight: CPU per task ms", "lower", low, (f) => f.cpuMsPerTask, 3);
  add("1 in flight: cores busy", null, low, cores, 2);
  const bulk = c.bulk;
  if (bulk !== undefined) {
    const n = bulk.drover1.batch ?? 1;
    add(`batches of ${n}: completed/s`, "higher", bulk, (f) => f.throughputPerS, 0);
    add(`batches of ${n}: submits/s`, "higher", bulk, (f) => f.submitsPerS, 0);
    add(`batches of ${n}: CPU per task ms`, "lower", bulk, (f) => f.cpuMsPerTask, 3);
  }
  const checks = (...fs: (BenchFigures | undefined)[]): string =>
    fs
      .filter((f) => f !== undefined)
      .map((f) => (f.check.ok ? "OK" : "FAILED"))
      .join(", ");
  rows.push({
    label: "exactly-once check",
    better: null,
    drover1: checks(l.drover1, low.drover1, bulk?.drover1),
    drover2: checks(l.drover2, low.drover2, bulk?.drover2),
    bullmq: checks(l.bullmq, low.bullmq, bulk?.bullmq),
    ratio1: "",
    ratio2: "",
  });
  return rows;
}

export interface Goal {
  goal: string;
  /** Drover with 1 and with 2 schedulers. */
  met: [boolean, boolean];
  measured: [string, string];
}

/** The throughput goals: ≥ 0.5× BullMQ's completed/s and round trip, low-load p99 ≤ 5 ms. */
export function goals(c: Comparison): Goal[] {
  const both = <T>(
    f: (d: BenchFigures, which: "loaded" | "low") => T,
    which: "loaded" | "low",
  ): [T, T] => [f(c[which].drover1, which), f(c[which].drover2, which)];
  const share = (d: number, b: number): number => (b > 0 ? d / b : Number.NaN);
  const completed = both((d) => share(d.throughputPerS, c.loaded.bullmq.throughputPerS), "loaded");
  const roundTrip = both((d) => share(d.submitsPerS, c.low.bullmq.submitsPerS), "low");
  const p99 = both((d) => d.submitToStartMs.p99 ?? Number.NaN, "low");
  return [
    {
      goal: "completed/s ≥ 0.5× BullMQ's",
      met: [completed[0] >= 0.5, completed[1] >= 0.5],
      measured: [`${completed[0].toFixed(2)}×`, `${completed[1].toFixed(2)}×`],
    },
    {
      goal: "round trip, 1 in flight ≥ 0.5× BullMQ's",
      met: [roundTrip[0] >= 0.5, roundTrip[1] >= 0.5],
      measured: [`${roundTrip[0].toFixed(2)}×`, `${roundTrip[1].toFixed(2)}×`],
    },
    {
      goal: "submit→start p99, 1 in flight ≤ 5 ms",
      met: [p99[0] <= 5, p99[1] <= 5],
      measured: [`${fmt(p99[0])} ms`, `${fmt(p99[1])} ms`],
    },
  ];
}

/** The rows as a Markdown table (for docs/benchmarks.md) or aligned plain text. */
export function renderTable(rows: readonly Row[], markdown: boolean): string {
  const head = [
    "",
    "Drover, 1 scheduler",
    "Drover, 2 schedulers",
    "BullMQ",
    "1 ÷ BullMQ",
    "2 ÷ BullMQ",
  ];
  const body = rows.map((r) => [
    r.better === null ? r.label : `${r.label} (${r.better} is better)`,
    r.drover1,
    r.drover2,
    r.bullmq,
    r.ratio1,
    r.ratio2,
  ]);
  if (markdown) {
    const line = (cells: string[]): string => `| ${cells.join(" | ")} |`;
    return [
      line(head),
      line(head.map((_, i) => (i === 0 ? "---" : "---:"))),
      ...body.map(line),
    ].join("\n");
  }
  const widths = head.map((_, i) => Math.max(...[head, ...body].map((r) => r[i]!.length)));
  return [head, ...body]
    .map((r) =>
      r
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
        .join("  "),
    )
    .join("\n");
}
