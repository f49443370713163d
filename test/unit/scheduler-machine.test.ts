import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { getShortestPaths } from "@xstate/graph";
import {
  SCHEDULER_EVENT_TYPES,
  SCHEDULER_STATES,
  acceptedSchedulerEvents,
  applySchedulerEvent,
  initialSchedulerSnapshot,
  isLeader,
  leaseExpired,
  schedulerMachine,
  schedulerState,
} from "../../src/actors/scheduler-machine.ts";
import type {
  SchedulerEvent,
  SchedulerEventType,
  SchedulerSnapshot,
  SchedulerState,
} from "../../src/actors/scheduler-machine.ts";

const input = { replicaId: "s1", leaseTtlMs: 10_000 };

function sample(type: SchedulerEventType, at = 1): SchedulerEvent {
  switch (type) {
    case "ACQUIRED":
      return { type, at, term: 7, revision: 100 };
    case "ACQUIRE_FAILED":
    case "OBSERVED_LEADER":
      return { type, at, leaderId: "s2" };
    case "RENEWED":
      return { type, at, revision: 101 };
    case "LEASE_LOST":
      return { type, at, reason: "revision conflict" };
    default:
      return { type, at };
  }
}

/** Path events from @xstate/graph, minus its synthetic `xstate.init` first step. */
function replayable(events: readonly { type: string }[]): SchedulerEvent[] {
  return events.filter((e) => !e.type.startsWith("xstate.")) as SchedulerEvent[];
}

function run(
  events: SchedulerEvent[],
  from: SchedulerSnapshot = initialSchedulerSnapshot(input),
): SchedulerSnapshot {
  let snapshot = from;
  for (const event of events) {
    const result = applySchedulerEvent(snapshot, event);
    if (!result.ok) throw new Error(result.reason);
    snapshot = result.snapshot;
  }
  return snapshot;
}

const toLeader: SchedulerEvent[] = [
  { type: "LEASE_FREE", at: 1 },
  { type: "ACQUIRED", at: 2, term: 3, revision: 10 },
];

const inState: Record<SchedulerState, () => SchedulerSnapshot> = {
  follower: () => initialSchedulerSnapshot(input),
  candidate: () => run([{ type: "LEASE_FREE", at: 1 }]),
  leader: () => run(toLeader),
  stopped: () => run([{ type: "STOP", at: 1 }]),
};

const legal: Record<SchedulerState, readonly SchedulerEventType[]> = {
  follower: ["LEASE_FREE", "OBSERVED_LEADER", "STOP"],
  candidate: ["ACQUIRED", "ACQUIRE_FAILED", "OBSERVED_LEADER", "STOP"],
  leader: ["RENEWED", "LEASE_LOST", "RESIGN", "STOP"],
  stopped: [],
};

describe("scheduler machine: reachability (@xstate/graph)", () => {
  it("reaches every state", () => {
    const events = SCHEDULER_EVENT_TYPES.map((type) => sample(type));
    const paths = getShortestPaths(schedulerMachine, { input, events });
    const reached = new Set(paths.map((p) => schedulerState(p.state)));
    expect([...reached].sort()).toEqual([...SCHEDULER_STATES].sort());
    for (const path of paths) {
      expect(schedulerState(run(replayable(path.steps.map((s) => s.event))))).toBe(
        schedulerState(path.state),
      );
    }
  });
});

describe("scheduler machine: legality", () => {
  it("accepted events per state match the table", () => {
    for (const state of SCHEDULER_STATES) {
      expect([...acceptedSchedulerEvents(inState[state]())].sort(), state).toEqual(
        [...legal[state]].sort(),
      );
    }
  });

  it("refuses every illegal (state × event type) pair and leaves the snapshot untouched", () => {
    let checked = 0;
    for (const state of SCHEDULER_STATES) {
      for (const type of SCHEDULER_EVENT_TYPES) {
        if (legal[state].includes(type)) continue;
        const snapshot = inState[state]();
        const before = JSON.stringify({ value: snapshot.value, context: snapshot.context });
        expect(applySchedulerEvent(snapshot, sample(type, 50)), `${type} in ${state}`).toEqual({
          ok: false,
          reason: `illegal event ${type} in state ${state}`,
        });
        expect(JSON.stringify({ value: snapshot.value, context: snapshot.context })).toBe(before);
        checked++;
      }
    }
    expect(checked).toBe(
      SCHEDULER_STATES.length * SCHEDULER_EVENT_TYPES.length - Object.values(legal).flat().length,
    );
  });
});

describe("scheduler machine: transitions", () => {
  it("starts as a follower without a term", () => {
    const s = initialSchedulerSnapshot(input);
    expect(schedulerState(s)).toBe("follower");
    expect(s.context).toEqual({
      ...input,
      term: null,
      leaseRevision: null,
      lastRenewedAt: null,
      leaderId: null,
    });
    expect(isLeader(s)).toBe(false);
  });

  it("ACQUIRED makes a leader with term, revision and renewal time", () => {
    const s = inState.leader();
    expect(isLeader(s)).toBe(true);
    expect(s.context).toMatchObject({
      term: 3,
      leaseRevision: 10,
      lastRenewedAt: 2,
      leaderId: "s1",
    });
  });

  it("ACQUIRE_FAILED returns to follower and records the leader", () => {
    const s = run([{ type: "ACQUIRE_FAILED", at: 3, leaderId: "s2" }], inState.candidate());
    expect(schedulerState(s)).toBe("follower");
    expect(s.context.leaderId).toBe("s2");
    expect(s.context.term).toBeNull();
  });

  it("OBSERVED_LEADER updates leaderId in follower and candidate", () => {
    for (const from of [inState.follower(), inState.candidate()]) {
      const s = run([{ type: "OBSERVED_LEADER", at: 5, leaderId: "s9" }], from);
      expect(schedulerState(s)).toBe(schedulerState(from));
      expect(s.context.leaderId).toBe("s9");
      const again = applySchedulerEvent(s, { type: "OBSERVED_LEADER", at: 6, leaderId: "s9" });
      expect(again.ok && again.changed).toBe(false);
    }
  });

  it("RENEWED updates revision and lastRenewedAt; a stale revision is refused", () => {
    const s = run([{ type: "RENEWED", at: 9, revision: 11 }], inState.leader());
    expect(schedulerState(s)).toBe("leader");
    expect(s.context).toMatchObject({ term: 3, leaseRevision: 11, lastRenewedAt: 9 });
    const stale = applySchedulerEvent(s, { type: "RENEWED", at: 10, revision: 11 });
    expect(stale.ok).toBe(false);
    if (!stale.ok) expect(stale.reason).toMatch(/stale renewal/);
  });

  it("LEASE_LOST and RESIGN step down and clear the term", () => {
    for (const event of [sample("LEASE_LOST", 20), sample("RESIGN", 20)]) {
      const s = run([event], inState.leader());
      expect(schedulerState(s)).toBe("follower");
      expect(isLeader(s)).toBe(false);
      expect(s.context).toMatchObject({
        term: null,
        leaseRevision: null,
        lastRenewedAt: null,
        leaderId: null,
      });
      expect(leaseExpired(s.context, 1e12, 0)).toBe(false);
    }
  });

  it("STOP from every non-final state stops", () => {
    for (const state of SCHEDULER_STATES) {
      if (state === "stopped") continue;
      const s = run([{ type: "STOP", at: 99 }], inState[state]());
      expect(schedulerState(s)).toBe("stopped");
      expect(s.status).toBe("done");
      expect(isLeader(s)).toBe(false);
    }
  });
});

describe("leaseExpired", () => {
  it("is false when not leading", () => {
    expect(leaseExpired(inState.follower().context, 1e12, 0)).toBe(false);
    expect(leaseExpired(inState.candidate().context, 1e12, 0)).toBe(false);
  });

  it("boundary: expired exactly when now - lastRenewedAt > ttl - margin", () => {
    const ctx = inState.leader().context; // lastRenewedAt 2, ttl 10 000
    expect(leaseExpired(ctx, 2 + 7_000, 3_000)).toBe(false);
    expect(leaseExpired(ctx, 2 + 7_001, 3_000)).toBe(true);
  });

  it("property over now / lastRenewedAt / ttl / margin", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 1, max: 60_000 }),
        fc.integer({ min: 0, max: 60_000 }),
        fc.integer({ min: 1, max: 1_000 }),
        (lastRenewedAt, elapsed, leaseTtlMs, margin, term) => {
          const ctx = { term, lastRenewedAt, leaseTtlMs };
          expect(leaseExpired(ctx, lastRenewedAt + elapsed, margin)).toBe(
            elapsed > leaseTtlMs - margin,
          );
          expect(leaseExpired(ctx, lastRenewedAt + leaseTtlMs - margin, margin)).toBe(false);
          expect(leaseExpired(ctx, lastRenewedAt + leaseTtlMs - margin + 1, margin)).toBe(true);
          expect(leaseExpired({ ...ctx, term: null }, lastRenewedAt + elapsed, margin)).toBe(false);
        },
      ),
    );
  });

  it("a renewal resets expiry (machine + helper)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 1_000_000 }),
        fc.integer({ min: 0, max: 20_000 }),
        (renewAt, elapsed) => {
          const s = run([{ type: "RENEWED", at: renewAt, revision: 11 }], inState.leader());
          expect(leaseExpired(s.context, renewAt + elapsed, 1_000)).toBe(elapsed > 9_000);
        },
      ),
    );
  });
});
