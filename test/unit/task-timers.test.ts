import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { HeldTasks, TaskTimer } from "../../src/actors/index.ts";
import type { MirrorTask } from "../../src/runtime/mirror-task.ts";
import { TaskTimers } from "../../src/runtime/task-timers.ts";

const START_MS = 10_000;
const DAY = 86_400_000;

/** The fields a timer is derived from; the rest of a mirror task plays no part. */
function task(over: Partial<MirrorTask>): MirrorTask {
  return {
    id: "t1",
    state: "queued",
    epoch: 1,
    workerId: null,
    timeoutMs: 30_000,
    runAt: null,
    nextRunAt: null,
    ...over,
  } as MirrorTask;
}

function harness() {
  const fired: { id: string; timer: TaskTimer }[] = [];
  const current = new Map<string, MirrorTask>();
  const heartbeats = new Map<string, HeldTasks>();
  let held = 0;
  let active = true;
  const timers = new TaskTimers({
    options: { startTimeoutMs: START_MS, timeoutGraceMs: 2_000 },
    active: () => active,
    current: (id) => current.get(id),
    seenAt: () => Date.now(),
    heartbeat: (id) => heartbeats.get(id),
    fire: (id, timer) => fired.push({ id, timer }),
    held: () => held++,
  });
  return {
    timers,
    fired,
    current,
    heartbeats,
    held: () => held,
    stop: () => (active = false),
  };
}

describe("TaskTimers", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
  });
  afterEach(() => vi.useRealTimers());

  it("holds off a start timeout while the worker's heartbeat lists the task, then fires", () => {
    const h = harness();
    const t = task({ state: "assigned", epoch: 3, workerId: "w1" });
    h.heartbeats.set("w1", { running: [{ taskId: "t1", epoch: 3 }], recent: [] });
    h.timers.arm(t);
    vi.advanceTimersByTime(START_MS);
    expect(h.held()).toBe(1);
    expect(h.fired).toEqual([]);
    // Finished, its report still in flight: listed as recent, still the worker's.
    h.heartbeats.set("w1", { running: [], recent: [{ taskId: "t1", epoch: 3 }] });
    vi.advanceTimersByTime(START_MS);
    expect(h.held()).toBe(2);
    expect(h.fired).toEqual([]);
    // A heartbeat that no longer lists it (or lists an earlier epoch): lost, handed back.
    h.heartbeats.set("w1", { running: [{ taskId: "t1", epoch: 2 }], recent: [] });
    vi.advanceTimersByTime(START_MS);
    expect(h.fired.map((f) => [f.id, f.timer.kind])).toEqual([["t1", "start"]]);
  });

  it("fires a start timeout at once when the worker has no heartbeat", () => {
    const h = harness();
    h.timers.arm(task({ state: "assigned", epoch: 3, workerId: "w1" }));
    vi.advanceTimersByTime(START_MS - 1);
    expect(h.fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(h.fired).toHaveLength(1);
    expect(h.held()).toBe(0);
  });

  it("never holds off a running task's backstop, whatever the heartbeat lists", () => {
    const h = harness();
    h.heartbeats.set("w1", { running: [{ taskId: "t1", epoch: 3 }], recent: [] });
    h.timers.arm(task({ state: "running", epoch: 3, workerId: "w1", timeoutMs: 1_000 }));
    vi.advanceTimersByTime(1_000 + 2_000);
    expect(h.fired.map((f) => f.timer.kind)).toEqual(["backstop"]);
  });

  it("waits beyond a day in steps, re-armed from the task as it is then", () => {
    const h = harness();
    const t = task({ state: "delayed", runAt: Date.now() + 40 * DAY });
    h.current.set("t1", t);
    // Node fires a timeout past 2^31 - 1 ms at once: no single wait may be that long.
    const waits = vi.spyOn(globalThis, "setTimeout");
    h.timers.arm(t);
    vi.advanceTimersByTime(39 * DAY);
    expect(h.fired).toEqual([]);
    vi.advanceTimersByTime(DAY);
    expect(h.fired.map((f) => f.timer.kind)).toEqual(["due"]);
    const delays = waits.mock.calls.map((c) => c[1] ?? 0);
    expect(delays.length).toBeGreaterThanOrEqual(40);
    expect(Math.max(...delays)).toBeLessThanOrEqual(DAY);
  });

  it("keeps one timer per task: arming again replaces it, and a task that needs none has none", () => {
    const h = harness();
    h.timers.arm(task({ state: "delayed", runAt: Date.now() + 1_000 }));
    h.timers.arm(task({ state: "delayed", runAt: Date.now() + 5_000 }));
    vi.advanceTimersByTime(1_000);
    expect(h.fired).toEqual([]);
    vi.advanceTimersByTime(4_000);
    expect(h.fired).toHaveLength(1);
    h.timers.arm(task({ state: "delayed", runAt: Date.now() + 1_000 }));
    h.timers.arm(task({ state: "queued" }));
    vi.advanceTimersByTime(2_000);
    expect(h.fired).toHaveLength(1);
  });

  it("fires nothing once the leader may no longer act, or after clear()", () => {
    const h = harness();
    h.timers.arm(task({ id: "a", state: "delayed", runAt: Date.now() + 1_000 }));
    h.timers.arm(task({ id: "b", state: "delayed", runAt: Date.now() + 1_000 }));
    h.timers.clear();
    vi.advanceTimersByTime(2_000);
    expect(h.fired).toEqual([]);
    h.timers.arm(task({ id: "a", state: "delayed", runAt: Date.now() + 1_000 }));
    h.stop();
    vi.advanceTimersByTime(2_000);
    expect(h.fired).toEqual([]);
  });
});
