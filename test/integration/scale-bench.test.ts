/**
 * Smoke run of the scale benchmark (`drover bench --backlog N`) on a small backlog: it must
 * complete, measure every figure it promises and clean up. No timing is asserted: the figures
 * belong to docs/scale.md, measured on a quiet machine.
 */
import { execFile } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

interface ScaleReport {
  submitted: number;
  rssBytes: Record<string, { afterFill: number | null }>;
  idleCpu: { leader: string; percentOfCore: Record<string, number> };
  probes: { sent: number; missed: number; submitToStartRecordMs: { count: number } };
  failover: { oldTerm: number; newTerm: number; newLeader: string; killed: string };
  listing: {
    requests: number;
    pages: Record<string, { count: number }>;
    dashboard: Record<string, { count: number }>;
  };
  flood: {
    leaseKept: boolean;
    rounds: {
      sent: number;
      accepted: number;
      refused: Record<string, number>;
      unanswered: number;
    }[];
  };
  goals: Record<string, unknown>;
}

describe("drover bench --backlog (smoke)", () => {
  it("fills a backlog, measures memory, idle CPU, lists, floods, probes and a failover, and exits 0", async () => {
    const { stdout } = await run(
      process.execPath,
      [
        join(root, "src", "main.ts"),
        "bench",
        "--backlog",
        "500",
        "--idle-s",
        "1",
        "--probes",
        "3",
        "--failover-s",
        "2",
        "--flood",
        "300",
        "--rounds",
        "2",
        "--json",
      ],
      { env: { ...process.env, DROVER_LOG_LEVEL: "warn" }, timeout: 110_000 },
    );
    const r = JSON.parse(stdout) as ScaleReport;
    expect(r.submitted).toBe(500);
    expect(r.rssBytes["scheduler-1"]?.afterFill).toBeGreaterThan(0);
    expect(r.rssBytes["scheduler-2"]?.afterFill).toBeGreaterThan(0);
    expect(Object.keys(r.idleCpu.percentOfCore)).toContain(r.idleCpu.leader);
    expect(r.probes.sent).toBe(3);
    expect(r.probes.missed).toBe(0);
    expect(r.probes.submitToStartRecordMs.count).toBe(3);
    expect(r.failover.newLeader).not.toBe(r.failover.killed);
    expect(r.failover.newTerm).toBeGreaterThan(r.failover.oldTerm);
    expect(r.listing.requests).toBe(41);
    expect(Object.values(r.listing.pages).map((p) => p.count)).toEqual([1, 10, 20, 5, 5]);
    // The dashboard of scheduler-1 answered every kind of request its page makes (a page of 50
    // of 500 queued tasks has a next page; a failed request would have failed the bench).
    expect(Object.keys(r.listing.dashboard)).toEqual([
      "the page (HTML)",
      "cluster overview",
      "first page of all tasks (50)",
      "next page after a cursor",
      "filtered by type and state",
      "a task's page",
    ]);
    expect(r.listing.dashboard["a task's page"]?.count).toBe(10);
    expect(r.flood.rounds).toHaveLength(2);
    for (const round of r.flood.rounds) {
      expect(round.unanswered).toBe(0);
      const refused = Object.values(round.refused).reduce((a, b) => a + b, 0);
      expect(round.accepted + refused).toBe(300);
    }
    expect(r.flood.leaseKept).toBe(true);
    expect(Object.keys(r.goals).sort()).toEqual([
      "apiAnsweredWithinMsAfter1s",
      "dashboardRequestAtMostMs",
      "eventLoopDelayAtMostMs",
      "firstAssignmentAtMostMs",
      "floodLeaseKept",
      "idleLeaderCpuAtMostPercent",
      "listPageAtMostMs",
      "probeMedianAtMostMs",
      "rssPerReplicaAtMostMiB",
    ]);
  });
});
