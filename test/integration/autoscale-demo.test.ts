/**
 * The README's one command for an autoscaled pool, `npm run autoscale`, run as written (with
 * this test's own port, directories and chart path appended): a local nats-server and
 * schedulers, worker containers on the host network that grow from 1 to 4 for 300 one-second
 * tasks and shrink back to 1, every task run once, and a chart written.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { freePort, root } from "../../src/cli/local.ts";
import { ownUpArgs } from "../fixtures/drover-up.ts";

const run = promisify(execFile);

describe("npm run autoscale", () => {
  it("grows the pool for the burst, shrinks it after, runs every task once and writes the chart", async () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    expect(readme).toContain("npm run autoscale");
    const dir = mkdtempSync(join(tmpdir(), "drover-autoscale-"));
    const chart = join(dir, "chart.svg");
    try {
      // A failing demo exits non-zero: keep its stdout (the summary says what failed).
      const { stdout, failure } = await run(
        "npm",
        [
          "run",
          "--silent",
          "autoscale",
          "--",
          ...ownUpArgs(await freePort(), dir),
          "--chart",
          chart,
          // Its own prefix, so that nothing else on the machine is scaled or counted.
          "--prefix",
          `demo${process.pid}`,
        ],
        { cwd: root, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 },
      ).then(
        (r) => ({ stdout: r.stdout, failure: null }),
        (err: Error & { stdout?: string }) => ({ stdout: err.stdout ?? "", failure: err }),
      );
      const summary = JSON.parse(
        stdout.split("\n").find((l) => l.startsWith('{"demo"')) ?? "null",
      ) as Record<string, unknown> | null;
      if (summary === null)
        throw new Error(
          `${failure?.message ?? "no summary"}\n--- stdout ---\n${stdout.slice(-3_000)}`,
        );
      expect(summary).toMatchObject({
        demo: "passed",
        tasks: 300,
        succeeded: 300,
        failed: 0,
        ranTwice: 0,
        notOneCompletion: 0,
        peakWorkers: 4,
      });
      expect(summary.peakReachedAtS as number).toBeLessThan(30);
      expect((summary.backToMinAtS as number) - (summary.queueEmptyAtS as number)).toBeLessThan(
        15 + 30,
      );
      expect(stdout).toMatch(/workers 4 \(desired 4\)/);
      expect(existsSync(chart)).toBe(true);
      expect(readFileSync(chart, "utf8")).toMatch(/^<svg[\s\S]*queued tasks[\s\S]*<\/svg>\n$/);
      expect(failure).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
