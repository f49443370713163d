/**
 * `drover schedule`'s flags become the API's request as the API would validate it, and
 * `drover schedule ls` shows each schedule's state, last and next fire.
 */
import { describe, expect, it } from "vitest";
import { scheduleRequest, scheduleTable } from "../../src/cli/schedules.ts";
import type { ScheduleRecord } from "../../src/protocol/index.ts";

describe("drover schedule", () => {
  it("maps the flags onto a schedule request", () => {
    const req = scheduleRequest("nightly", "cleanup", '{"days":30}', {
      cron: "0 30 2 * * *",
      tz: "Europe/Berlin",
      start: "1796400000000",
      end: "2027-01-01T00:00:00Z",
      "max-runs": "5",
      "jitter-ms": "1000",
      overlap: "buffer-one",
      "catch-up": "all",
      "catch-up-ms": "60000",
      priority: "7",
      "timeout-ms": "5000",
      label: ["gpu=true"],
    });
    expect(req).toMatchObject({
      id: "nightly",
      task: {
        type: "cleanup",
        payload: { days: 30 },
        priority: 7,
        timeoutMs: 5_000,
        labels: { gpu: "true" },
      },
      cron: "0 30 2 * * *",
      timezone: "Europe/Berlin",
      startAt: 1_796_400_000_000,
      endAt: "2027-01-01T00:00:00Z",
      maxRuns: 5,
      jitterMs: 1_000,
      overlap: "buffer-one",
      catchUp: { fire: "all", windowMs: 60_000 },
    });
  });

  it("refuses what the API would refuse, naming the field, before connecting", () => {
    expect(() =>
      scheduleRequest("x", "echo", undefined, { "every-ms": "1000", cron: "@daily" }),
    ).toThrow(/exactly one of cron, everyMs and at/);
    expect(() =>
      scheduleRequest("x", "echo", undefined, { "every-ms": "1000", overlap: "never" }),
    ).toThrow(/overlap/);
    expect(() =>
      scheduleRequest("x", "echo", undefined, { cron: "@daily", tz: "Mars/Olympus" }),
    ).toThrow(/timezone/);
    expect(() => scheduleRequest("x", "echo", "{not json", { cron: "@daily" })).toThrow(/JSON/);
  });

  it("lists state, last and next fire, runs and skips", () => {
    const base = {
      v: 1,
      paused: false,
      createdAt: 0,
      updatedAt: 0,
      state: {
        nextTick: Date.parse("2026-12-05T01:30:00Z"),
        lastTick: null,
        runs: 2,
        skipped: 1,
        lastSkip: null,
        buffered: null,
        recent: [{ tick: 0, taskId: "t1", firedAt: Date.parse("2026-12-04T01:30:00.012Z") }],
      },
    };
    const rows = scheduleTable([
      {
        ...base,
        id: "a",
        spec: { task: { type: "echo" }, cron: "30 2 * * *", timezone: "Europe/Berlin" },
      },
      {
        ...base,
        id: "b",
        paused: true,
        spec: { task: { type: "echo" }, everyMs: 5_000, timezone: "UTC" },
      },
      {
        ...base,
        id: "c",
        state: { ...base.state, nextTick: null },
        spec: { task: { type: "echo" }, at: 0, timezone: "UTC" },
      },
    ] as unknown as ScheduleRecord[]).split("\n");
    expect(rows[1]).toMatch(
      /^a +echo +cron 30 2 \* \* \* \(Europe\/Berlin\) +active +2026-12-04T01:30:00.012Z +2026-12-05T01:30:00.000Z +2 +1$/,
    );
    expect(rows[2]).toMatch(/^b +echo +every 5000 ms +paused +\S+ +- +2 +1$/);
    expect(rows[3]).toMatch(/^c +echo +at 1970-01-01T00:00:00.000Z +done +/);
  });
});
