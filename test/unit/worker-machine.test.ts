import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { getShortestPaths } from "@xstate/graph";
import {
  WORKER_EVENT_TYPES,
  WORKER_STATES,
  acceptedWorkerEvents,
  applyWorkerEvent,
  canAccept,
  workerFreeCapacity,
  workerUsedResources,
  heartbeatOverdue,
  initialWorkerSnapshot,
  workerMachine,
  workerState,
} from "../../src/actors/worker-machine.ts";
import type {
  WorkerEvent,
  WorkerEventType,
  WorkerSnapshot,
  WorkerState,
} from "../../src/actors/worker-machine.ts";

const input = {
  workerId: "w1",
  capacity: { cpu: 2, memoryMb: 1024, slots: 2 },
  heartbeatTtlMs: 10_000,
};
const one = { cpu: 1, memoryMb: 256, slots: 1 };

/** One sample event of each type (taskId t1 where relevant). */
function sample(type: WorkerEventType, at = 1): WorkerEvent {
  switch (type) {
    case "ASSIGN":
      return { type, at, taskId: "t1", epoch: 1, resources: one };
    case "TASK_FINISHED":
    case "CANCEL_TASK":
      return { type, at, taskId: "t1" };
    case "DRAIN":
      return { type, at, graceMs: 5_000 };
    default:
      return { type, at };
  }
}

/** Applies events in order, failing the test on a refusal. */
/** Path events from @xstate/graph, minus its synthetic `xstate.init` first step. */
function replayable(events: readonly { type: string }[]): WorkerEvent[] {
  return events.filter((e) => !e.type.startsWith("xstate.")) as WorkerEvent[];
}

function run(
  events: WorkerEvent[],
  from: WorkerSnapshot = initialWorkerSnapshot(input),
): WorkerSnapshot {
  let snapshot = from;
  for (const event of events) {
    const result = applyWorkerEvent(snapshot, event);
    if (!result.ok) throw new Error(result.reason);
    snapshot = result.snapshot;
  }
  return snapshot;
}

const toReady: WorkerEvent[] = [
  { type: "CONNECTED", at: 1 },
  { type: "REGISTERED", at: 2 },
];
const assign = (taskId: string, resources = one, at = 3): WorkerEvent => ({
  type: "ASSIGN",
  at,
  taskId,
  epoch: 1,
  resources,
});

/** A snapshot in each state. */
const inState: Record<WorkerState, () => WorkerSnapshot> = {
  starting: () => initialWorkerSnapshot(input),
  registering: () => run([{ type: "CONNECTED", at: 1 }]),
  "ready.idle": () => run(toReady),
  "ready.busy": () => run([...toReady, assign("t1")]),
  draining: () => run([...toReady, assign("t1"), { type: "DRAIN", at: 4, graceMs: 5_000 }]),
  fenced: () => run([...toReady, assign("t1"), { type: "LEASE_LOST", at: 4 }]),
  stopped: () => run([{ type: "STOP", at: 1 }]),
};

/** Legal event types per state (guards aside). */
const legal: Record<WorkerState, readonly WorkerEventType[]> = {
  starting: ["CONNECTED", "STOP"],
  registering: ["REGISTERED", "STOP"],
  "ready.idle": [
    "ASSIGN",
    "TASK_FINISHED",
    "CANCEL_TASK",
    "DRAIN",
    "HEARTBEAT_OK",
    "LEASE_LOST",
    "STOP",
  ],
  "ready.busy": [
    "ASSIGN",
    "TASK_FINISHED",
    "CANCEL_TASK",
    "DRAIN",
    "HEARTBEAT_OK",
    "LEASE_LOST",
    "STOP",
  ],
  draining: ["TASK_FINISHED", "CANCEL_TASK", "DRAINED", "HEARTBEAT_OK", "LEASE_LOST", "STOP"],
  fenced: ["REGISTERED", "STOP"],
  stopped: [],
};

describe("worker machine: reachability (@xstate/graph)", () => {
  it("reaches every state, including ready.idle and ready.busy", () => {
    const events: WorkerEvent[] = [
      { type: "CONNECTED", at: 1 },
      { type: "REGISTERED", at: 2 },
      { type: "HEARTBEAT_OK", at: 3 },
      assign("t1"),
      assign("t2"),
      { type: "TASK_FINISHED", at: 4, taskId: "t1" },
      { type: "TASK_FINISHED", at: 4, taskId: "t2" },
      { type: "CANCEL_TASK", at: 4, taskId: "t1" },
      { type: "LEASE_LOST", at: 5 },
      { type: "DRAIN", at: 6, graceMs: 1_000 },
      { type: "DRAINED", at: 7 },
      { type: "STOP", at: 8 },
    ];
    const paths = getShortestPaths(workerMachine, { input, events });
    const reached = new Set(paths.map((p) => workerState(p.state)));
    expect([...reached].sort()).toEqual([...WORKER_STATES].sort());
    // Each path replays through the pure helper to the same state.
    for (const path of paths) {
      const end = run(replayable(path.steps.map((s) => s.event)));
      expect(workerState(end)).toBe(workerState(path.state));
    }
  });

  it("the hand-built fixtures are in the state they claim", () => {
    for (const state of WORKER_STATES) expect(workerState(inState[state]())).toBe(state);
  });
});

describe("worker machine: legality", () => {
  it("accepted events per state match the table", () => {
    for (const state of WORKER_STATES) {
      expect([...acceptedWorkerEvents(inState[state]())].sort(), state).toEqual(
        [...legal[state]].sort(),
      );
    }
  });

  it("refuses every illegal (state × event type) pair and leaves the snapshot untouched", () => {
    let checked = 0;
    for (const state of WORKER_STATES) {
      for (const type of WORKER_EVENT_TYPES) {
        if (legal[state].includes(type)) continue;
        const snapshot = inState[state]();
        const before = JSON.stringify({ value: snapshot.value, context: snapshot.context });
        const result = applyWorkerEvent(snapshot, sample(type, 100));
        expect(result, `${type} in ${state}`).toEqual({
          ok: false,
          reason: `illegal event ${type} in state ${state}`,
        });
        expect(JSON.stringify({ value: snapshot.value, context: snapshot.context })).toBe(before);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(30);
  });
});

describe("worker machine: transitions and guards", () => {
  it("starts in starting with the input in context", () => {
    const s = initialWorkerSnapshot(input);
    expect(workerState(s)).toBe("starting");
    const { running, ...rest } = s.context;
    expect(running.size).toBe(0);
    expect(rest).toEqual({
      ...input,
      used: { cpu: 0, memoryMb: 0, slots: 0 },
      lastHeartbeatAt: null,
      fencedAt: null,
      drainDeadline: null,
    });
  });

  it("registration counts as a heartbeat; HEARTBEAT_OK updates lastHeartbeatAt", () => {
    const s = run([...toReady, { type: "HEARTBEAT_OK", at: 42 }]);
    expect(s.context.lastHeartbeatAt).toBe(42);
    expect(run(toReady).context.lastHeartbeatAt).toBe(2);
  });

  it("ASSIGN adds to running and goes busy; finishing the last task goes idle", () => {
    let s = run([...toReady, assign("t1", one, 10)]);
    expect(workerState(s)).toBe("ready.busy");
    expect(s.context.running.toRecord()).toEqual({
      t1: { epoch: 1, resources: one, startedAt: 10 },
    });
    s = run([assign("t2")], s);
    expect(workerFreeCapacity(s.context)).toEqual({ cpu: 0, memoryMb: 512, slots: 0 });
    s = run([{ type: "TASK_FINISHED", at: 11, taskId: "t1" }], s);
    expect(workerState(s)).toBe("ready.busy");
    s = run([{ type: "CANCEL_TASK", at: 12, taskId: "t2" }], s);
    expect(workerState(s)).toBe("ready.idle");
    expect(s.context.running.toRecord()).toEqual({});
  });

  it("refuses an ASSIGN over capacity in any dimension", () => {
    const s = run(toReady);
    for (const resources of [
      { cpu: 2.5, memoryMb: 1, slots: 1 },
      { cpu: 1, memoryMb: 2048, slots: 1 },
      { cpu: 0, memoryMb: 0, slots: 3 },
    ]) {
      const r = applyWorkerEvent(s, assign("big", resources));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(/does not fit/);
    }
    // Full after two tasks: a third is refused.
    const full = run([assign("t1"), assign("t2")], s);
    const r = applyWorkerEvent(full, assign("t3", { cpu: 0, memoryMb: 0, slots: 1 }));
    expect(r.ok).toBe(false);
  });

  it("refuses a duplicate taskId", () => {
    const s = run([...toReady, assign("t1")]);
    const r = applyWorkerEvent(s, assign("t1", { cpu: 0, memoryMb: 0, slots: 0 }));
    expect(r).toEqual({ ok: false, reason: "task t1 is already running on worker w1" });
  });

  it("refuses finishing or cancelling a task that is not running", () => {
    const s = run([...toReady, assign("t1")]);
    for (const type of ["TASK_FINISHED", "CANCEL_TASK"] as const) {
      expect(applyWorkerEvent(s, { type, at: 5, taskId: "nope" })).toEqual({
        ok: false,
        reason: "task nope is not running on worker w1",
      });
    }
  });

  it("accepts fractional CPU sums without floating-point refusals", () => {
    const s = run([
      ...toReady,
      assign("a", { cpu: 0.1, memoryMb: 0, slots: 0 }),
      assign("b", { cpu: 0.2, memoryMb: 0, slots: 0 }),
    ]);
    const ctx = { ...s.context, capacity: { cpu: 0.4, memoryMb: 0, slots: 0 } };
    expect(canAccept(ctx, { cpu: 0.1, memoryMb: 0, slots: 0 })).toBe(true);
    expect(canAccept(ctx, { cpu: 0.11, memoryMb: 0, slots: 0 })).toBe(false);
  });

  it("canAccept agrees with free capacity, and used is the sum of what runs (property)", () => {
    const vec = fc.record({
      cpu: fc.integer({ min: 0, max: 8 }),
      memoryMb: fc.integer({ min: 0, max: 4096 }),
      slots: fc.integer({ min: 0, max: 4 }),
    });
    // Each step assigns task i or finishes a task by index (finishing one not running is refused).
    const step = fc.oneof(
      fc.record({ kind: fc.constant("assign" as const), r: vec }),
      fc.record({ kind: fc.constant("finish" as const), i: fc.integer({ min: 0, max: 7 }) }),
    );
    fc.assert(
      fc.property(vec, fc.array(step, { maxLength: 10 }), vec, (capacity, steps, req) => {
        let snap = initialWorkerSnapshot({ workerId: "w", capacity, heartbeatTtlMs: 1_000 });
        const events: WorkerEvent[] = [...toReady];
        steps.forEach((st, n) =>
          events.push(
            st.kind === "assign"
              ? { type: "ASSIGN", at: 10 + n, taskId: `t${n}`, epoch: 1, resources: st.r }
              : { type: "TASK_FINISHED", at: 10 + n, taskId: `t${st.i}` },
          ),
        );
        for (const e of events) {
          const r = applyWorkerEvent(snap, e);
          if (r.ok) snap = r.snapshot;
        }
        const ctx = snap.context;
        const sum = { cpu: 0, memoryMb: 0, slots: 0 };
        for (const t of Object.values(ctx.running.toRecord())) {
          sum.cpu += t.resources.cpu;
          sum.memoryMb += t.resources.memoryMb;
          sum.slots += t.resources.slots;
        }
        expect(workerUsedResources(ctx)).toEqual(sum);
        expect(ctx.running.size).toBe(Object.keys(ctx.running.toRecord()).length);
        const free = workerFreeCapacity(ctx);
        expect(free).toEqual({
          cpu: capacity.cpu - sum.cpu,
          memoryMb: capacity.memoryMb - sum.memoryMb,
          slots: capacity.slots - sum.slots,
        });
        const expected =
          free.cpu >= req.cpu && free.memoryMb >= req.memoryMb && free.slots >= req.slots;
        expect(canAccept(ctx, req)).toBe(expected);
      }),
    );
  });

  it("DRAIN sets the deadline; draining stops when the last task finishes", () => {
    let s = run([
      ...toReady,
      assign("t1"),
      assign("t2"),
      { type: "DRAIN", at: 100, graceMs: 5_000 },
    ]);
    expect(workerState(s)).toBe("draining");
    expect(s.context.drainDeadline).toBe(5_100);
    expect(applyWorkerEvent(s, assign("t3")).ok).toBe(false);
    s = run([{ type: "TASK_FINISHED", at: 101, taskId: "t1" }], s);
    expect(workerState(s)).toBe("draining");
    s = run([{ type: "CANCEL_TASK", at: 102, taskId: "t2" }], s);
    expect(workerState(s)).toBe("stopped");
    expect(s.status).toBe("done");
  });

  it("DRAIN on an idle worker stops at once; DRAINED stops a draining worker", () => {
    expect(workerState(run([...toReady, { type: "DRAIN", at: 3, graceMs: 10 }]))).toBe("stopped");
    const s = run([{ type: "DRAINED", at: 10 }], inState.draining());
    expect(workerState(s)).toBe("stopped");
    // The runtime can still see what was abandoned.
    expect(Object.keys(s.context.running.toRecord())).toEqual(["t1"]);
  });

  it("LEASE_LOST clears running and sets fencedAt (from ready and draining)", () => {
    for (const from of [inState["ready.busy"](), inState.draining()]) {
      const s = run([{ type: "LEASE_LOST", at: 77 }], from);
      expect(workerState(s)).toBe("fenced");
      expect(s.context.running.toRecord()).toEqual({});
      expect(s.context.fencedAt).toBe(77);
    }
  });

  it("fenced: REGISTERED goes back to ready.idle, STOP stops", () => {
    const fenced = inState.fenced();
    const s = run([{ type: "REGISTERED", at: 90 }], fenced);
    expect(workerState(s)).toBe("ready.idle");
    expect(s.context.fencedAt).toBeNull();
    expect(s.context.lastHeartbeatAt).toBe(90);
    expect(workerState(run([{ type: "STOP", at: 91 }], fenced))).toBe("stopped");
  });

  it("STOP from every non-final state stops", () => {
    for (const state of WORKER_STATES) {
      if (state === "stopped") continue;
      expect(workerState(run([{ type: "STOP", at: 1_000 }], inState[state]())), state).toBe(
        "stopped",
      );
    }
  });

  it("reports changed", () => {
    const s = run(toReady);
    const r = applyWorkerEvent(s, { type: "HEARTBEAT_OK", at: 2 });
    expect(r.ok && r.changed).toBe(false);
    const r2 = applyWorkerEvent(s, { type: "HEARTBEAT_OK", at: 3 });
    expect(r2.ok && r2.changed).toBe(true);
  });
});

describe("heartbeatOverdue", () => {
  it("is false before the first heartbeat", () => {
    expect(heartbeatOverdue({ lastHeartbeatAt: null, heartbeatTtlMs: 10 }, 1e12, 0)).toBe(false);
  });

  it("boundary: overdue exactly when now - last > ttl - margin", () => {
    const ctx = { lastHeartbeatAt: 1_000, heartbeatTtlMs: 10_000 };
    expect(heartbeatOverdue(ctx, 1_000 + 8_000, 2_000)).toBe(false);
    expect(heartbeatOverdue(ctx, 1_000 + 8_001, 2_000)).toBe(true);
  });

  it("property over now / lastHeartbeatAt / ttl / margin", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 1, max: 60_000 }),
        fc.integer({ min: 0, max: 60_000 }),
        (last, elapsed, ttl, margin) => {
          const ctx = { lastHeartbeatAt: last, heartbeatTtlMs: ttl };
          expect(heartbeatOverdue(ctx, last + elapsed, margin)).toBe(elapsed > ttl - margin);
          // At the boundary itself, not yet overdue; one ms later, overdue.
          expect(heartbeatOverdue(ctx, last + ttl - margin, margin)).toBe(false);
          expect(heartbeatOverdue(ctx, last + ttl - margin + 1, margin)).toBe(true);
          // Monotone in time.
          if (heartbeatOverdue(ctx, last + elapsed, margin))
            expect(heartbeatOverdue(ctx, last + elapsed + 1, margin)).toBe(true);
        },
      ),
    );
  });
});
