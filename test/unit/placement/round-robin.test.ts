import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { createStrategy } from "../../../src/actors/placement/index.ts";
import type { WorkerView } from "../../../src/actors/placement/index.ts";
import { CTX, byId, task, worker } from "./arbitraries.ts";

const place = (rr: ReturnType<typeof createStrategy>, ws: readonly WorkerView[]) =>
  rr.place(task(), ws, CTX).workerId;

describe("round-robin", () => {
  it("over k*n calls chooses each of n fitting workers exactly k times, in cyclic id order (property)", () => {
    const setup = fc
      .record({
        fitIds: fc.uniqueArray(fc.stringMatching(/^f[a-z0-9]{1,4}$/), {
          minLength: 1,
          maxLength: 8,
        }),
        noiseIds: fc.uniqueArray(fc.stringMatching(/^n[a-z0-9]{1,4}$/), { maxLength: 4 }),
        k: fc.integer({ min: 1, max: 5 }),
      })
      .chain(({ fitIds, noiseIds, k }) => {
        const fitting = fitIds.map((id) => worker(id));
        // Workers that never fit, interleaved: full, draining or of the wrong type.
        const noise = noiseIds.map((id, i) =>
          worker(
            id,
            i % 3 === 0
              ? { used: { cpu: 4, memoryMb: 0, slots: 0 } }
              : i % 3 === 1
                ? { state: "draining" }
                : { types: ["other"] },
          ),
        );
        const all = [...fitting, ...noise];
        return fc.tuple(
          fc.constant(fitting),
          fc.shuffledSubarray(all, { minLength: all.length }),
          fc.constant(k),
        );
      });
    fc.assert(
      fc.property(setup, ([fitting, workers, k]) => {
        const rr = createStrategy("round-robin");
        const n = fitting.length;
        const order = [...fitting].sort(byId).map((w) => w.id);
        const picks = Array.from({ length: k * n }, () => place(rr, workers));
        picks.forEach((id, i) => expect(id).toBe(order[i % n]));
        for (const id of order) expect(picks.filter((p) => p === id)).toHaveLength(k);
      }),
      { numRuns: 200 },
    );
  });

  it("continues after the last chosen id when workers leave or join", () => {
    const rr = createStrategy("round-robin");
    const [a, b, c, d] = ["a", "b", "c", "d"].map((id) => worker(id)) as [
      WorkerView,
      WorkerView,
      WorkerView,
      WorkerView,
    ];
    expect(place(rr, [a, b, c])).toBe("a");
    expect(place(rr, [a, b, c])).toBe("b");
    // c left, so nothing follows b any more: the rotation wraps to a.
    expect(place(rr, [a, b])).toBe("a");
    expect(place(rr, [a, b, d])).toBe("b");
    // d joined behind b and is visited before wrapping.
    expect(place(rr, [a, b, d])).toBe("d");
    expect(place(rr, [a, b, d])).toBe("a");
  });

  it("skips a worker while it is full and does not advance when nothing fits", () => {
    const rr = createStrategy("round-robin");
    const a = worker("a");
    const b = worker("b");
    const bFull = worker("b", { used: { cpu: 4, memoryMb: 0, slots: 0 } });
    expect(place(rr, [a, b])).toBe("a");
    expect(place(rr, [a, bFull])).toBe("a");
    expect(rr.place(task({ type: "x" }), [a, b], CTX).workerId).toBeNull();
    expect(place(rr, [a, b])).toBe("b");
  });

  it("keeps one cursor per instance", () => {
    const ws = [worker("a"), worker("b")];
    const one = createStrategy("round-robin");
    const two = createStrategy("round-robin");
    expect(place(one, ws)).toBe("a");
    expect(place(one, ws)).toBe("b");
    expect(place(two, ws)).toBe("a");
  });

  it("explains the choice and scores the distance from the cursor", () => {
    const rr = createStrategy("round-robin");
    const ws = [worker("c"), worker("a"), worker("b")];
    const first = rr.place(task(), ws, CTX);
    expect(first.reason).toBe("round-robin: a starts the rotation of 3 fitting workers");
    const second = rr.place(task(), ws, CTX);
    expect(second.reason).toBe("round-robin: b is next after a among 3 fitting workers");
    expect(second.candidates.map((c) => [c.workerId, c.score])).toEqual([
      ["c", 1],
      ["a", 2],
      ["b", 0],
    ]);
  });
});
