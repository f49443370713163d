import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { createStrategy, leftoverScore } from "../../../src/actors/placement/index.ts";
import type { TaskView, WorkerView } from "../../../src/actors/placement/index.ts";
import {
  CTX,
  byId,
  cyclingContext,
  oracleLeftover,
  randomsArb,
  satisfiesConstraints,
  seededContext,
  task,
  taskArb,
  worker,
  workersArb,
} from "./arbitraries.ts";

const fittingOf = (t: TaskView, ws: readonly WorkerView[]) =>
  ws.filter((w) => satisfiesConstraints(t, w));

const byIdName = (ws: readonly WorkerView[], id: string | null) => ws.find((w) => w.id === id);

describe("leftover score", () => {
  it("is the mean normalized leftover over dimensions with capacity", () => {
    const w = worker("w1", {
      capacity: { cpu: 4, memoryMb: 1000, slots: 0 },
      used: { cpu: 2, memoryMb: 500, slots: 0 },
    });
    const t = task({ resources: { cpu: 1, memoryMb: 250, slots: 0 } });
    expect(leftoverScore(t, w)).toBeCloseTo((1 / 4 + 250 / 1000) / 2, 12);
    expect(leftoverScore(t, worker("w2", { capacity: { cpu: 0, memoryMb: 0, slots: 0 } }))).toBe(0);
  });

  it("agrees with the oracle (property)", () => {
    fc.assert(
      fc.property(taskArb, workersArb, (t, ws) => {
        for (const w of ws) expect(leftoverScore(t, w)).toBeCloseTo(oracleLeftover(t, w), 9);
      }),
    );
  });
});

describe("best-fit", () => {
  it("chooses the worker with the least leftover, ties by id (property)", () => {
    fc.assert(
      fc.property(taskArb, workersArb, (t, ws) => {
        const d = createStrategy("best-fit").place(t, ws, CTX);
        const fitting = fittingOf(t, ws);
        if (fitting.length === 0) return;
        const chosen = byIdName(ws, d.workerId)!;
        const mine = leftoverScore(t, chosen);
        for (const w of fitting) {
          const other = leftoverScore(t, w);
          expect(mine).toBeLessThanOrEqual(other);
          if (other === mine) expect(chosen.id <= w.id).toBe(true);
        }
        // Candidate scores are the leftover of each fitting worker.
        d.candidates.forEach((c, i) => {
          if (c.fits) expect(c.score).toBeCloseTo(oracleLeftover(t, ws[i]!), 9);
        });
      }),
      { numRuns: 300 },
    );
  });

  it("explains the choice", () => {
    const t = task({ resources: { cpu: 1, memoryMb: 250, slots: 1 } });
    const cap = { cpu: 4, memoryMb: 1000, slots: 4 };
    const d = createStrategy("best-fit").place(
      t,
      [
        worker("w1", { capacity: cap }),
        worker("w2", { capacity: cap, used: { cpu: 2, memoryMb: 500, slots: 2 } }),
      ],
      CTX,
    );
    expect(d.workerId).toBe("w2");
    expect(d.reason).toBe("best-fit: w2 leaves least capacity (score 0.25)");
    expect(d.candidates).toEqual([
      { workerId: "w1", fits: true, score: 0.75 },
      { workerId: "w2", fits: true, score: 0.25 },
    ]);
  });
});

describe.each(["worst-fit", "spread"] as const)("%s", (name) => {
  it("chooses the worker with the most leftover, ties by id (property)", () => {
    fc.assert(
      fc.property(taskArb, workersArb, (t, ws) => {
        const d = createStrategy(name).place(t, ws, CTX);
        const fitting = fittingOf(t, ws);
        if (fitting.length === 0) return;
        const chosen = byIdName(ws, d.workerId)!;
        const mine = leftoverScore(t, chosen);
        for (const w of fitting) {
          const other = leftoverScore(t, w);
          expect(mine).toBeGreaterThanOrEqual(other);
          if (other === mine) expect(chosen.id <= w.id).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("explains the choice", () => {
    const t = task({ resources: { cpu: 1, memoryMb: 250, slots: 1 } });
    const cap = { cpu: 4, memoryMb: 1000, slots: 4 };
    const d = createStrategy(name).place(
      t,
      [
        worker("w1", { capacity: cap, used: { cpu: 2, memoryMb: 500, slots: 2 } }),
        worker("w2", { capacity: cap }),
      ],
      CTX,
    );
    expect(d.workerId).toBe("w2");
    expect(d.reason).toBe(
      name === "spread"
        ? "spread: w2 is least loaded (score 0.75)"
        : "worst-fit: w2 leaves most capacity (score 0.75)",
    );
  });
});

describe("spread", () => {
  it("is an alias of worst-fit (property)", () => {
    fc.assert(
      fc.property(taskArb, workersArb, (t, ws) => {
        const a = createStrategy("worst-fit").place(t, ws, CTX);
        const b = createStrategy("spread").place(t, ws, CTX);
        expect(b.workerId).toBe(a.workerId);
        expect(b.candidates).toEqual(a.candidates);
      }),
    );
  });
});

describe("first-fit", () => {
  it("chooses the first fitting worker in the given order (property)", () => {
    fc.assert(
      fc.property(taskArb, workersArb, (t, ws) => {
        const d = createStrategy("first-fit").place(t, ws, CTX);
        expect(d.workerId).toBe(fittingOf(t, ws)[0]?.id ?? null);
      }),
    );
  });

  it("explains the choice", () => {
    const d = createStrategy("first-fit").place(
      task(),
      [worker("w1", { state: "draining" }), worker("w2"), worker("w3")],
      CTX,
    );
    expect(d.reason).toBe("first-fit: w2 is the first of 2 fitting workers");
  });
});

describe("least-recently-used", () => {
  it("chooses the oldest lastAssignedAt, ties by id (property)", () => {
    fc.assert(
      fc.property(taskArb, workersArb, (t, ws) => {
        const d = createStrategy("least-recently-used").place(t, ws, CTX);
        const fitting = fittingOf(t, ws);
        if (fitting.length === 0) return;
        const chosen = byIdName(ws, d.workerId)!;
        for (const w of fitting) {
          expect(chosen.lastAssignedAt).toBeLessThanOrEqual(w.lastAssignedAt);
          if (w.lastAssignedAt === chosen.lastAssignedAt) expect(chosen.id <= w.id).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("prefers never-assigned workers and explains the choice", () => {
    const lru = createStrategy("least-recently-used");
    const ws = [
      worker("w1", { lastAssignedAt: 1_700_000_000_500 }),
      worker("w2", { lastAssignedAt: 1_700_000_000_000 }),
      worker("w3", { lastAssignedAt: 1_700_000_000_900 }),
    ];
    const d = lru.place(task(), ws, CTX);
    expect(d.workerId).toBe("w2");
    expect(d.reason).toBe(
      "least-recently-used: w2 was assigned longest ago (last assigned at 1700000000000)",
    );
    const fresh = lru.place(task(), [...ws, worker("w4")], CTX);
    expect(fresh.reason).toBe("least-recently-used: w4 was assigned longest ago (never assigned)");
  });
});

describe("power-of-two", () => {
  const load = (t: TaskView, w: WorkerView) => 1 - oracleLeftover(t, w);

  it("chooses the less loaded of the two documented samples (property)", () => {
    fc.assert(
      fc.property(
        taskArb,
        workersArb,
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (t, ws, r1, r2) => {
          const d = createStrategy("power-of-two").place(t, ws, cyclingContext([r1, r2]));
          const pool = fittingOf(t, ws).sort(byId);
          if (pool.length < 2) {
            expect(d.workerId).toBe(pool[0]?.id ?? null);
            return;
          }
          const i = Math.floor(r1 * pool.length);
          const j0 = Math.floor(r2 * (pool.length - 1));
          const a = pool[i]!;
          const b = pool[j0 >= i ? j0 + 1 : j0]!;
          expect(a.id).not.toBe(b.id);
          const la = load(t, a);
          const lb = load(t, b);
          const expected = la < lb ? a : lb < la ? b : [a, b].sort(byId)[0]!;
          expect(d.workerId).toBe(expected.id);
          expect(d.reason).toContain(`sampled ${a.id} and ${b.id}`);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("never chooses a worker more loaded than every other fitting worker (property)", () => {
    fc.assert(
      fc.property(taskArb, workersArb, randomsArb, (t, ws, draws) => {
        const d = createStrategy("power-of-two").place(t, ws, cyclingContext(draws));
        const fitting = fittingOf(t, ws);
        if (fitting.length < 2) return;
        const chosen = byIdName(ws, d.workerId)!;
        const others = fitting.filter((w) => w !== chosen);
        expect(others.some((w) => load(t, w) >= load(t, chosen))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("with two fitting workers always picks the less loaded one, whatever the draws", () => {
    const ws = [worker("w1", { used: { cpu: 3, memoryMb: 0, slots: 0 } }), worker("w2")];
    for (const r of [0, 0.25, 0.5, 0.75, 0.999999]) {
      const d = createStrategy("power-of-two").place(task(), ws, cyclingContext([r]));
      expect(d.workerId).toBe("w2");
    }
    const d = createStrategy("power-of-two").place(task(), ws, CTX);
    expect(d.reason).toMatch(/^power-of-two: sampled w1 and w2; w2 is less loaded \(load /);
  });

  it("explains a single fitting worker", () => {
    const d = createStrategy("power-of-two").place(task(), [worker("w1")], CTX);
    expect(d.reason).toBe("power-of-two: w1 is the only fitting worker");
  });
});

describe("random", () => {
  it("maps the draw onto the fitting workers sorted by id", () => {
    const ws = [worker("w3"), worker("w1"), worker("w2", { state: "draining" }), worker("w4")];
    const at = (r: number) =>
      createStrategy("random").place(task(), ws, cyclingContext([r])).workerId;
    expect(at(0)).toBe("w1");
    expect(at(0.34)).toBe("w3");
    expect(at(0.999999)).toBe("w4");
  });

  it("tolerates an out-of-contract RNG without leaving the fitting set", () => {
    const ws = [worker("w1"), worker("w2")];
    for (const r of [1, 5, -1, Number.NaN]) {
      const d = createStrategy("random").place(task(), ws, { random: () => r });
      expect(["w1", "w2"]).toContain(d.workerId);
    }
  });

  it("is roughly uniform over the fitting workers", () => {
    const ws = ["a", "b", "c", "d"].map((id) => worker(id));
    const strategy = createStrategy("random");
    const ctx = seededContext(42);
    const counts = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const id = strategy.place(task(), ws, ctx).workerId!;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const w of ws) {
      expect(counts.get(w.id) ?? 0).toBeGreaterThan(800);
      expect(counts.get(w.id) ?? 0).toBeLessThan(1200);
    }
  });
});
