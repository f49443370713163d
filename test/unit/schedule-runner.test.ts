/**
 * The leader's schedule runner with a store in memory and fake timers: it fires a due tick
 * once and records it; a look whose submit fails is tried again a second later, not at once;
 * a record changed meanwhile is planned again; nothing fires after it steps down.
 */
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { newScheduleRecord } from "../../src/actors/index.ts";
import type { ScheduleRecord, ScheduleState, SubmitTaskRequest } from "../../src/protocol/index.ts";
import { ScheduleSpec } from "../../src/protocol/index.ts";
import type { ScheduleRunnerDeps } from "../../src/runtime/schedule-runner.ts";
import { ScheduleRunner } from "../../src/runtime/schedule-runner.ts";
import type { StoredSchedule } from "../../src/runtime/schedule-store.ts";

const T0 = Date.parse("2026-06-01T00:00:00Z");

/** A schedules store in memory, with revisions and compare-and-set like the real one. */
class MemoryStore {
  readonly byId = new Map<string, StoredSchedule>();
  #rev = 0;
  readonly listeners = new Set<(id: string) => void>();
  put(record: ScheduleRecord): StoredSchedule {
    const s = { record, revision: ++this.#rev };
    this.byId.set(record.id, s);
    for (const l of this.listeners) l(record.id);
    return s;
  }
  *records(): IterableIterator<ScheduleRecord> {
    for (const s of this.byId.values()) yield s.record;
  }
  held(id: string): StoredSchedule | undefined {
    return this.byId.get(id);
  }
  read(id: string): Promise<StoredSchedule | null> {
    return Promise.resolve(this.byId.get(id) ?? null);
  }
  writeState(held: StoredSchedule, state: ScheduleState): Promise<StoredSchedule | false> {
    const cur = this.byId.get(held.record.id);
    if (cur?.revision !== held.revision) return Promise.resolve(false);
    return Promise.resolve(this.put({ ...held.record, state }));
  }
  onChange(l: (id: string) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}

function schedule(id: string, everyMs = 1_000): ScheduleRecord {
  return newScheduleRecord(id, ScheduleSpec.parse({ task: { type: "echo" }, everyMs }), T0);
}

describe("schedule runner", () => {
  let store: MemoryStore;
  let submits: SubmitTaskRequest[];
  let failing: number;
  let runner: ScheduleRunner;

  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
    store = new MemoryStore();
    submits = [];
    failing = 0;
    const deps: ScheduleRunnerDeps = {
      schedules: store,
      intake: {
        accept: (req) => {
          submits.push(req);
          if (failing > 0) {
            failing--;
            return Promise.reject(new Error("task store full"));
          }
          return Promise.resolve({ ok: true, id: `task-${submits.length}`, duplicate: false });
        },
      },
      mirror: { tasks: { has: () => false } } as unknown as ScheduleRunnerDeps["mirror"],
      cancel: {} as ScheduleRunnerDeps["cancel"],
      log: pino({ level: "silent" }),
    };
    runner = new ScheduleRunner(deps);
  });
  afterEach(() => {
    runner.stepDown();
    vi.useRealTimers();
  });

  it("fires each due tick once, at its time, and records it", async () => {
    store.put(schedule("a"));
    runner.lead(() => true);
    await vi.advanceTimersByTimeAsync(999);
    expect(submits).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(2);
    expect(submits.map((s) => s.idempotencyKey)).toEqual(["schedule:a:2026-06-01T00:00:01.000Z"]);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(submits).toHaveLength(3);
    const rec = store.held("a")!.record;
    expect(rec.state).toMatchObject({ runs: 3, lastTick: T0 + 3_000, nextTick: T0 + 4_000 });
    expect(runner.stats.fired).toBe(3);
  });

  it("a failed submit is tried again a second later, not at once, and then fires the tick once", async () => {
    store.put(schedule("a", 5_000));
    failing = 1;
    runner.lead(() => true);
    await vi.advanceTimersByTimeAsync(5_001);
    expect(submits).toHaveLength(1);
    expect(runner.stats.failures).toBe(1);
    // No spinning: nothing more within the second.
    await vi.advanceTimersByTimeAsync(900);
    expect(submits).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(200);
    // The same tick again, with the same key: the task a half-done first try created, if any.
    expect(submits.map((s) => s.idempotencyKey)).toEqual([
      "schedule:a:2026-06-01T00:00:05.000Z",
      "schedule:a:2026-06-01T00:00:05.000Z",
    ]);
    expect(store.held("a")!.record.state).toMatchObject({
      runs: 1,
      skipped: 0,
      nextTick: T0 + 10_000,
    });
  });

  it("a record changed meanwhile is read again and planned anew: a pause wins", async () => {
    store.put(schedule("a"));
    // Pause the schedule while its first submit is in flight.
    const original = store.writeState.bind(store);
    store.writeState = (held, state) => {
      store.put({ ...store.held("a")!.record, paused: true });
      store.writeState = original;
      return original(held, state);
    };
    runner.lead(() => true);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(submits).toHaveLength(1);
    const rec = store.held("a")!.record;
    expect(rec.paused).toBe(true);
    expect(rec.state.runs).toBe(0);
  });

  it("fires nothing once it steps down, nor while its lease is not certainly held", async () => {
    store.put(schedule("a"));
    let valid = false;
    runner.lead(() => valid);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(submits).toHaveLength(0);
    valid = true;
    // Looked at again shortly, not a second later: the due tick is not made later still.
    await vi.advanceTimersByTimeAsync(60);
    expect(submits.length).toBeGreaterThan(0);
    const n = submits.length;
    runner.stepDown();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(submits).toHaveLength(n);
  });
});
