import { describe, expect, it } from "vitest";
import {
  cpuPercent,
  formatMiB,
  mergeDelayWindows,
  parseLeaseMessage,
  parseStatCpuTicks,
  parseVmRssBytes,
  percentile,
  summarize,
  summarizePings,
} from "../../src/cli/bench-scale/stats.ts";
import { judgeGoals } from "../../src/cli/bench-scale/goals.ts";
import { GOALS, RSS_GOAL_BACKLOG } from "../../src/cli/bench-scale/support.ts";
import { HealthReply } from "../../src/protocol/index.ts";

describe("percentiles", () => {
  it("uses the nearest rank and does not reorder its input", () => {
    const samples = [5, 1, 4, 2, 3];
    expect(percentile(samples, 50)).toBe(3);
    expect(percentile(samples, 99)).toBe(5);
    expect(percentile(samples, 0)).toBe(1);
    expect(percentile(samples, 100)).toBe(5);
    expect(samples).toEqual([5, 1, 4, 2, 3]);
    // An even count takes the lower middle (rank ceil(0.5 · 4) = 2).
    expect(percentile([10, 20, 30, 40], 50)).toBe(20);
  });

  it("has no figures for no samples", () => {
    expect(percentile([], 50)).toBeNaN();
    const s = summarize([]);
    expect(s.count).toBe(0);
    expect(s.median).toBeNaN();
    expect(s.max).toBeNaN();
  });

  it("summarizes count, median and max", () => {
    expect(summarize([7, 3, 9, 1])).toEqual({ count: 4, median: 3, max: 9 });
  });
});

describe("/proc parsing", () => {
  // A real line shape; the command name holds a space and a parenthesis.
  const stat =
    "4242 (node (main) x) S 4200 4242 4200 0 -1 4194560 12000 0 0 0 " +
    "1234 567 0 0 20 0 11 0 98765 1234567890 45678 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

  it("adds utime and stime, counting fields from the last parenthesis", () => {
    expect(parseStatCpuTicks(stat)).toBe(1234 + 567);
  });

  it("refuses lines it cannot read", () => {
    expect(parseStatCpuTicks("")).toBeNull();
    expect(parseStatCpuTicks("4242 (node) S 1 2")).toBeNull();
    expect(parseStatCpuTicks("no parenthesis at all 1 2 3 4 5 6 7 8 9 10 11 12 13 14")).toBeNull();
  });

  it("reads VmRSS in kB as bytes", () => {
    const status =
      "Name:\tnode\nVmPeak:\t 2000000 kB\nVmHWM:\t  190000 kB\nVmRSS:\t  123456 kB\nThreads:\t11\n";
    expect(parseVmRssBytes(status)).toBe(123456 * 1024);
    expect(parseVmRssBytes("Name:\tkthreadd\nThreads:\t1\n")).toBeNull();
  });

  it("formats binary megabytes", () => {
    expect(formatMiB(512 * 1_048_576)).toBe("512.0 MiB");
    expect(formatMiB(null)).toBe("n/a");
  });
});

describe("CPU percentage", () => {
  it("is CPU seconds over wall seconds, in % of one core", () => {
    // 50 ticks at 100/s = 0.5 s of CPU in 10 s: 5% of a core.
    expect(cpuPercent({ ticks: 1_000, atMs: 0 }, { ticks: 1_050, atMs: 10_000 })).toBeCloseTo(5);
    // Two busy cores.
    expect(cpuPercent({ ticks: 0, atMs: 0 }, { ticks: 200, atMs: 1_000 })).toBeCloseTo(200);
    expect(cpuPercent({ ticks: 0, atMs: 0 }, { ticks: 0, atMs: 5_000 })).toBe(0);
  });

  it("honours another tick rate and refuses an empty window", () => {
    expect(cpuPercent({ ticks: 0, atMs: 0 }, { ticks: 250, atMs: 1_000 }, 1_000)).toBeCloseTo(25);
    expect(cpuPercent({ ticks: 0, atMs: 5 }, { ticks: 10, atMs: 5 })).toBeNaN();
  });
});

describe("event-loop windows", () => {
  it("takes the exact max and the highest window p99", () => {
    expect(
      mergeDelayWindows([
        { eventLoopDelayMaxMs: 12, eventLoopDelayP99Ms: 11 },
        { eventLoopDelayMaxMs: 80, eventLoopDelayP99Ms: 30 },
        { eventLoopDelayMaxMs: 40, eventLoopDelayP99Ms: 35 },
      ]),
    ).toEqual({ maxMs: 80, p99Ms: 35, windows: 3 });
    expect(mergeDelayWindows([])).toBeNull();
  });

  it("health replies parse with and without the optional process field", () => {
    const base = {
      ok: true,
      replicaId: "scheduler-1",
      role: "leader",
      term: 3,
      leaderId: "scheduler-1",
      workers: 1,
      tasks: { queued: 10 },
    };
    expect(HealthReply.parse(base).process).toBeUndefined();
    const process = {
      rssBytes: 100,
      eventLoopDelayMaxMs: 12.5,
      eventLoopDelayP99Ms: 10.1,
      windowStartedAt: 1,
      sinceStart: { startedAt: 0, eventLoopDelayMaxMs: 50, eventLoopDelayP99Ms: 11 },
    };
    expect(HealthReply.parse({ ...base, process }).process).toEqual(process);
    expect(() => HealthReply.parse({ ...base, process: { rssBytes: -1 } })).toThrow();
  });
});

describe("failover pings", () => {
  it("splits at 1 s after the kill and counts answers within 1 s", () => {
    const r = summarizePings([
      { sentOffsetMs: 0, answerMs: 1_500 },
      { sentOffsetMs: 100, answerMs: null },
      { sentOffsetMs: 900, answerMs: 200 },
      { sentOffsetMs: 1_000, answerMs: 20 },
      { sentOffsetMs: 1_100, answerMs: 1_001 },
      { sentOffsetMs: 1_200, answerMs: 5, error: "not_found" },
      { sentOffsetMs: 1_300, answerMs: null },
    ]);
    expect(r.before).toEqual({
      sent: 3,
      answeredWithinLimit: 1,
      noAnswerWithinLimit: 2,
      maxAnswerMs: 1_500,
      errorReplies: 0,
    });
    expect(r.after).toEqual({
      sent: 4,
      answeredWithinLimit: 2,
      noAnswerWithinLimit: 2,
      maxAnswerMs: 1_001,
      errorReplies: 1,
    });
  });

  it("has no max answer time when nothing answered", () => {
    const r = summarizePings([{ sentOffsetMs: 2_000, answerMs: null }]);
    expect(r.after.maxAnswerMs).toBeNaN();
    expect(r.before.sent).toBe(0);
  });
});

describe("lease messages", () => {
  const reply = (seq: number, value: string): string =>
    JSON.stringify({
      type: "io.nats.jetstream.api.v1.stream_msg_get_response",
      message: {
        subject: "$KV.p-leader.lease",
        seq,
        data: Buffer.from(value).toString("base64"),
        time: "2025-01-01T00:00:00Z",
      },
    });

  it("reads the holder and the message sequence", () => {
    expect(parseLeaseMessage(reply(46, '{"replicaId":"scheduler-1","since":1}'))).toEqual({
      replicaId: "scheduler-1",
      seq: 46,
    });
  });

  it("has no holder for a missing key, a purge marker or garbage", () => {
    expect(
      parseLeaseMessage(
        '{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","error":{"code":404,"err_code":10037,"description":"no message found"}}',
      ),
    ).toBeNull();
    expect(
      parseLeaseMessage(JSON.stringify({ message: { subject: "x", seq: 3, time: "t" } })),
    ).toBeNull();
    expect(parseLeaseMessage(reply(47, ""))).toBeNull();
    expect(parseLeaseMessage(reply(48, "not json"))).toBeNull();
    expect(parseLeaseMessage("")).toBeNull();
  });
});

describe("goals", () => {
  const base = {
    backlog: 1_000_000,
    schedulerPeakMiB: 400,
    leaderIdleCpu: 3,
    probeMedianMs: 40,
    probesMissed: 0,
    listMaxMs: 50,
    dashboardMaxMs: 80,
    eventLoopMaxMs: [30, Number.NaN, 60],
    failover: null,
    flood: null,
  };

  it("judges each goal from its figure, ignoring replicas without a figure", () => {
    const g = judgeGoals(base);
    expect(g.rssPerReplicaAtMostMiB.met).toBe(400 <= GOALS.rssMiB);
    expect(g.eventLoopDelayAtMostMs).toMatchObject({ measuredMaxMs: 60 });
    expect(g.probeMedianAtMostMs.met).toBe(40 <= GOALS.probeMedianMs);
    expect("firstAssignmentAtMostMs" in g).toBe(false);
    expect("floodLeaseKept" in g).toBe(false);
  });

  it("gives no RSS verdict below the goal's backlog, and misses a goal a missed probe fails", () => {
    const g = judgeGoals({ ...base, backlog: RSS_GOAL_BACKLOG - 1, probesMissed: 1 });
    expect(g.rssPerReplicaAtMostMiB.met).toBeNull();
    expect(g.probeMedianAtMostMs.met).toBe(false);
    const none = judgeGoals({ ...base, eventLoopMaxMs: [Number.NaN] });
    expect(none.eventLoopDelayAtMostMs).toMatchObject({ measuredMaxMs: null, met: false });
  });
});
