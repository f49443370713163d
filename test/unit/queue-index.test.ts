import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { QueuedTask } from "../../src/actors/index.ts";
import { compareQueued, QueueIndex } from "../../src/actors/index.ts";

const R1 = { cpu: 0, memoryMb: 0, slots: 1 };

function entry(
  q: QueueIndex,
  id: string,
  o: { priority?: number; createdAt?: number; type?: string; gpu?: boolean } = {},
): QueuedTask {
  return {
    id,
    priority: o.priority ?? 0,
    createdAt: o.createdAt ?? 0,
    key: null,
    shape: q.shapeOf(o.type ?? "echo", R1, o.gpu === true ? { gpu: "true" } : {}),
  };
}

/** Takes everything the index yields, in order. */
function drainAll(q: QueueIndex, fits: (type: string) => boolean = () => true): string[] {
  const out: string[] = [];
  q.drain(
    (s) => fits(s.type),
    (t) => {
      out.push(t.id);
      return "taken";
    },
  );
  return out;
}

describe("QueueIndex", () => {
  it("yields tasks by priority, then age, then id, across shapes", () => {
    const q = new QueueIndex();
    q.add(entry(q, "c", { createdAt: 3 }));
    q.add(entry(q, "a", { createdAt: 1, type: "resize" }));
    q.add(entry(q, "hi", { createdAt: 9, priority: 5, gpu: true }));
    q.add(entry(q, "b", { createdAt: 1 }));
    expect([...q.shapes()].map((s) => s.size).sort()).toEqual([1, 1, 2]);
    expect(drainAll(q)).toEqual(["hi", "a", "b", "c"]);
    expect(q.size).toBe(0);
    expect([...q.shapes()]).toEqual([]);
  });

  it("skips whole shapes that fit nowhere, without visiting their tasks", () => {
    const q = new QueueIndex();
    for (let i = 0; i < 10_000; i++) q.add(entry(q, `n${i}`, { type: "nohandler", createdAt: i }));
    q.add(entry(q, "probe", { createdAt: 99_999 }));
    let visited = 0;
    q.drain(
      (s) => s.type !== "nohandler",
      () => {
        visited++;
        return "taken";
      },
    );
    expect(visited).toBe(1);
    expect(q.size).toBe(10_000);
    expect(q.head("nohandler|0|0|1|")?.id).toBe("n0");
  });

  it("keeps skipped tasks and stops a shape that ran out of room", () => {
    const q = new QueueIndex();
    for (const id of ["a", "b", "c"]) q.add(entry(q, id, { createdAt: id.charCodeAt(0) }));
    for (const id of ["x", "y"]) q.add(entry(q, id, { type: "gpu", createdAt: id.charCodeAt(0) }));
    const seen: string[] = [];
    q.drain(
      () => true,
      (t) => {
        seen.push(t.id);
        if (t.id === "a") return "skip";
        if (t.id === "c") return "shape-full";
        return "taken";
      },
    );
    // a skipped, b taken, c stops the echo shape; the gpu shape (x, y) is unaffected.
    expect(seen).toEqual(["a", "b", "c", "x", "y"]);
    expect(q.has("a") && q.has("c") && !q.has("b")).toBe(true);
    expect(drainAll(q)).toEqual(["a", "c"]);
  });

  it("shares one shape object per shape, queued or not, whatever the label order", () => {
    const q = new QueueIndex();
    const a = q.shapeOf("resize", R1, { zone: "eu", gpu: "true" });
    const b = q.shapeOf("resize", R1, { gpu: "true", zone: "eu" });
    expect(b).toBe(a);
    expect(q.shapeOf("resize", R1, { gpu: "false", zone: "eu" })).not.toBe(a);
    expect(q.shapeOf("resize", { ...R1, cpu: 1 }, { zone: "eu", gpu: "true" })).not.toBe(a);
  });

  it("replaces and removes entries; removed tasks never come back", () => {
    const q = new QueueIndex();
    q.add(entry(q, "a", { createdAt: 5 }));
    q.add(entry(q, "b", { createdAt: 6 }));
    q.add(entry(q, "a", { createdAt: 7, priority: -1 }));
    expect(q.remove("b")).toBe(true);
    expect(q.remove("b")).toBe(false);
    expect(q.size).toBe(1);
    expect(drainAll(q)).toEqual(["a"]);
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
        const q = new QueueIndex();
        const ref = new Map<string, QueuedTask>();
        for (const o of ops) {
          if (o.kind === "add") {
            const e = entry(q, `t${o.id}`, o);
            q.add(e);
            ref.set(e.id, e);
          } else if (o.kind === "remove") {
            expect(q.remove(`t${o.id}`)).toBe(ref.delete(`t${o.id}`));
          } else {
            const expected = [...ref.values()].sort(compareQueued).slice(0, o.n);
            const got: string[] = [];
            q.drain(
              () => true,
              (t) => {
                if (got.length >= o.n) return "shape-full";
                got.push(t.id);
                return "taken";
              },
            );
            expect(got).toEqual(expected.map((e) => e.id));
            for (const e of expected) ref.delete(e.id);
          }
          expect(q.size).toBe(ref.size);
        }
      }),
    );
  });
});
