/**
 * One look of the leader at a schedule: due ticks, missed ticks inside and beyond the catch-up
 * window, each overlap policy, the limit on runs, and a paused schedule.
 */
import { describe, expect, it } from "vitest";
import { newScheduleRecord, planSchedule, recordRuns } from "../../src/actors/index.ts";
import type { ScheduleRecord, ScheduleSpecInput } from "../../src/protocol/index.ts";
import { ScheduleSpec } from "../../src/protocol/index.ts";

const T0 = Date.parse("2026-06-01T00:00:00Z");

function schedule(o: Omit<ScheduleSpecInput, "task">, paused = false): ScheduleRecord {
  const rec = newScheduleRecord("s1", ScheduleSpec.parse({ task: { type: "echo" }, ...o }), T0);
  return { ...rec, paused };
}

/** The record after a plan was carried out (its ticks submitted as tasks `t<tick>`). */
function after(
  rec: ScheduleRecord,
  now: number,
  unfinished: string[] = [],
): [ScheduleRecord, number[], string[]] {
  const p = planSchedule(rec, now, unfinished);
  const runs = p.fire.map((tick) => ({ tick, taskId: `t${tick - T0}`, firedAt: now }));
  return [{ ...rec, state: recordRuns(p.state, runs, 10) }, p.fire.map((t) => t - T0), p.cancel];
}

describe("due ticks", () => {
  it("fires nothing before the first tick, then each tick once", () => {
    let rec = schedule({ everyMs: 1_000 });
    let fired: number[];
    [rec, fired] = after(rec, T0 + 999);
    expect(fired).toEqual([]);
    [rec, fired] = after(rec, T0 + 1_003);
    expect(fired).toEqual([1_000]);
    [rec, fired] = after(rec, T0 + 1_500);
    expect(fired).toEqual([]);
    [rec, fired] = after(rec, T0 + 2_001);
    expect(fired).toEqual([2_000]);
    expect(rec.state).toMatchObject({
      runs: 2,
      lastTick: T0 + 2_000,
      nextTick: T0 + 3_000,
      skipped: 0,
    });
    expect(rec.state.recent.map((r) => r.taskId)).toEqual(["t1000", "t2000"]);
  });

  it("a paused schedule fires nothing and changes nothing", () => {
    const rec = schedule({ everyMs: 1_000 }, true);
    const p = planSchedule(rec, T0 + 10_000, []);
    expect(p).toMatchObject({ fire: [], changed: false });
  });
});

describe("missed ticks", () => {
  it("within the window, `once` submits the latest and records the others as missed", () => {
    const [rec, fired] = after(
      schedule({ everyMs: 1_000, catchUp: { windowMs: 60_000 } }),
      T0 + 5_200,
    );
    expect(fired).toEqual([5_000]);
    expect(rec.state).toMatchObject({ skipped: 4, lastTick: T0 + 5_000, nextTick: T0 + 6_000 });
    expect(rec.state.lastSkip).toMatchObject({ tick: T0 + 4_000, reason: "missed" });
  });

  it("within the window, `all` submits every missed tick, oldest first", () => {
    const [rec, fired] = after(
      schedule({ everyMs: 1_000, catchUp: { windowMs: 60_000, fire: "all" } }),
      T0 + 5_200,
    );
    expect(fired).toEqual([1_000, 2_000, 3_000, 4_000, 5_000]);
    expect(rec.state).toMatchObject({ skipped: 0, runs: 5, nextTick: T0 + 6_000 });
  });

  it("beyond the window, ticks are skipped without a task and counted", () => {
    const [rec, fired] = after(
      schedule({ everyMs: 1_000, catchUp: { windowMs: 3_000, fire: "all" } }),
      T0 + 10_500,
    );
    // 1..7 s are more than 3 s late at 10.5 s; 8, 9 and 10 s are within.
    expect(fired).toEqual([8_000, 9_000, 10_000]);
    expect(rec.state).toMatchObject({ skipped: 7, runs: 3 });
    expect(rec.state.lastSkip).toMatchObject({ tick: T0 + 7_000, reason: "missed" });
  });

  it("a long outage of a cron schedule is jumped, not stepped through tick by tick", () => {
    const rec = schedule({ cron: "* * * * * *", catchUp: { windowMs: 10_000 } });
    const started = performance.now();
    const p = planSchedule(rec, T0 + 7 * 86_400_000, []);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(p.fire).toEqual([T0 + 7 * 86_400_000]);
    expect(p.state.nextTick).toBe(T0 + 7 * 86_400_000 + 1_000);
    expect(p.state.skipped).toBeGreaterThan(1_000);
  });

  it("a single time that passed while nothing ran fires within the window, and is skipped beyond it", () => {
    const at = "2026-06-01T00:00:00Z";
    const [late, fired] = after(schedule({ at, catchUp: { windowMs: 60_000 } }), T0 + 30_000);
    expect(fired).toEqual([0]);
    expect(late.state.nextTick).toBeNull();
    const [gone, none] = after(schedule({ at, catchUp: { windowMs: 60_000 } }), T0 + 90_000);
    expect(none).toEqual([]);
    expect(gone.state).toMatchObject({ nextTick: null, skipped: 1, runs: 0 });
  });
});

describe("overlap policies, while the previous task has not finished", () => {
  it("skip (the default): no task; the tick is recorded as skipped for overlap", () => {
    const [rec, fired] = after(schedule({ everyMs: 1_000 }), T0 + 1_000, ["t0"]);
    expect(fired).toEqual([]);
    expect(rec.state.lastSkip).toMatchObject({ tick: T0 + 1_000, reason: "overlap" });
    expect(rec.state.nextTick).toBe(T0 + 2_000);
  });

  it("buffer-one: holds one tick, skips later ones, and submits the held tick once the previous finishes", () => {
    let rec = schedule({ everyMs: 1_000, overlap: "buffer-one" });
    let fired: number[];
    [rec, fired] = after(rec, T0 + 1_000, ["t0"]);
    expect(fired).toEqual([]);
    expect(rec.state.buffered).toBe(T0 + 1_000);
    [rec, fired] = after(rec, T0 + 2_000, ["t0"]);
    expect(fired).toEqual([]);
    expect(rec.state).toMatchObject({ buffered: T0 + 1_000, skipped: 1 });
    [rec, fired] = after(rec, T0 + 2_500, []);
    expect(fired).toEqual([1_000]);
    expect(rec.state.buffered).toBeNull();
    // The held run is now the previous one: the next tick is held behind it.
    [rec, fired] = after(rec, T0 + 3_000, ["t1000"]);
    expect(fired).toEqual([]);
    expect(rec.state.buffered).toBe(T0 + 3_000);
  });

  it("allow: submits anyway", () => {
    const [, fired, cancel] = after(schedule({ everyMs: 1_000, overlap: "allow" }), T0 + 1_000, [
      "t0",
    ]);
    expect(fired).toEqual([1_000]);
    expect(cancel).toEqual([]);
  });

  it("cancel-previous: cancels the unfinished tasks, then submits", () => {
    const [, fired, cancel] = after(
      schedule({ everyMs: 1_000, overlap: "cancel-previous" }),
      T0 + 1_000,
      ["t0", "tx"],
    );
    expect(fired).toEqual([1_000]);
    expect(cancel).toEqual(["t0", "tx"]);
  });

  it("without an unfinished task every policy submits", () => {
    for (const overlap of ["skip", "buffer-one", "allow", "cancel-previous"] as const) {
      const [, fired, cancel] = after(schedule({ everyMs: 1_000, overlap }), T0 + 1_000, []);
      expect(fired, overlap).toEqual([1_000]);
      expect(cancel).toEqual([]);
    }
  });
});

describe("the limit on runs", () => {
  it("stops after maxRuns tasks, even when more ticks are due", () => {
    let rec = schedule({ everyMs: 1_000, maxRuns: 3, catchUp: { windowMs: 60_000, fire: "all" } });
    let fired: number[];
    [rec, fired] = after(rec, T0 + 2_000);
    expect(fired).toEqual([1_000, 2_000]);
    [rec, fired] = after(rec, T0 + 9_000);
    expect(fired).toEqual([3_000]);
    expect(rec.state).toMatchObject({ runs: 3, nextTick: null });
    [, fired] = after(rec, T0 + 20_000);
    expect(fired).toEqual([]);
  });

  it("counts a held tick and a new one together against the limit", () => {
    let rec = schedule({ everyMs: 1_000, maxRuns: 3, overlap: "buffer-one" });
    let fired: number[];
    [rec, fired] = after(rec, T0 + 1_000);
    expect(fired).toEqual([1_000]);
    [rec, fired] = after(rec, T0 + 2_000, ["t1000"]);
    expect(fired).toEqual([]);
    expect(rec.state.buffered).toBe(T0 + 2_000);
    // The first run finished just as the third tick came: the held tick and the new one, both
    // within the limit of three (the new one overlaps the held run: held again, not lost).
    [rec, fired] = after(rec, T0 + 3_000, []);
    expect(fired).toEqual([2_000]);
    expect(rec.state).toMatchObject({ runs: 2, buffered: T0 + 3_000 });
    [rec, fired] = after(rec, T0 + 3_500, []);
    expect(fired).toEqual([3_000]);
    expect(rec.state).toMatchObject({ runs: 3, nextTick: null, buffered: null });
  });

  it("with overlaps allowed, a held tick and a due one both fire when the limit leaves room", () => {
    const rec = schedule({ everyMs: 1_000, maxRuns: 3, overlap: "allow" });
    const p = planSchedule(
      { ...rec, state: { ...rec.state, runs: 1, buffered: T0 + 500 } },
      T0 + 1_000,
      [],
    );
    expect(p.fire).toEqual([T0 + 500, T0 + 1_000]);
    expect(p.state.nextTick).toBeNull();
  });
});
