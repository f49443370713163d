/**
 * The chaos checker proves more than the task machine already guarantees: an accepted
 * completion must match an execution the handlers recorded (same epoch, attempt and worker),
 * and no assignment (task, epoch) may run on two workers or appear twice in a history.
 */
import { describe, expect, it } from "vitest";
import { applyTaskEvent } from "../../src/actors/index.ts";
import type { TaskEvent } from "../../src/actors/index.ts";
import { newTaskRecord, scheduleTickKey, SubmitTaskRequest } from "../../src/protocol/index.ts";
import type { ScheduleRecord, TaskRecord } from "../../src/protocol/index.ts";
import { analyse, scheduleTicks } from "../chaos/checker.ts";
import type { Execution } from "../chaos/checker.ts";

const placement = { strategy: "first-fit", workerId: null, reason: "test", candidates: [], at: 0 };

function run(id: string, events: TaskEvent[]): TaskRecord {
  let r = newTaskRecord(id, SubmitTaskRequest.parse({ type: "work" }), 0);
  for (const e of events) {
    const res = applyTaskEvent(r, e);
    if (!res.ok) throw new Error(`${e.type}: ${res.reason}`);
    r = res.record;
  }
  return r;
}

const assign = (at: number, workerId: string): TaskEvent => ({
  type: "ASSIGN",
  at,
  workerId,
  term: 1,
  placement: { ...placement, workerId },
});

function report(records: TaskRecord[], executions: Execution[]) {
  return analyse({
    ids: records.map((r) => r.id),
    records: new Map(records.map((r) => [r.id, r])),
    stored: records.length,
    executions,
    assigned: [],
  });
}

describe("the chaos checker", () => {
  const done = run("t1", [
    assign(1, "w1"),
    { type: "START", at: 2, epoch: 1, workerId: "w1" },
    { type: "SUCCEED", at: 3, epoch: 1, result: null },
  ]);

  it("accepts a completion that a handler's execution of that assignment produced", () => {
    const r = report([done], [{ taskId: "t1", attempt: 1, epoch: 1, workerId: "w1" }]);
    expect(r.completedWithoutExecution).toEqual([]);
    expect(r.duplicateAssignments).toEqual([]);
    expect(r.completions).toBe(1);
  });

  it("flags a completion whose assignment no handler ran (another worker's execution)", () => {
    const r = report([done], [{ taskId: "t1", attempt: 1, epoch: 1, workerId: "w2" }]);
    expect(r.completedWithoutExecution).toEqual(["t1: epoch 1, attempt 1, worker w1"]);
  });

  it("flags a completion when only an older epoch was executed", () => {
    const twice = run("t2", [
      assign(1, "w1"),
      { type: "WORKER_LOST", at: 2, workerId: "w1" },
      assign(3, "w2"),
      { type: "SUCCEED", at: 4, epoch: 2, result: null },
    ]);
    const r = report([twice], [{ taskId: "t2", attempt: 1, epoch: 1, workerId: "w1" }]);
    expect(r.completedWithoutExecution).toHaveLength(1);
    const ok = report(
      [twice],
      [
        { taskId: "t2", attempt: 1, epoch: 1, workerId: "w1" },
        { taskId: "t2", attempt: twice.attempt, epoch: 2, workerId: "w2" },
      ],
    );
    expect(ok.completedWithoutExecution).toEqual([]);
    expect(ok.duplicateAssignments).toEqual([]);
  });

  it("flags one assignment run by two workers", () => {
    const r = report(
      [done],
      [
        { taskId: "t1", attempt: 1, epoch: 1, workerId: "w1" },
        { taskId: "t1", attempt: 1, epoch: 1, workerId: "w2" },
      ],
    );
    expect(r.duplicateAssignments).toEqual(["t1:1 (run by w1, w2)"]);
  });

  it("flags a history that assigns the same epoch twice", () => {
    const forged: TaskRecord = { ...done, history: [...done.history, done.history[0]!] };
    const r = report([forged], [{ taskId: "t1", attempt: 1, epoch: 1, workerId: "w1" }]);
    expect(r.duplicateAssignments).toEqual(["t1: assigned under epochs 1, 1 (history)"]);
  });
});

describe("schedule ticks", () => {
  const T0 = 1_000_000;
  const schedule = (id: string, lastTick: number | null): ScheduleRecord =>
    ({
      id,
      createdAt: T0,
      spec: { everyMs: 1_000 },
      state: { lastTick },
    }) as unknown as ScheduleRecord;
  const task = (id: string, scheduleId: string, tick: number, late = 10): TaskRecord => ({
    ...run(id, []),
    createdAt: tick + late,
    idempotencyKey: scheduleTickKey(scheduleId, tick),
  });

  it("counts one task per tick from the first to the last handled one", () => {
    const r = scheduleTicks(
      [schedule("a", T0 + 3_000), schedule("b", null)],
      [task("1", "a", T0 + 1_000), task("2", "a", T0 + 2_000), task("3", "a", T0 + 3_000)],
    );
    expect(r).toMatchObject({ expected: 3, created: 3, missing: [], doubled: [], unrecorded: 0 });
  });

  it("names a missing tick, a doubled one, and tasks off the grid or of no schedule", () => {
    const r = scheduleTicks(
      [schedule("a", T0 + 3_000)],
      [
        task("1", "a", T0 + 1_000),
        task("2", "a", T0 + 3_000),
        task("3", "a", T0 + 3_000),
        task("4", "a", T0 + 4_500),
        task("5", "zz", T0 + 1_000),
      ],
    );
    expect(r.expected).toBe(3);
    expect(r.created).toBe(5);
    expect(r.missing).toEqual([`a@${new Date(T0 + 2_000).toISOString()}`]);
    expect(r.doubled).toEqual([
      `a@${new Date(T0 + 3_000).toISOString()}`,
      scheduleTickKey("a", T0 + 4_500),
      scheduleTickKey("zz", T0 + 1_000),
    ]);
    expect(r.unrecorded).toBe(0);
  });

  it("measures how late each tick's task was created", () => {
    const r = scheduleTicks(
      [schedule("a", T0 + 3_000)],
      [
        task("1", "a", T0 + 1_000),
        task("2", "a", T0 + 2_000, 4_200),
        task("3", "a", T0 + 3_000, 1_500),
      ],
    );
    expect(r).toMatchObject({ maxLateMs: 4_200, lateOverOneSecond: 2 });
  });

  it("a task of a later tick on the grid, submitted but not yet recorded, is counted apart", () => {
    const r = scheduleTicks(
      [schedule("a", T0 + 1_000)],
      [task("1", "a", T0 + 1_000), task("2", "a", T0 + 2_000)],
    );
    expect(r).toMatchObject({ expected: 1, missing: [], doubled: [], unrecorded: 1 });
  });
});
