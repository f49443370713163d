import { describe, expect, it } from "vitest";
import type { BenchFigures, Comparison } from "../../bench/figures.ts";
import {
  BenchFiguresSchema,
  checkBullmqRun,
  comparisonRows,
  goals,
  latencyFigures,
  renderTable,
} from "../../bench/figures.ts";

const figures = (o: Partial<BenchFigures>): BenchFigures => ({
  tasks: 100,
  workers: 2,
  concurrency: 50,
  inflight: 256,
  schedulers: 1,
  durationMs: 1000,
  throughputPerS: 100,
  submitToStartMs: { p50: 1, p99: 2 },
  submitToDoneMs: { p50: 2, p99: 4 },
  submitsPerS: 100,
  cpuSeconds: {},
  cpuMsPerTask: 1,
  check: { ok: true, completions: 100, duplicates: 0, lost: 0, problems: [] },
  ...o,
});

const comparison = (): Comparison => ({
  loaded: {
    drover1: figures({ throughputPerS: 1_500, cpuMsPerTask: 1.4 }),
    drover2: figures({ throughputPerS: 1_200, schedulers: 2 }),
    bullmq: figures({ throughputPerS: 6_000, cpuMsPerTask: 0.35, schedulers: null }),
  },
  low: {
    drover1: figures({ submitsPerS: 300, submitToStartMs: { p50: 1.8, p99: 4.9 } }),
    drover2: figures({ submitsPerS: 250, submitToStartMs: { p50: 2, p99: 7 } }),
    bullmq: figures({ submitsPerS: 500, submitToStartMs: { p50: 3, p99: null } }),
  },
});

describe("bench:compare figures", () => {
  it("parses what `drover bench --json` prints, extra fields and all", () => {
    const drover = {
      ...figures({}),
      strategy: "best-fit",
      prefix: "bench1",
      recordWritesPerTask: 5,
    };
    const parsed = BenchFiguresSchema.parse(JSON.parse(JSON.stringify(drover)));
    expect(parsed.throughputPerS).toBe(100);
    // NaN percentiles (no samples) arrive as null.
    expect(
      BenchFiguresSchema.parse(
        JSON.parse(JSON.stringify(figures({ submitToStartMs: { p50: NaN, p99: NaN } }))),
      ).submitToStartMs,
    ).toEqual({ p50: null, p99: null });
    expect(() => BenchFiguresSchema.parse({ tasks: 1 })).toThrow();
  });

  it("latencies: start falls back to done when a start time is missing; unfinished tasks are left out", () => {
    const submit = new Map([
      ["a", 0],
      ["b", 10],
      ["c", 20],
    ]);
    const start = new Map([["a", 3]]);
    const done = new Map([
      ["a", 5],
      ["b", 18],
    ]);
    expect(latencyFigures(submit, start, done)).toEqual({
      submitToStartMs: { p50: 3, p99: 8 },
      submitToDoneMs: { p50: 5, p99: 8 },
    });
  });

  it("BullMQ check: exactly once passes; a double run, a missing run and leftover jobs fail", () => {
    const submitted = new Map([
      ["1", 0],
      ["2", 0],
    ]);
    const once = new Map([
      ["1", 1],
      ["2", 1],
    ]);
    const counts = { completed: 2, failed: 0, wait: 0 };
    expect(
      checkBullmqRun({ submitted, runs: once, completedEvents: once, counts, tasks: 2 }),
    ).toMatchObject({
      ok: true,
      completions: 2,
    });
    const twice = new Map([
      ["1", 2],
      ["2", 1],
    ]);
    expect(
      checkBullmqRun({ submitted, runs: twice, completedEvents: once, counts, tasks: 2 }),
    ).toMatchObject({ ok: false, duplicates: 1, lost: 0 });
    const missing = new Map([["1", 1]]);
    expect(
      checkBullmqRun({ submitted, runs: missing, completedEvents: once, counts, tasks: 2 }),
    ).toMatchObject({ ok: false, lost: 1 });
    const leftover = checkBullmqRun({
      submitted,
      runs: once,
      completedEvents: once,
      counts: { completed: 1, wait: 1 },
      tasks: 2,
    });
    expect(leftover.ok).toBe(false);
    expect(leftover.problems).toContain("queue counts 1 wait jobs, expected 0");
    const stray = checkBullmqRun({
      submitted,
      runs: new Map([...once, ["9", 1]]),
      completedEvents: once,
      counts,
      tasks: 2,
    });
    expect(stray.problems).toContain("job 9 ran but was never submitted");
  });

  it("rows hold each system's figure and Drover ÷ BullMQ", () => {
    const rows = comparisonRows(comparison());
    const completed = rows.find((r) => r.label === "completed/s");
    expect(completed).toEqual({
      label: "completed/s",
      better: "higher",
      drover1: "1,500",
      drover2: "1,200",
      bullmq: "6,000",
      ratio1: "0.25×",
      ratio2: "0.20×",
    });
    const cpu = rows.find((r) => r.label === "CPU per task ms");
    expect(cpu?.ratio1).toBe("4.00×");
    // How much of the machine each run kept busy: completed/s × CPU per task, no ratio.
    const cores = rows.find((r) => r.label === "cores busy (completed/s × CPU per task)");
    expect(cores).toMatchObject({ drover1: "2.10", drover2: "1.20", bullmq: "2.10", ratio1: "" });
    expect(rows.find((r) => r.label === "1 in flight: cores busy")?.bullmq).toBe("0.10");
    // A missing figure shows as a dash, and so does its ratio.
    const p99 = rows.find((r) => r.label === "1 in flight: submit→start p99 ms");
    expect([p99?.bullmq, p99?.ratio1]).toEqual(["–", "–"]);
    expect(rows.at(-1)).toMatchObject({ label: "exactly-once check", drover1: "OK, OK" });
  });

  it("the batch workload adds its rows and its checks when it ran", () => {
    const c = comparison();
    expect(comparisonRows(c).some((r) => r.label.startsWith("batches of"))).toBe(false);
    c.bulk = {
      drover1: figures({ batch: 50, throughputPerS: 1_600, submitsPerS: 5_000 }),
      drover2: figures({ batch: 50, throughputPerS: 1_300, schedulers: 2 }),
      bullmq: figures({
        batch: 50,
        throughputPerS: 8_000,
        schedulers: null,
        check: { ok: false, completions: 99, duplicates: 0, lost: 1, problems: ["lost one"] },
      }),
    };
    const rows = comparisonRows(c);
    expect(rows.find((r) => r.label === "batches of 50: completed/s")).toMatchObject({
      drover1: "1,600",
      ratio1: "0.20×",
    });
    expect(rows.find((r) => r.label === "batches of 50: submits/s")?.drover1).toBe("5,000");
    expect(rows.at(-1)).toMatchObject({ drover1: "OK, OK, OK", bullmq: "OK, OK, FAILED" });
  });

  it("goals say met or not from the ratios and the low-load p99", () => {
    const g = goals(comparison());
    expect(g.map((x) => x.met)).toEqual([
      [false, false],
      [true, true],
      [true, false],
    ]);
    expect(g[0]?.measured).toEqual(["0.25×", "0.20×"]);
  });

  it("renders aligned text and a Markdown table with the same cells", () => {
    const rows = comparisonRows(comparison());
    const md = renderTable(rows, true).split("\n");
    expect(md[0]).toBe(
      "|  | Drover, 1 scheduler | Drover, 2 schedulers | BullMQ | 1 ÷ BullMQ | 2 ÷ BullMQ |",
    );
    expect(md[1]).toBe("| --- | ---: | ---: | ---: | ---: | ---: |");
    expect(md).toHaveLength(rows.length + 2);
    const text = renderTable(rows, false).split("\n");
    expect(new Set(text.map((l) => l.length)).size).toBe(1);
    expect(text[1]).toContain("0.25×");
  });
});
