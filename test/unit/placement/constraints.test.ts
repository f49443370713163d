import { describe, it, expect } from "vitest";
import fc from "fast-check";
import {
  STRATEGY_NAMES,
  createStrategy,
  explainNoFit,
  fits,
  freeCapacity,
  isStrategyName,
} from "../../../src/actors/placement/index.ts";
import type { StrategyName, TaskView, WorkerView } from "../../../src/actors/placement/index.ts";
import {
  CTX,
  cyclingContext,
  deepFreeze,
  randomsArb,
  satisfiesConstraints,
  task,
  taskArb,
  worker,
  workersArb,
} from "./arbitraries.ts";

// Strategies whose choice must not depend on the order workers are given in.
const ORDER_INDEPENDENT: readonly StrategyName[] = STRATEGY_NAMES.filter(
  (n) => n !== "first-fit" && n !== "round-robin",
);

describe.each(STRATEGY_NAMES)("%s: hard constraints (property)", (name) => {
  // One instance across all runs: round-robin then carries cursors from unrelated worker sets,
  // which must not lead it astray either.
  const strategy = createStrategy(name);

  it("only ever chooses a worker that passes every hard constraint, and explains each candidate", () => {
    fc.assert(
      fc.property(taskArb, workersArb, randomsArb, (t, workers, draws) => {
        const d = strategy.place(t, workers, cyclingContext(draws));
        expect(d.strategy).toBe(name);
        expect(d.reason.length).toBeGreaterThan(0);

        // Every worker given is listed, in order, with an oracle-consistent verdict.
        expect(d.candidates.map((c) => c.workerId)).toEqual(workers.map((w) => w.id));
        d.candidates.forEach((c, i) => {
          const w = workers[i]!;
          expect(c.fits).toBe(satisfiesConstraints(t, w));
          if (c.fits) {
            expect(typeof c.score).toBe("number");
          } else {
            expect(c.score).toBeNull();
            expect(c.reason?.length ?? 0).toBeGreaterThan(0);
          }
        });

        const anyFits = workers.some((w) => satisfiesConstraints(t, w));
        if (!anyFits) {
          expect(d.workerId).toBeNull();
          return;
        }
        expect(d.workerId).not.toBeNull();
        const chosen = workers.find((w) => w.id === d.workerId)!;
        expect(chosen.state).toBe("ready");
        expect(chosen.types).toContain(t.type);
        for (const [k, v] of Object.entries(t.labels)) expect(chosen.labels[k]).toBe(v);
        const free = freeCapacity(chosen);
        expect(free.cpu).toBeGreaterThanOrEqual(t.resources.cpu);
        expect(free.memoryMb).toBeGreaterThanOrEqual(t.resources.memoryMb);
        expect(free.slots).toBeGreaterThanOrEqual(t.resources.slots);
      }),
      { numRuns: 300 },
    );
  });

  it("does not mutate its inputs and is deterministic for a fresh instance", () => {
    fc.assert(
      fc.property(taskArb, workersArb, randomsArb, (t, workers, draws) => {
        deepFreeze(t);
        deepFreeze(workers);
        const a = createStrategy(name).place(t, workers, cyclingContext(draws));
        const b = createStrategy(name).place(t, workers, cyclingContext(draws));
        expect(a).toEqual(b);
      }),
      { numRuns: 100 },
    );
  });
});

describe.each(ORDER_INDEPENDENT)("%s: input order (property)", (name) => {
  it("chooses the same worker whatever order the workers are given in", () => {
    const shuffled = workersArb.chain((ws) =>
      fc.tuple(fc.constant(ws), fc.shuffledSubarray(ws, { minLength: ws.length })),
    );
    fc.assert(
      fc.property(taskArb, shuffled, randomsArb, (t, [ws, perm], draws) => {
        const a = createStrategy(name).place(t, ws, cyclingContext(draws));
        const b = createStrategy(name).place(t, perm, cyclingContext(draws));
        expect(b.workerId).toBe(a.workerId);
      }),
      { numRuns: 150 },
    );
  });
});

describe("no-fit reasons", () => {
  const ff = () => createStrategy("first-fit");

  it("names the missing task type", () => {
    const d = ff().place(task({ type: "x" }), [worker("w1"), worker("w2")], CTX);
    expect(d.workerId).toBeNull();
    expect(d.reason).toBe("no worker runs type 'x'");
    expect(d.candidates.map((c) => c.reason)).toEqual([
      "does not run type 'x'",
      "does not run type 'x'",
    ]);
  });

  it("mentions draining workers that would run the type", () => {
    const d = ff().place(
      task({ type: "x" }),
      [worker("w1"), worker("w2", { types: ["x"], state: "draining" })],
      CTX,
    );
    expect(d.reason).toBe("no worker runs type 'x' (only draining workers do: w2)");
  });

  it("names the required labels, sorted by key", () => {
    const d = ff().place(
      task({ labels: { zone: "eu", gpu: "true" } }),
      [worker("w1", { labels: { gpu: "false", zone: "eu" } }), worker("w2")],
      CTX,
    );
    expect(d.workerId).toBeNull();
    expect(d.reason).toBe("no worker matches labels {gpu=true, zone=eu}");
    expect(d.candidates.map((c) => c.reason)).toEqual([
      "labels do not match: gpu=true (has gpu=false)",
      "labels do not match: gpu=true (missing), zone=eu (missing)",
    ]);
  });

  it("matches labels on own properties only", () => {
    const d = ff().place(task({ labels: { constructor: "x" } }), [worker("w1")], CTX);
    expect(d.reason).toBe("no worker matches labels {constructor=x}");
  });

  it("names the request in every dimension some worker is short of", () => {
    const t = task({ resources: { cpu: 2, memoryMb: 512, slots: 1 } });
    const d = ff().place(
      t,
      [
        worker("w1", { used: { cpu: 3, memoryMb: 0, slots: 0 } }),
        worker("w2", { used: { cpu: 0, memoryMb: 0, slots: 4 } }),
      ],
      CTX,
    );
    expect(d.workerId).toBeNull();
    expect(d.reason).toBe("no worker has free capacity: need cpu 2, slots 1");
    expect(d.candidates.map((c) => c.reason)).toEqual([
      "insufficient capacity: cpu free 1 < need 2",
      "insufficient capacity: slots free 0 < need 1",
    ]);
  });

  it("blames the constraint that got furthest", () => {
    const d = ff().place(
      task({ labels: { gpu: "true" } }),
      [
        worker("w1", { types: ["other"] }),
        worker("w2", { labels: { gpu: "true" }, used: { cpu: 4, memoryMb: 0, slots: 0 } }),
        worker("w3", { labels: { gpu: "false" } }),
      ],
      CTX,
    );
    expect(d.reason).toBe("no worker has free capacity: need cpu 1");
  });

  it("reports draining and empty pools", () => {
    const drained = ff().place(
      task(),
      [worker("w1", { state: "draining" }), worker("w2", { state: "draining" })],
      CTX,
    );
    expect(drained.reason).toBe("no ready worker: all 2 workers are draining");
    expect(drained.candidates[0]?.reason).toBe("worker is draining");

    const held = ff().place(
      task(),
      [worker("w1", { state: "draining" }), worker("w2", { heldBack: "no answer: timeout" })],
      CTX,
    );
    expect(held.workerId).toBeNull();
    expect(held.reason).toBe("no ready worker: 1 draining, 1 held back after failed assignments");
    expect(held.candidates[1]?.reason).toBe("held back: no answer: timeout");

    const empty = ff().place(task(), [], CTX);
    expect(empty).toEqual({
      strategy: "first-fit",
      workerId: null,
      candidates: [],
      reason: "no workers available",
    });
  });

  it("never chooses a worker short by the smallest amount in any single dimension", () => {
    for (const d of ["cpu", "memoryMb", "slots"] as const) {
      const used = { cpu: 0, memoryMb: 0, slots: 0, [d]: 3.5 };
      const t = task({ resources: { cpu: 0, memoryMb: 0, slots: 0, [d]: 0.5000001 } });
      const w = worker("w1", { capacity: { cpu: 4, memoryMb: 4, slots: 4 }, used });
      for (const name of STRATEGY_NAMES) {
        expect(createStrategy(name).place(t, [w], CTX).workerId).toBeNull();
      }
    }
  });
});

describe("helpers", () => {
  it("freeCapacity is capacity minus used, negative when overcommitted", () => {
    const w = worker("w1", {
      capacity: { cpu: 2, memoryMb: 1024, slots: 2 },
      used: { cpu: 0.5, memoryMb: 2048, slots: 2 },
    });
    expect(freeCapacity(w)).toEqual({ cpu: 1.5, memoryMb: -1024, slots: 0 });
  });

  it("fits requires every dimension and treats NaN as not fitting", () => {
    const free = { cpu: 1, memoryMb: 512, slots: 1 };
    expect(fits({ cpu: 1, memoryMb: 512, slots: 1 }, free)).toBe(true);
    expect(fits({ cpu: 0, memoryMb: 0, slots: 0 }, free)).toBe(true);
    expect(fits({ cpu: 1.5, memoryMb: 0, slots: 0 }, free)).toBe(false);
    expect(fits({ cpu: 0, memoryMb: 513, slots: 0 }, free)).toBe(false);
    expect(fits({ cpu: 0, memoryMb: 0, slots: 2 }, free)).toBe(false);
    expect(fits({ cpu: Number.NaN, memoryMb: 0, slots: 0 }, free)).toBe(false);
  });

  it("isStrategyName accepts exactly the known names", () => {
    for (const n of STRATEGY_NAMES) expect(isStrategyName(n)).toBe(true);
    for (const n of ["", "first_fit", "FIRST-FIT", "toString", "leastRecentlyUsed"]) {
      expect(isStrategyName(n)).toBe(false);
    }
  });

  it("createStrategy returns a fresh instance carrying the requested name", () => {
    for (const n of STRATEGY_NAMES) {
      const a = createStrategy(n);
      expect(a.name).toBe(n);
      expect(createStrategy(n)).not.toBe(a);
    }
  });
});

describe("explainNoFit: the reason as a code (metrics)", () => {
  const stage = (t: TaskView, ws: WorkerView[]): string | undefined =>
    explainNoFit("first-fit", t, ws)?.stage;

  it("names the constraint that got furthest, like the sentence does", () => {
    expect(stage(task(), [])).toBe("no_workers");
    expect(stage(task(), [worker("w1", { state: "draining" })])).toBe("not_ready");
    expect(stage(task(), [worker("w1", { heldBack: "no answer" })])).toBe("not_ready");
    expect(stage(task({ type: "x" }), [worker("w1")])).toBe("type");
    expect(stage(task({ labels: { gpu: "true" } }), [worker("w1")])).toBe("labels");
    expect(
      stage(task({ labels: { gpu: "true" } }), [
        worker("w1", { types: ["other"] }),
        worker("w2", { labels: { gpu: "true" }, used: { cpu: 4, memoryMb: 0, slots: 0 } }),
      ]),
    ).toBe("capacity");
    expect(stage(task(), [worker("w1")])).toBeUndefined();
  });
});
