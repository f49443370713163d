/**
 * The worker's running tasks: an immutable map (every update leaves the map it came from as
 * it was) that behaves like a plain record of its entries, checked against one.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { RunningTask } from "../../src/actors/running-tasks.ts";
import { RunningTasks } from "../../src/actors/running-tasks.ts";

const task = (epoch: number): RunningTask => ({
  epoch,
  resources: { cpu: 1, memoryMb: 1, slots: 1 },
  startedAt: epoch,
});

describe("RunningTasks", () => {
  it("adds, replaces and removes without changing the map it came from", () => {
    const a = RunningTasks.empty.with("t1", task(1));
    const b = a.with("t2", task(2));
    const c = b.with("t1", task(3));
    const d = c.without("t2");
    expect([a.size, b.size, c.size, d.size]).toEqual([1, 2, 2, 1]);
    expect(a.toRecord()).toEqual({ t1: task(1) });
    expect(b.get("t1")).toEqual(task(1));
    expect(c.get("t1")).toEqual(task(3));
    expect(d.has("t2")).toBe(false);
    expect(b.has("t2")).toBe(true);
    expect(RunningTasks.empty.size).toBe(0);
    // Removing what is not there changes nothing, not even the identity.
    expect(d.without("nope")).toBe(d);
    expect(JSON.stringify(d)).toBe(JSON.stringify({ t1: task(3) }));
  });

  it("finds no prototype keys, and keeps an entry named __proto__ through other removals", () => {
    const m = RunningTasks.empty.with("a", task(1));
    expect(m.has("toString")).toBe(false);
    expect(m.get("constructor")).toBeUndefined();
    let p = m.with("__proto__", task(2));
    for (let i = 0; i < 300; i++) p = p.with(`t${i}`, task(i));
    for (let i = 0; i < 300; i++) p = p.without(`t${i}`);
    expect(p.get("__proto__")).toEqual(task(2));
    expect(p.size).toBe(2);
    expect(Object.keys(p.toRecord()).sort()).toEqual(["__proto__", "a"]);
  });

  it("agrees with a plain record over any sequence of updates (property)", () => {
    const op = fc.record({
      add: fc.boolean(),
      id: fc.string({ minLength: 1, maxLength: 6 }),
      epoch: fc.nat(),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        let m = RunningTasks.empty;
        const model = new Map<string, RunningTask>();
        for (const o of ops) {
          if (o.add) {
            m = m.with(o.id, task(o.epoch));
            model.set(o.id, task(o.epoch));
          } else {
            m = m.without(o.id);
            model.delete(o.id);
          }
        }
        expect(m.size).toBe(model.size);
        expect(new Map(m.entries())).toEqual(model);
        for (const o of ops) expect(m.get(o.id)).toEqual(model.get(o.id));
      }),
    );
  });
});
