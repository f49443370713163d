/**
 * What the leader does when a worker is gone: an expired worker's tasks are requeued at once;
 * a worker that left on its own has its stored reports applied first, so a task it finished
 * while draining is not requeued (and run twice).
 */
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { TaskEvent } from "../../src/actors/index.ts";
import type { TaskRecord } from "../../src/protocol/index.ts";
import type { Mirror } from "../../src/runtime/mirror.ts";
import type { TaskStore } from "../../src/runtime/task-store.ts";
import { WorkerReconciler } from "../../src/runtime/worker-reconciler.ts";

interface Held {
  epoch: number;
  workerId: string;
}

function setup(held: Record<string, Held>) {
  const records = new Map(Object.entries(held));
  const events: { id: string; event: TaskEvent | null }[] = [];
  const byWorker = new Map<string, Set<string>>();
  for (const [id, h] of records) {
    const set = byWorker.get(h.workerId) ?? new Set<string>();
    set.add(id);
    byWorker.set(h.workerId, set);
  }
  const mirror = { byWorker, tasks: { get: (id: string) => records.get(id) } } as unknown as Mirror;
  const store = {
    apply: (id: string, fn: (r: TaskRecord) => TaskEvent | null) => {
      const event = fn(records.get(id) as unknown as TaskRecord);
      events.push({ id, event });
      return Promise.resolve({ ok: true, changed: event !== null });
    },
  } as unknown as TaskStore;
  let release!: () => void;
  const applied = new Promise<void>((r) => (release = r));
  let term: number | null = 7;
  const asked: string[] = [];
  const work: Promise<unknown>[] = [];
  const stats = { workersLost: 0, requeuedOnWorkerLoss: 0, foreignTasks: 0 };
  const r = new WorkerReconciler({
    mirror,
    store,
    log: pino({ level: "silent" }),
    stats,
    reconcileAfterMs: 1_000,
    serial: (_id, fn) => void work.push(fn()),
    seenAt: () => 0,
    dispatching: () => false,
    forget: () => undefined,
    reportsApplied: (workerId) => (asked.push(workerId), applied),
    term: () => term,
    kick: () => undefined,
  });
  return {
    r,
    records,
    events,
    stats,
    asked,
    release,
    setTerm: (t: number | null) => (term = t),
    settle: async () => {
      await new Promise((res) => setImmediate(res));
      await Promise.all(work);
    },
  };
}

describe("WorkerReconciler.gone", () => {
  it("requeues an expired worker's tasks at once", async () => {
    const s = setup({ a: { epoch: 1, workerId: "w1" }, b: { epoch: 3, workerId: "w1" } });
    s.r.gone("w1", "expired", undefined);
    await s.settle();
    expect(s.asked).toEqual([]);
    expect(s.events.map((e) => [e.id, e.event?.type])).toEqual([
      ["a", "WORKER_LOST"],
      ["b", "WORKER_LOST"],
    ]);
    expect(s.stats.requeuedOnWorkerLoss).toBe(2);
  });

  it("requeues a worker that left only after its stored reports were applied", async () => {
    const s = setup({ a: { epoch: 1, workerId: "w1" } });
    s.r.gone("w1", "deleted", undefined);
    await s.settle();
    expect(s.asked).toEqual(["w1"]);
    expect(s.events).toEqual([]);
    s.release();
    await s.settle();
    expect(s.events.map((e) => e.event?.type)).toEqual(["WORKER_LOST"]);
  });

  it("leaves alone a task given again since (a worker of the same id came back)", async () => {
    const s = setup({ a: { epoch: 1, workerId: "w1" } });
    s.r.gone("w1", "deleted", undefined);
    s.records.set("a", { epoch: 2, workerId: "w1" });
    s.release();
    await s.settle();
    expect(s.events).toEqual([{ id: "a", event: null }]);
    expect(s.stats.requeuedOnWorkerLoss).toBe(0);
  });

  it("drops the requeue when the term ended meanwhile (the next leader restores it)", async () => {
    const s = setup({ a: { epoch: 1, workerId: "w1" } });
    s.r.gone("w1", "deleted", undefined);
    s.setTerm(null);
    s.release();
    await s.settle();
    expect(s.events).toEqual([]);
  });
});
