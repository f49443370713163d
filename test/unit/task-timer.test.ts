import { describe, expect, it } from "vitest";
import { SubmitTaskRequest, newTaskRecord } from "../../src/protocol/index.ts";
import type { TaskRecord } from "../../src/protocol/index.ts";
import { taskTimer } from "../../src/actors/index.ts";

const T0 = 1_000_000;
const O = { startTimeoutMs: 10_000, timeoutGraceMs: 2_000 };

function rec(over: Partial<TaskRecord>): TaskRecord {
  const base = newTaskRecord(
    "t1",
    SubmitTaskRequest.parse({ type: "echo", timeoutMs: 30_000 }),
    T0,
  );
  return { ...base, ...over };
}

describe("taskTimer", () => {
  it("gives queued and finished tasks no timer", () => {
    for (const state of [
      "queued",
      "succeeded",
      "failed",
      "dead",
      "cancelled",
      "timed_out",
    ] as const)
      expect(taskTimer(rec({ state }), T0, O)).toBeNull();
  });

  it("wakes a delayed or retrying task at its stored due time, with DUE (never before it)", () => {
    const delayed = rec({ state: "delayed", runAt: T0 + 500 });
    const d = taskTimer(delayed, T0 + 99, O)!;
    expect(d).toMatchObject({ dueAt: T0 + 500, kind: "due" });
    expect(d.event(delayed, T0 + 400, 0)).toEqual({ type: "DUE", at: T0 + 500 });
    expect(d.event(delayed, T0 + 700, 0)).toEqual({ type: "DUE", at: T0 + 700 });
    // Changed since (cancelled, say): nothing to do.
    expect(d.event(rec({ state: "cancelled" }), T0 + 700, 0)).toBeNull();

    const retrying = rec({ state: "retrying", nextRunAt: T0 + 800 });
    expect(taskTimer(retrying, T0, O)).toMatchObject({ dueAt: T0 + 800, kind: "due" });
    expect(taskTimer(rec({ state: "retrying", nextRunAt: null }), T0, O)).toBeNull();
  });

  it("times an assignment's start from when this leader saw it, not from the stored assignedAt", () => {
    const a = rec({ state: "assigned", epoch: 3, workerId: "w1", assignedAt: T0 - 60_000 });
    const t = taskTimer(a, T0 + 5, O)!;
    expect(t).toMatchObject({ dueAt: T0 + 5 + 10_000, kind: "start" });
    expect(t.event(a, T0 + 20_000, 0)).toEqual({
      type: "RELEASE",
      at: T0 + 20_000,
      epoch: 3,
      reason: "not started in time",
    });
    // Started meanwhile, or reassigned under a later epoch: nothing to hand back.
    expect(t.event({ ...a, state: "running" }, T0 + 20_000, 0)).toBeNull();
    expect(t.event({ ...a, epoch: 4 }, T0 + 20_000, 0)).toBeNull();
  });

  it("backs a running task's own timeout with TIME_OUT after timeout plus grace", () => {
    const r = rec({ state: "running", epoch: 2, workerId: "w1", startedAt: T0 + 10_000_000 });
    const t = taskTimer(r, T0, O)!;
    expect(t).toMatchObject({ dueAt: T0 + 30_000 + 2_000, kind: "backstop" });
    expect(t.event(r, T0 + 40_000, 0.25)).toEqual({
      type: "TIME_OUT",
      at: T0 + 40_000,
      epoch: 2,
      rand: 0.25,
    });
    expect(t.event({ ...r, state: "succeeded" }, T0 + 40_000, 0)).toBeNull();
    expect(t.event({ ...r, epoch: 3 }, T0 + 40_000, 0)).toBeNull();
  });
});
