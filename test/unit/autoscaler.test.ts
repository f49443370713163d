/**
 * The autoscaler machine and pool demand, without a server: bursts, steady load, a slow
 * decline, oscillating load, and (property) no flapping inside the windows for any load.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AutoscalerSnapshot, DemandWorker, Shape } from "../../src/actors/index.ts";
import {
  applyAutoscalerEvent,
  autoscalerState,
  initialAutoscalerSnapshot,
  poolDemand,
  recommendedWorkers,
} from "../../src/actors/index.ts";
import type { PoolDemand, PoolTemplate, ScalePolicy } from "../../src/protocol/index.ts";
import { ScalePolicy as ScalePolicySchema } from "../../src/protocol/index.ts";

const template: PoolTemplate = {
  types: ["sleep"],
  labels: {},
  capacity: { cpu: 4, memoryMb: 4096, slots: 4 },
};
const policy = (o: Partial<ScalePolicy> = {}): ScalePolicy =>
  ScalePolicySchema.parse({
    min: 1,
    max: 4,
    scaleUpWindowMs: 5_000,
    scaleDownWindowMs: 30_000,
    ...o,
  });

/** A demand of `busy` slots in use and `queued` one-slot tasks on `ready` 4-slot workers. */
function demand(queued: number, busy = 0, ready = 1): PoolDemand {
  const r = (slots: number): { cpu: number; memoryMb: number; slots: number } => ({
    cpu: 0,
    memoryMb: 0,
    slots,
  });
  return {
    ready,
    draining: 0,
    capacity: r(4 * ready),
    used: r(busy),
    queuedTasks: queued,
    queued: r(queued),
    waiting: busy + queued > 4 * ready ? queued : 0,
    workersAtFullUse: (busy + queued) / 4,
  };
}

interface Change {
  at: number;
  from: number;
  to: number;
}

/** Drives a machine with one DEMAND a second; returns the changes of `desired`. */
function drive(
  p: ScalePolicy,
  start: number,
  load: (t: number) => PoolDemand,
  untilMs: number,
  everyMs = 1_000,
): { changes: Change[]; snapshot: AutoscalerSnapshot } {
  let s = initialAutoscalerSnapshot({ pool: "p", policy: p, desired: start, at: 0 });
  const changes: Change[] = [];
  for (let t = everyMs; t <= untilMs; t += everyMs) {
    const before = s.context.desired;
    s = applyAutoscalerEvent(s, { type: "DEMAND", at: t, demand: load(t) });
    if (s.context.desired !== before) changes.push({ at: t, from: before, to: s.context.desired });
  }
  return { changes, snapshot: s };
}

/** No scale-down within the down window of a scale-up, and no scale-up within the up window of a scale-down. */
function assertNoFlap(changes: Change[], p: ScalePolicy): void {
  for (let i = 1; i < changes.length; i++) {
    const a = changes[i - 1]!;
    const b = changes[i]!;
    const upThenDown = a.to > a.from && b.to < b.from;
    const downThenUp = a.to < a.from && b.to > b.from;
    if (upThenDown) expect(b.at - a.at).toBeGreaterThanOrEqual(p.scaleDownWindowMs);
    if (downThenUp) expect(b.at - a.at).toBeGreaterThanOrEqual(p.scaleUpWindowMs);
  }
}

describe("autoscaler machine", () => {
  it("a burst: up to max once the scale-up window has passed, in steps of at most maxStep", () => {
    const p = policy({ max: 10, maxStep: 3 });
    const { changes, snapshot } = drive(p, 1, () => demand(300), 20_000);
    expect(changes).toEqual([
      { at: 5_000, from: 1, to: 4 },
      { at: 6_000, from: 4, to: 7 },
      { at: 7_000, from: 7, to: 10 },
    ]);
    expect(autoscalerState(snapshot)).toBe("scaledUp");
    expect(snapshot.context.last?.reason).toMatch(/^hold 10: 300 queued .* 94 workers at 80% use/);
  });

  it("steady load: one change to what the load needs, then none", () => {
    // 9 slots busy, nothing queued: 2.25 workers at full use, 3 at 80%.
    const p = policy();
    const { changes } = drive(p, 1, () => demand(0, 9, 3), 300_000);
    expect(changes).toEqual([{ at: 5_000, from: 1, to: 3 }]);
  });

  it("a slow decline: down a step at a time, each after a full scale-down window, to min", () => {
    const p = policy({ maxStep: 1 });
    // 16 busy slots for 20 s (4 workers), then one slot less every 10 s.
    const busy = (t: number): number =>
      Math.max(0, 16 - Math.max(0, Math.floor((t - 20_000) / 10_000)));
    const { changes } = drive(p, 4, (t) => demand(0, busy(t), 4), 400_000);
    const downs = changes.filter((c) => c.to < c.from);
    expect(downs.map((c) => c.to)).toEqual([3, 2, 1]);
    for (const c of downs) {
      // Every recommendation of the window before it allowed the smaller count.
      const needed = Math.min(4, Math.ceil(busy(c.at - p.scaleDownWindowMs + 1_000) / 4 / 0.8));
      expect(needed).toBeLessThanOrEqual(c.to);
    }
    assertNoFlap(changes, p);
    expect(changes.at(-1)?.to).toBe(1);
  });

  it("oscillating load shorter than the up window moves nothing", () => {
    const p = policy();
    // High for 3 s, low for 3 s, forever: never high for a whole 5 s window.
    const { changes } = drive(
      p,
      1,
      (t) => (Math.floor(t / 3_000) % 2 === 0 ? demand(40) : demand(0)),
      600_000,
    );
    expect(changes).toEqual([]);
  });

  it("starts from the count it is given and does not scale down before a window of its own", () => {
    const p = policy();
    const { changes } = drive(p, 4, () => demand(0), 60_000);
    expect(changes).toEqual([{ at: 30_000, from: 4, to: 1 }]);
  });

  it("a new policy clamps the count at once", () => {
    let s = initialAutoscalerSnapshot({ pool: "p", policy: policy(), desired: 4, at: 0 });
    s = applyAutoscalerEvent(s, { type: "POLICY", at: 1, policy: policy({ max: 2 }) });
    expect(s.context.desired).toBe(2);
    expect(autoscalerState(s)).toBe("scaledDown");
    expect(s.context.last?.reason).toMatch(/policy changed: 4 → 2/);
    s = applyAutoscalerEvent(s, { type: "STOP", at: 2 });
    expect(applyAutoscalerEvent(s, { type: "DEMAND", at: 3, demand: demand(100) })).toBe(s);
  });

  it("never flaps inside its windows, stays within min..max and moves at most maxStep (property)", () => {
    fc.assert(
      fc.property(
        fc.record({
          min: fc.integer({ min: 0, max: 3 }),
          span: fc.integer({ min: 0, max: 8 }),
          up: fc.integer({ min: 0, max: 20 }),
          down: fc.integer({ min: 0, max: 60 }),
          step: fc.integer({ min: 1, max: 5 }),
          target: fc.double({ min: 0.1, max: 1, noNaN: true }),
        }),
        fc.array(
          fc.record({
            gap: fc.integer({ min: 100, max: 5_000 }),
            slots: fc.nat(200),
            busy: fc.nat(60),
          }),
          { maxLength: 120 },
        ),
        (o, loads) => {
          const p = ScalePolicySchema.parse({
            min: o.min,
            max: o.min + o.span + 1,
            scaleUpWindowMs: o.up * 1_000,
            scaleDownWindowMs: o.down * 1_000,
            maxStep: o.step,
            targetUtilisation: o.target,
          });
          let s = initialAutoscalerSnapshot({ pool: "p", policy: p, desired: p.min, at: 0 });
          let t = 0;
          const changes: Change[] = [];
          for (const l of loads) {
            t += l.gap;
            const before = s.context.desired;
            s = applyAutoscalerEvent(s, {
              type: "DEMAND",
              at: t,
              demand: demand(l.slots, l.busy, before),
            });
            const after = s.context.desired;
            expect(after).toBeGreaterThanOrEqual(p.min);
            expect(after).toBeLessThanOrEqual(p.max);
            expect(Math.abs(after - before)).toBeLessThanOrEqual(p.maxStep);
            if (after !== before) changes.push({ at: t, from: before, to: after });
          }
          assertNoFlap(changes, p);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("poolDemand", () => {
  const shape = (type: string, slots = 1, labels: Record<string, string> = {}): Shape => ({
    id: `${type}/${slots}/${JSON.stringify(labels)}`,
    type,
    resources: { cpu: 0, memoryMb: 0, slots },
    labels,
  });
  const w = (id: string, pool: string, o: Partial<DemandWorker> = {}): DemandWorker => ({
    id,
    pool,
    types: ["sleep"],
    labels: {},
    capacity: { cpu: 4, memoryMb: 4096, slots: 4 },
    used: { cpu: 0, memoryMb: 0, slots: 0 },
    lastAssignedAt: 0,
    state: "ready",
    ...o,
  });

  it("counts running work by worker pool and queued work for the first pool whose template runs it", () => {
    const gpu: PoolTemplate = { ...template, types: ["sleep", "render"], labels: { gpu: "true" } };
    const { pools, unplaceable } = poolDemand({
      templates: new Map([
        ["b-gpu", gpu],
        ["a-cpu", template],
      ]),
      workers: [
        w("w1", "a-cpu", { used: { cpu: 1, memoryMb: 0, slots: 3 } }),
        w("w2", "a-cpu", { state: "draining", used: { cpu: 0, memoryMb: 0, slots: 4 } }),
        w("w3", "b-gpu", { types: gpu.types, labels: gpu.labels }),
      ],
      queued: [
        { shape: shape("sleep"), size: 10 },
        { shape: shape("render", 2, { gpu: "true" }), size: 3 },
        { shape: shape("sleep", 8), size: 2 },
        { shape: shape("nope"), size: 5 },
      ],
    });
    const a = pools.get("a-cpu")!;
    expect(a).toMatchObject({ ready: 1, draining: 1, queuedTasks: 10, waiting: 0 });
    expect(a.used.slots).toBe(3);
    expect(a.workersAtFullUse).toBeCloseTo(13 / 4);
    const b = pools.get("b-gpu")!;
    // The render tasks fit w3 (2 slots each, 4 free); 6 slots at 4 per worker.
    expect(b).toMatchObject({ ready: 1, queuedTasks: 3, waiting: 0 });
    expect(b.workersAtFullUse).toBeCloseTo(1.5);
    // 8 slots fit no template (4 slots), "nope" runs nowhere.
    expect(unplaceable).toBe(7);
  });

  it("among many pools, counts a shape for the first in order whose template runs it, type, labels and all", () => {
    // 2,000 pools of other types; then, in name order, pools that run "render" but differ in labels.
    const templates = new Map<string, PoolTemplate>(
      Array.from({ length: 2_000 }, (_, i) => [
        `other-${String(i).padStart(4, "0")}`,
        { ...template, types: [`t${i}`] },
      ]),
    );
    templates.set("r-1-blue", { ...template, types: ["render"], labels: { colour: "blue" } });
    templates.set("r-2-red", {
      ...template,
      types: ["sleep", "render"],
      labels: { colour: "red" },
    });
    templates.set("r-3-red", { ...template, types: ["render"], labels: { colour: "red" } });
    const { pools, unplaceable } = poolDemand({
      templates,
      workers: [],
      queued: [
        { shape: shape("render", 1, { colour: "red" }), size: 4 },
        { shape: shape("render", 1, { colour: "blue" }), size: 2 },
        { shape: shape("t1999"), size: 1 },
        { shape: shape("stranger"), size: 3 },
      ],
      autoscaled: new Set(["r-3-red"]),
    });
    // The autoscaled pool comes first for red; blue runs only on r-1-blue.
    expect(pools.get("r-3-red")!.queuedTasks).toBe(4);
    expect(pools.get("r-2-red")!.queuedTasks).toBe(0);
    expect(pools.get("r-1-blue")!.queuedTasks).toBe(2);
    expect(pools.get("other-1999")!.queuedTasks).toBe(1);
    expect(unplaceable).toBe(3);
  });

  it("counts queued work for autoscaled pools before the others", () => {
    const input = {
      templates: new Map([
        ["default", template],
        ["elastic", template],
      ]),
      workers: [w("w1", "default")],
      queued: [{ shape: shape("sleep"), size: 8 }],
    };
    expect(poolDemand(input).pools.get("default")!.queuedTasks).toBe(8);
    const scaled = poolDemand({ ...input, autoscaled: new Set(["elastic"]) }).pools;
    expect(scaled.get("elastic")!.queuedTasks).toBe(8);
    expect(scaled.get("default")!.queuedTasks).toBe(0);
  });

  it("counts queued tasks that fit no live worker but would fit a new one as waiting", () => {
    const { pools } = poolDemand({
      templates: new Map([["p", template]]),
      workers: [w("w1", "p", { used: { cpu: 0, memoryMb: 0, slots: 4 } })],
      queued: [{ shape: shape("sleep"), size: 6 }],
    });
    const d = pools.get("p")!;
    expect(d.waiting).toBe(6);
    expect(recommendedWorkers(d, policy())).toBe(4); // 10 slots / 4 / 0.8
    // Without live workers at all, the pool is still measured against its template.
    const empty = poolDemand({
      templates: new Map([["p", template]]),
      workers: [],
      queued: [{ shape: shape("sleep"), size: 1 }],
    }).pools.get("p")!;
    expect(empty).toMatchObject({ ready: 0, waiting: 1, queuedTasks: 1 });
    expect(recommendedWorkers(empty, policy())).toBe(1);
  });
});
