import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { QueuedTask, Shape } from "../../src/actors/index.ts";
import { compareQueued, QueueIndex, shapeKey } from "../../src/actors/index.ts";

const R1 = { cpu: 0, memoryMb: 0, slots: 1 };

function shape(type: string, labels: Record<string, string> = {}): Shape {
  return { id: shapeKey(type, R1, labels), type, resources: R1, labels };
}

/** A queue over a plain array of tasks (slot = index), as a task table would give it. */
class Fixture {
  readonly tasks: QueuedTask[] = [];
  readonly q = new QueueIndex((a, b) => compareQueued(this.tasks[a]!, this.tasks[b]!));
  readonly #slots = new Map<string, number>();

  add(id: string, o: { priority?: number; createdAt?: number; type?: string; gpu?: boolean } = {}) {
    let slot = this.#slots.get(id);
    if (slot !== undefined) this.q.remove(slot);
    else this.#slots.set(id, (slot = this.tasks.length));
    const t: QueuedTask = {
      id,
      priority: o.priority ?? 0,
      createdAt: o.createdAt ?? 0,
      key: null,
      shape: shape(o.type ?? "echo", o.gpu === true ? { gpu: "true" } : {}),
    };
    this.tasks[slot] = t;
    this.q.add(slot, t.shape);
  }

  remove(id: string): boolean {
    const slot = this.#slots.get(id);
    return slot !== undefined && this.q.remove(slot);
  }

  has(id: string): boolean {
    const slot = this.#slots.get(id);
    return slot !== undefined && this.q.has(slot);
  }

  id(slot: number | undefined): string | undefined {
    return slot === undefined ? undefined : this.tasks[slot]!.id;
  }

  /** Takes everything the index yields, in order. */
  drainAll(fits: (type: string) => boolean = () => true): string[] {
    const out: string[] = [];
    this.q.drain(
      (s) => fits(s.type),
      (slot) => {
        out.push(this.id(slot)!);
        return "taken";
      },
    );
    return out;
  }
}

describe("QueueIndex", () => {
  it("yields tasks by priority, then age, then id, across shapes", () => {
    const f = new Fixture();
    f.add("c", { createdAt: 3 });
    f.add("a", { createdAt: 1, type: "resize" });
    f.add("hi", { createdAt: 9, priority: 5, gpu: true });
    f.add("b", { createdAt: 1 });
    expect([...f.q.shapes()].map((s) => s.size).sort()).toEqual([1, 1, 2]);
    expect(f.drainAll()).toEqual(["hi", "a", "b", "c"]);
    expect(f.q.size).toBe(0);
    expect([...f.q.shapes()]).toEqual([]);
  });

  it("skips whole shapes that fit nowhere, without visiting their tasks", () => {
    const f = new Fixture();
    for (let i = 0; i < 10_000; i++) f.add(`n${i}`, { type: "nohandler", createdAt: i });
    f.add("probe", { createdAt: 99_999 });
    let visited = 0;
    f.q.drain(
      (s) => s.type !== "nohandler",
      () => {
        visited++;
        return "taken";
      },
    );
    expect(visited).toBe(1);
    expect(f.q.size).toBe(10_000);
    expect(f.id(f.q.head("nohandler|0|0|1|"))).toBe("n0");
  });

  it("keeps skipped tasks and stops a shape that ran out of room", () => {
    const f = new Fixture();
    for (const id of ["a", "b", "c"]) f.add(id, { createdAt: id.charCodeAt(0) });
    for (const id of ["x", "y"]) f.add(id, { type: "gpu", createdAt: id.charCodeAt(0) });
    const seen: string[] = [];
    f.q.drain(
      () => true,
      (slot) => {
        const id = f.id(slot)!;
        seen.push(id);
        if (id === "a") return "skip";
        if (id === "c") return "shape-full";
        return "taken";
      },
    );
    // a skipped, b taken, c stops the echo shape; the gpu shape (x, y) is unaffected.
    expect(seen).toEqual(["a", "b", "c", "x", "y"]);
    expect(f.has("a") && f.has("c") && !f.has("b")).toBe(true);
    expect(f.drainAll()).toEqual(["a", "c"]);
  });

  it("replaces and removes entries; removed tasks never come back", () => {
    const f = new Fixture();
    f.add("a", { createdAt: 5 });
    f.add("b", { createdAt: 6 });
    f.add("a", { createdAt: 7, priority: -1 });
    expect(f.remove("b")).toBe(true);
    expect(f.remove("b")).toBe(false);
    expect(f.q.size).toBe(1);
    expect(f.drainAll()).toEqual(["a"]);
  });

  it("says which slots a heap still refers to, and lets go of them when it drops them", () => {
    const f = new Fixture();
    for (let i = 0; i < 3; i++) f.add(`t${i}`, { createdAt: i });
    f.remove("t1");
    // t1's entry is dead but still in the heap: its slot must not be reused yet.
    expect(f.q.has(1)).toBe(false);
    expect(f.q.references(1)).toBe(true);
    expect(f.drainAll()).toEqual(["t0", "t2"]);
    expect([0, 1, 2].map((s) => f.q.references(s))).toEqual([false, false, false]);
    // A shape whose last live task is removed is dropped with its dead entries.
    f.add("x", { type: "gpu" });
    f.add("y", { type: "gpu", createdAt: 1 });
    f.remove("x");
    f.remove("y");
    expect([3, 4].map((s) => f.q.references(s))).toEqual([false, false]);
  });

  it("matches a sorted reference under any mix of adds, removes and drains (property)", () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("add" as const),
        id: fc.integer({ min: 0, max: 40 }),
        priority: fc.integer({ min: -2, max: 2 }),
        createdAt: fc.integer({ min: 0, max: 20 }),
        type: fc.constantFrom("a", "b", "c"),
      }),
      fc.record({ kind: fc.constant("remove" as const), id: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ kind: fc.constant("take" as const), n: fc.integer({ min: 0, max: 5 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const f = new Fixture();
        const ref = new Map<string, QueuedTask>();
        for (const o of ops) {
          if (o.kind === "add") {
            f.add(`t${o.id}`, o);
            ref.set(
              `t${o.id}`,
              f.tasks.find((t) => t.id === `t${o.id}`)!,
            );
          } else if (o.kind === "remove") {
            expect(f.remove(`t${o.id}`)).toBe(ref.delete(`t${o.id}`));
          } else {
            const expected = [...ref.values()].sort(compareQueued).slice(0, o.n);
            const got: string[] = [];
            f.q.drain(
              () => true,
              (slot) => {
                if (got.length >= o.n) return "shape-full";
                got.push(f.id(slot)!);
                return "taken";
              },
            );
            expect(got).toEqual(expected.map((e) => e.id));
            for (const e of expected) ref.delete(e.id);
          }
          expect(f.q.size).toBe(ref.size);
        }
      }),
    );
  });
});
