/**
 * The leader's scheduling pass as a pure function: which queued tasks go to which live
 * workers, and which are explained as fitting nowhere. Dead workers are absent from the views;
 * draining, full and held-back (refusing) workers are present and must get nothing.
 */
import { describe, expect, it } from "vitest";
import type { QueuedTask, Resources, Shape, WorkerView } from "../../src/actors/index.ts";
import {
  compareQueued,
  createStrategy,
  QueueIndex,
  schedulingPass,
  shapeKey,
} from "../../src/actors/index.ts";

type Task = QueuedTask & { state: string; resources: Resources };

const R1: Resources = { cpu: 1, memoryMb: 128, slots: 1 };

function shape(type: string, resources = R1): Shape {
  return { id: shapeKey(type, resources, {}), type, resources, labels: {} };
}

class Queue {
  readonly tasks: Task[] = [];
  readonly index = new QueueIndex((a, b) => compareQueued(this.tasks[a]!, this.tasks[b]!));
  readonly reserved = new Set<string>();

  add(id: string, o: { priority?: number; type?: string; resources?: Resources } = {}): void {
    const s = shape(o.type ?? "echo", o.resources ?? R1);
    const t: Task = {
      id,
      priority: o.priority ?? 0,
      createdAt: this.tasks.length,
      key: null,
      shape: s,
      state: "queued",
      resources: s.resources,
    };
    this.tasks.push(t);
    this.index.add(this.tasks.length - 1, s);
  }

  pass(workers: WorkerView[]) {
    return schedulingPass({
      queue: this.index,
      taskAt: (slot) => this.tasks[slot]!,
      workers,
      strategy: createStrategy("first-fit"),
      reserved: (id) => this.reserved.has(id),
      random: () => 0.5,
      at: 1_000,
    });
  }
}

function worker(id: string, o: Partial<WorkerView> = {}): WorkerView {
  return {
    id,
    types: ["echo", "gpu-job"],
    labels: {},
    capacity: { cpu: 4, memoryMb: 1_024, slots: 2 },
    used: { cpu: 0, memoryMb: 0, slots: 0 },
    lastAssignedAt: 0,
    state: "ready",
    ...o,
  };
}

const placed = (r: ReturnType<Queue["pass"]>): string[] =>
  r.placements.map((p) => `${p.task.id}→${p.workerId}`);

describe("schedulingPass", () => {
  it("places in priority order until capacity runs out, and takes placed tasks out of the queue", () => {
    const q = new Queue();
    q.add("low");
    q.add("high", { priority: 5 });
    q.add("mid", { priority: 1 });
    const r = q.pass([worker("w1")]);
    expect(placed(r)).toEqual(["high→w1", "mid→w1"]);
    // The shape's fitting worker filled up: its next task is explained, and stays queued.
    expect(r.unplaced.map((u) => u.taskId)).toEqual(["low"]);
    expect(q.index.size).toBe(1);
  });

  it("gives nothing to a dead worker (absent), a draining one, a full one or a held-back one", () => {
    const q = new Queue();
    q.add("t1");
    const views = [
      worker("draining", { state: "draining" }),
      worker("full", { used: { cpu: 0, memoryMb: 0, slots: 2 } }),
      worker("refusing", { heldBack: "refused the last assignment" }),
    ];
    const r = q.pass(views);
    expect(r.placements).toEqual([]);
    expect(r.unplaced).toHaveLength(1);
    const reasons = r.unplaced[0]!.decision.candidates.map((c) => `${c.workerId}:${c.fits}`);
    expect(reasons).toEqual(["draining:false", "full:false", "refusing:false"]);
    expect(q.index.size).toBe(1);
    // A live worker with room gets it.
    expect(placed(q.pass([...views, worker("ok")]))).toEqual(["t1→ok"]);
  });

  it("checks a shape that fits nowhere once, by its head, and still places the other shapes", () => {
    const q = new Queue();
    for (let i = 0; i < 1_000; i++)
      q.add(`big${i}`, { resources: { cpu: 64, memoryMb: 1, slots: 1 } });
    q.add("small");
    const r = q.pass([worker("w1")]);
    expect(placed(r)).toEqual(["small→w1"]);
    expect(r.unplaced.map((u) => u.taskId)).toEqual(["big0"]);
    expect(r.unplaced[0]!.decision.reason).toMatch(/cpu/);
  });

  it("skips a task already on its way to a worker, and never places it twice", () => {
    const q = new Queue();
    q.add("t1");
    q.add("t2");
    q.reserved.add("t1");
    expect(placed(q.pass([worker("w1")]))).toEqual(["t2→w1"]);
  });

  it("counts what it places against each worker within the pass", () => {
    const q = new Queue();
    for (const id of ["a", "b", "c", "d"]) q.add(id);
    const r = q.pass([worker("w1"), worker("w2")]);
    expect(placed(r)).toEqual(["a→w1", "b→w1", "c→w2", "d→w2"]);
  });
});
