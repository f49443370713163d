/**
 * Smoke run of the throughput benchmark (`drover bench`), one at a time and in batches: it
 * must follow every task to its end through the events stream and pass its exactly-once check.
 * No timing is asserted: the figures belong to docs/benchmarks.md.
 */
import { execFile } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

interface Figures {
  tasks: number;
  batch: number;
  throughputPerS: number;
  submitToStartMs: { p50: number | null };
  recordWritesPerTask: number;
  cpuSeconds: Record<string, number>;
  check: { ok: boolean; completions: number; duplicates: number; lost: number };
}

const bench = async (...args: string[]): Promise<Figures> => {
  const { stdout } = await run(
    process.execPath,
    [
      join(root, "src", "main.ts"),
      "bench",
      "--workers",
      "1",
      "--concurrency",
      "8",
      ...args,
      "--json",
    ],
    { env: { ...process.env, DROVER_LOG_LEVEL: "warn" }, timeout: 110_000 },
  );
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as Figures;
};

describe("drover bench (smoke)", () => {
  it("runs 300 tasks one at a time and in batches of 25, each exactly once", async () => {
    for (const f of [
      await bench("--tasks", "300", "--inflight", "16"),
      await bench("--tasks", "300", "--inflight", "2", "--batch", "25"),
    ]) {
      expect(f.check).toMatchObject({ ok: true, completions: 300, duplicates: 0, lost: 0 });
      expect(f.throughputPerS).toBeGreaterThan(0);
      expect(f.submitToStartMs.p50).not.toBeNull();
      // Create, assignment and finish: at least three record writes per task.
      expect(f.recordWritesPerTask).toBeGreaterThanOrEqual(3);
      expect(Object.keys(f.cpuSeconds)).toEqual(
        expect.arrayContaining(["scheduler-1", "worker-1", "nats-server", "bench"]),
      );
    }
  }, 240_000);
});
