import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { getShortestPaths, getSimplePaths } from "@xstate/graph";
import { createActor } from "xstate";
import {
  SubmitTaskRequest,
  TASK_STATES,
  TaskRecord,
  newTaskRecord,
  type Placement,
  type Report,
  type RetryPolicy,
  type SubmitTaskRequestInput,
  type TaskState,
} from "../../src/protocol/index.ts";
import {
  TASK_EVENT_TYPES,
  acceptedEvents,
  applyTaskEvent,
  eventFromReport,
  recordRefusedReport,
  taskMachine,
  type TaskEvent,
  type TaskEventType,
} from "../../src/actors/task-machine.ts";
import { backoffDelay } from "../../src/actors/backoff.ts";

const T0 = 1_000_000;
const LATE = T0 + 10 * 365 * 24 * 3600 * 1000;

function record(overrides: Partial<SubmitTaskRequestInput> = {}, now = T0): TaskRecord {
  return newTaskRecord("t1", SubmitTaskRequest.parse({ type: "email", ...overrides }), now);
}

function placement(workerId: string | null, at = T0): Placement {
  return {
    strategy: "first-fit",
    workerId,
    reason: workerId ? "first worker that fits" : "no worker fits",
    candidates: [{ workerId: "w1", fits: workerId !== null, score: workerId ? 1 : null }],
    at,
  };
}

/** Applies an event that must be accepted. */
function step(r: TaskRecord, event: TaskEvent): TaskRecord {
  const res = applyTaskEvent(r, event);
  if (!res.ok) throw new Error(`refused: ${res.reason}`);
  // Every accepted record is still a valid durable record.
  TaskRecord.parse(res.record);
  return res.record;
}

function assign(r: TaskRecord, at = T0 + 1, workerId = "w1", term = 1): TaskRecord {
  return step(r, { type: "ASSIGN", at, workerId, term, placement: placement(workerId, at) });
}

/** One sample event of every type, valid for the snapshot's record where possible. */
function sampleEvents(r: TaskRecord): TaskEvent[] {
  // Time moves forward and is past any stored due time.
  const at = Math.max(LATE, r.updatedAt, r.runAt ?? 0, r.nextRunAt ?? 0) + 1;
  const epoch = r.epoch;
  const worker = r.workerId ?? "w1";
  return [
    { type: "DUE", at },
    {
      type: "ASSIGN",
      at,
      workerId: "w1",
      term: Math.max(1, r.term),
      placement: placement("w1", at),
    },
    { type: "NO_FIT", at, placement: placement(null, at) },
    { type: "START", at, epoch, workerId: worker },
    { type: "PROGRESS", at, epoch, progress: { pct: 50 } },
    { type: "SUCCEED", at, epoch, result: { sent: true } },
    {
      type: "FAIL",
      at,
      epoch,
      error: { code: "smtp", message: "421", retryable: true },
      rand: 0.5,
    },
    {
      type: "FAIL",
      at,
      epoch,
      error: { code: "bad_input", message: "no address", retryable: false },
      rand: 0.5,
    },
    { type: "TIME_OUT", at, epoch, rand: 0.5 },
    { type: "RELEASE", at, epoch, reason: "draining" },
    { type: "WORKER_LOST", at, workerId: worker },
    { type: "CANCEL", at, reason: "user" },
    { type: "RETRY", at },
  ];
}

describe("task machine graph", () => {
  const input = record({ retry: { maxAttempts: 2, backoff: { baseMs: 10 } } });
  const delayedInput = record({ delayMs: 1000, retry: { maxAttempts: 2 } });
  // Bounded state space: value × failures (failures ≤ maxAttempts).
  const serializeState = (s: { value: unknown; context: TaskRecord }) =>
    `${String(s.value)}/${s.context.failures}`;
  const events = (s: { context: TaskRecord }) => sampleEvents(s.context);

  it("reaches every state from a submitted task (queued or delayed)", () => {
    const fromQueued = getShortestPaths(taskMachine, { input, events, serializeState });
    const fromDelayed = getShortestPaths(taskMachine, {
      input: delayedInput,
      fromState: taskMachine.resolveState({ value: "delayed", context: delayedInput }),
      events,
      serializeState,
    });
    const reached = new Set<string>(
      [...fromQueued, ...fromDelayed].map((p) => String(p.state.value)),
    );
    for (const s of TASK_STATES) expect(reached, `state ${s}`).toContain(s);
    expect(reached.size).toBe(TASK_STATES.length);
    // The record's state always mirrors the machine's state value.
    for (const p of [...fromQueued, ...fromDelayed]) {
      expect(p.state.context.state).toBe(p.state.value);
      TaskRecord.parse(p.state.context);
    }
  });

  it("simple paths to dead go through retrying", () => {
    const paths = getSimplePaths(taskMachine, {
      input,
      events,
      serializeState,
      toState: (s) => s.value === "dead",
    });
    expect(paths.length).toBeGreaterThan(0);
    for (const p of paths) {
      expect(p.state.value).toBe("dead");
      expect(p.steps.some((st) => st.state.value === "retrying")).toBe(true);
      expect(p.state.context.failures).toBe(2);
    }
  });

  it("runs as an actor too", () => {
    const actor = createActor(taskMachine, { input }).start();
    actor.send({ type: "ASSIGN", at: T0 + 1, workerId: "w1", term: 1, placement: placement("w1") });
    actor.send({ type: "START", at: T0 + 2, epoch: 1, workerId: "w1" });
    actor.send({ type: "SUCCEED", at: T0 + 3, epoch: 1, result: 42 });
    const snap = actor.getSnapshot();
    expect(snap.status).toBe("done");
    // The finished record says which worker ran the accepted attempt.
    expect(snap.context).toMatchObject({
      state: "succeeded",
      result: 42,
      finishedAt: T0 + 3,
      workerId: "w1",
    });
    actor.stop();
  });
});

describe("applyTaskEvent: refusals", () => {
  /** A record in each state, reached through legal events only. */
  function recordIn(state: TaskState): TaskRecord {
    const q = record({ retry: { maxAttempts: 2, backoff: { baseMs: 10 } } });
    const a = assign(q);
    const r = step(a, { type: "START", at: T0 + 2, epoch: 1, workerId: "w1" });
    const fail = (x: TaskRecord, retryable: boolean) =>
      step(x, {
        type: "FAIL",
        at: T0 + 3,
        epoch: x.epoch,
        error: { code: "e", message: "m", retryable },
        rand: 0.5,
      });
    switch (state) {
      case "queued":
        return q;
      case "delayed":
        return record({ delayMs: 1000 });
      case "assigned":
        return a;
      case "running":
        return r;
      case "succeeded":
        return step(r, { type: "SUCCEED", at: T0 + 3, epoch: 1, result: null });
      case "failed":
        return fail(r, false);
      case "retrying":
        return fail(r, true);
      case "dead": {
        const again = assign(step(fail(r, true), { type: "DUE", at: LATE }), LATE, "w1", 1);
        return fail(again, true);
      }
      case "cancelled":
        return step(q, { type: "CANCEL", at: T0 + 1 });
      case "timed_out": {
        const one = record({ retry: { maxAttempts: 1 } });
        const x = assign(one);
        return step(x, { type: "TIME_OUT", at: T0 + 5, epoch: 1, rand: 0 });
      }
    }
  }

  const legal: Record<TaskState, readonly TaskEventType[]> = {
    queued: ["ASSIGN", "NO_FIT", "CANCEL"],
    delayed: ["DUE", "CANCEL"],
    assigned: [
      "START",
      "PROGRESS",
      "SUCCEED",
      "FAIL",
      "TIME_OUT",
      "RELEASE",
      "WORKER_LOST",
      "CANCEL",
    ],
    running: ["PROGRESS", "SUCCEED", "FAIL", "TIME_OUT", "RELEASE", "WORKER_LOST", "CANCEL"],
    retrying: ["DUE", "CANCEL"],
    succeeded: [],
    failed: ["RETRY"],
    dead: ["RETRY"],
    cancelled: [],
    timed_out: ["RETRY"],
  };

  it("builds a record in every state", () => {
    for (const s of TASK_STATES) expect(recordIn(s).state).toBe(s);
  });

  it("the machine accepts exactly the documented events per state", () => {
    for (const s of TASK_STATES)
      expect([...acceptedEvents(s)].sort(), s).toEqual([...legal[s]].sort());
  });

  it("refuses every illegal event in every state and leaves the record alone", () => {
    for (const s of TASK_STATES) {
      const r = recordIn(s);
      const frozen = JSON.stringify(r);
      for (const type of TASK_EVENT_TYPES) {
        const samples = sampleEvents(r).filter((e) => e.type === type);
        for (const e of samples) {
          const res = applyTaskEvent(r, e);
          if (legal[s].includes(type)) {
            expect(res.ok, `${type} in ${s}`).toBe(true);
          } else {
            expect(res).toEqual({
              ok: false,
              reason: `illegal event ${type} in state ${s}`,
              stale: false,
            });
          }
        }
      }
      expect(JSON.stringify(r)).toBe(frozen);
    }
  });

  it("refuses stale epochs for every report event", () => {
    const r = step(assign(record()), {
      type: "RELEASE",
      at: T0 + 2,
      epoch: 1,
      reason: "refused",
    });
    const again = assign(r, T0 + 3, "w2", 1);
    expect(again.epoch).toBe(2);
    const stale: TaskEvent[] = [
      { type: "START", at: T0 + 4, epoch: 1, workerId: "w2" },
      { type: "PROGRESS", at: T0 + 4, epoch: 1, progress: 1 },
      { type: "SUCCEED", at: T0 + 4, epoch: 1, result: 1 },
      {
        type: "FAIL",
        at: T0 + 4,
        epoch: 1,
        error: { code: "x", message: "y", retryable: true },
        rand: 0,
      },
      { type: "TIME_OUT", at: T0 + 4, epoch: 1, rand: 0 },
      { type: "RELEASE", at: T0 + 4, epoch: 1, reason: "late" },
    ];
    for (const e of stale) {
      expect(applyTaskEvent(again, e)).toEqual({
        ok: false,
        reason: "stale epoch 1 (current 2)",
        stale: true,
      });
    }
    expect(recordRefusedReport(again, T0 + 5).refusedReports).toBe(1);
  });

  it("refuses every kind of report of the current epoch from a worker that does not hold the task, and counts it", () => {
    const running = step(assign(record(), T0 + 1, "w1", 1), {
      type: "START",
      at: T0 + 2,
      epoch: 1,
      workerId: "w1",
    });
    const forged: Report[] = [
      {
        v: 1,
        kind: "progress",
        taskId: running.id,
        epoch: 1,
        workerId: "mallory",
        at: 0,
        progress: 1,
      },
      {
        v: 1,
        kind: "succeeded",
        taskId: running.id,
        epoch: 1,
        workerId: "mallory",
        at: 0,
        result: { forged: true },
      },
      {
        v: 1,
        kind: "failed",
        taskId: running.id,
        epoch: 1,
        workerId: "mallory",
        at: 0,
        error: { code: "x", message: "y", retryable: false },
      },
      { v: 1, kind: "timed_out", taskId: running.id, epoch: 1, workerId: "mallory", at: 0 },
      {
        v: 1,
        kind: "released",
        taskId: running.id,
        epoch: 1,
        workerId: "mallory",
        at: 0,
        reason: "x",
      },
    ];
    for (const r of forged) {
      expect(applyTaskEvent(running, eventFromReport(r, T0 + 3, 0))).toEqual({
        ok: false,
        reason: "report from worker mallory, but w1 holds the task",
        stale: true,
      });
    }
    // The assigned worker's own report still counts; so do the leader's own events (no sender).
    const real = applyTaskEvent(
      running,
      eventFromReport(
        { v: 1, kind: "succeeded", taskId: running.id, epoch: 1, workerId: "w1", at: 0, result: 7 },
        T0 + 4,
        0,
      ),
    );
    expect(real.ok && real.record.state).toBe("succeeded");
    expect(applyTaskEvent(running, { type: "TIME_OUT", at: T0 + 5, epoch: 1, rand: 0 }).ok).toBe(
      true,
    );
  });

  it("refuses START from another worker, WORKER_LOST of another worker, an older term, and DUE too early", () => {
    const a = assign(record(), T0 + 1, "w1", 5);
    expect(
      applyTaskEvent(a, { type: "START", at: T0 + 2, epoch: 1, workerId: "w9" }),
    ).toMatchObject({
      ok: false,
      reason: "worker w9 does not hold the task (held by w1)",
    });
    expect(applyTaskEvent(a, { type: "WORKER_LOST", at: T0 + 2, workerId: "w9" }).ok).toBe(false);
    const back = step(a, { type: "WORKER_LOST", at: T0 + 2, workerId: "w1" });
    expect(back).toMatchObject({
      state: "queued",
      workerId: null,
      assignedAt: null,
      failures: 0,
      epoch: 1,
    });
    expect(
      applyTaskEvent(back, {
        type: "ASSIGN",
        at: T0 + 3,
        workerId: "w2",
        term: 4,
        placement: placement("w2"),
      }),
    ).toMatchObject({
      ok: false,
      reason: "stale term 4 (current 5)",
    });
    const d = record({ delayMs: 1000 });
    expect(applyTaskEvent(d, { type: "DUE", at: T0 + 999 })).toMatchObject({
      ok: false,
      reason: `not due until ${T0 + 1000} (now ${T0 + 999})`,
    });
    expect(step(d, { type: "DUE", at: T0 + 1000 }).state).toBe("queued");
  });

  it("accepts exactly one completion", () => {
    const r = step(assign(record()), { type: "SUCCEED", at: T0 + 2, epoch: 1, result: "done" });
    expect(
      applyTaskEvent(r, { type: "SUCCEED", at: T0 + 3, epoch: 1, result: "again" }),
    ).toMatchObject({ ok: false });
    expect(
      applyTaskEvent(r, {
        type: "FAIL",
        at: T0 + 3,
        epoch: 1,
        error: { code: "x", message: "y", retryable: true },
        rand: 0,
      }).ok,
    ).toBe(false);
  });
});

describe("lifecycle", () => {
  it("assigns with a new epoch, attempt and term, and records the placement", () => {
    const a = assign(record(), T0 + 1, "w1", 7);
    expect(a).toMatchObject({
      state: "assigned",
      attempt: 1,
      epoch: 1,
      term: 7,
      workerId: "w1",
      assignedAt: T0 + 1,
    });
    expect(a.placement?.workerId).toBe("w1");
    expect(a.history.at(-1)).toMatchObject({
      from: "queued",
      to: "assigned",
      event: "ASSIGN",
      at: T0 + 1,
    });
    const r = step(a, { type: "RELEASE", at: T0 + 2, epoch: 1, reason: "draining" });
    expect(r).toMatchObject({ state: "queued", attempt: 1, failures: 0, workerId: null });
    const b = assign(r, T0 + 3, "w2", 7);
    expect(b).toMatchObject({ attempt: 2, epoch: 2, workerId: "w2" });
  });

  it("NO_FIT only updates the placement; repeating it is not a change", () => {
    const q = record();
    const first = applyTaskEvent(q, {
      type: "NO_FIT",
      at: T0 + 1,
      placement: placement(null, T0 + 1),
    });
    expect(first).toMatchObject({ ok: true, changed: true });
    if (!first.ok) return;
    expect(first.record.state).toBe("queued");
    expect(first.record.history).toEqual([]);
    const second = applyTaskEvent(first.record, {
      type: "NO_FIT",
      at: T0 + 2,
      placement: placement(null, T0 + 2),
    });
    expect(second).toMatchObject({ ok: true, changed: false });
  });

  it("PROGRESS implies start and repeating the same value is not a change", () => {
    const a = assign(record());
    const p = step(a, { type: "PROGRESS", at: T0 + 2, epoch: 1, progress: { pct: 10 } });
    expect(p).toMatchObject({ state: "running", startedAt: T0 + 2, progress: { pct: 10 } });
    const same = applyTaskEvent(p, {
      type: "PROGRESS",
      at: T0 + 3,
      epoch: 1,
      progress: { pct: 10 },
    });
    expect(same).toMatchObject({ ok: true, changed: false });
    const more = applyTaskEvent(p, {
      type: "PROGRESS",
      at: T0 + 3,
      epoch: 1,
      progress: { pct: 20 },
    });
    expect(more).toMatchObject({ ok: true, changed: true });
    expect(p.history.map((h) => h.to)).toEqual(["assigned", "running"]);
  });

  it("retries a retryable failure with backoff, then dies when exhausted", () => {
    let r = record({
      retry: {
        maxAttempts: 3,
        backoff: { type: "exponential", baseMs: 100, maxMs: 10_000, jitter: 0 },
      },
    });
    const delays: number[] = [];
    for (let i = 1; i <= 3; i++) {
      r = assign(r, T0 + i * 1000, "w1", 1);
      r = step(r, { type: "START", at: T0 + i * 1000 + 1, epoch: r.epoch, workerId: "w1" });
      r = step(r, {
        type: "FAIL",
        at: T0 + i * 1000 + 2,
        epoch: r.epoch,
        error: { code: "io", message: "boom", retryable: true },
        rand: 0.3,
      });
      expect(r.failures).toBe(i);
      if (i < 3) {
        expect(r.state).toBe("retrying");
        delays.push((r.nextRunAt ?? 0) - (T0 + i * 1000 + 2));
        expect(applyTaskEvent(r, { type: "DUE", at: (r.nextRunAt ?? 0) - 1 }).ok).toBe(false);
        r = step(r, { type: "DUE", at: r.nextRunAt ?? 0 });
        expect(r).toMatchObject({ state: "queued", nextRunAt: null });
      }
    }
    expect(delays).toEqual([100, 200]);
    expect(r).toMatchObject({
      state: "dead",
      failures: 3,
      attempt: 3,
      // A finished task names the worker of its last attempt.
      workerId: "w1",
      finishedAt: T0 + 3002,
    });
    expect(r.error).toEqual({ code: "io", message: "boom", retryable: true });
    expect(r.history.at(-1)).toMatchObject({ to: "dead", reason: "io: boom" });
    // A user's retry queues it again, held by no worker.
    expect(step(r, { type: "RETRY", at: T0 + 4000 })).toMatchObject({
      state: "queued",
      workerId: null,
    });
  });

  it("a non-retryable error fails immediately whatever the policy", () => {
    const a = assign(record({ retry: { maxAttempts: 10 } }));
    const f = step(a, {
      type: "FAIL",
      at: T0 + 2,
      epoch: 1,
      error: { code: "non_retryable", message: "bad", retryable: false },
      rand: 0,
    });
    expect(f).toMatchObject({ state: "failed", failures: 1, nextRunAt: null, finishedAt: T0 + 2 });
  });

  it("released and lost attempts do not count as failures", () => {
    let r = record({ retry: { maxAttempts: 1 } });
    for (let i = 0; i < 5; i++) {
      r = assign(r, T0 + i * 10 + 1);
      r = step(
        r,
        i % 2
          ? { type: "RELEASE", at: T0 + i * 10 + 2, epoch: r.epoch, reason: "drain" }
          : { type: "WORKER_LOST", at: T0 + i * 10 + 2, workerId: "w1" },
      );
    }
    expect(r).toMatchObject({ state: "queued", attempt: 5, epoch: 5, failures: 0 });
  });

  it("a timeout retries, then ends in timed_out when exhausted", () => {
    let r = record({
      timeoutMs: 500,
      retry: { maxAttempts: 2, backoff: { type: "fixed", baseMs: 50, jitter: 0 } },
    });
    r = assign(r);
    r = step(r, { type: "TIME_OUT", at: T0 + 600, epoch: 1, rand: 0.9 });
    expect(r).toMatchObject({ state: "retrying", failures: 1, nextRunAt: T0 + 650 });
    expect(r.error).toEqual({
      code: "timeout",
      message: "attempt 1 timed out after 500 ms",
      retryable: true,
    });
    r = assign(step(r, { type: "DUE", at: T0 + 650 }), T0 + 651);
    r = step(r, { type: "START", at: T0 + 652, epoch: 2, workerId: "w1" });
    r = step(r, { type: "TIME_OUT", at: T0 + 1200, epoch: 2, rand: 0.1 });
    expect(r).toMatchObject({
      state: "timed_out",
      failures: 2,
      finishedAt: T0 + 1200,
      nextRunAt: null,
    });
  });

  it("RETRY from dead resets failures and keeps the previous error in history", () => {
    let r = record({ retry: { maxAttempts: 1 } });
    r = assign(r);
    r = step(r, {
      type: "FAIL",
      at: T0 + 2,
      epoch: 1,
      error: { code: "io", message: "boom", retryable: true },
      rand: 0,
    });
    expect(r.state).toBe("dead");
    r = step(r, { type: "RETRY", at: T0 + 3 });
    expect(r).toMatchObject({
      state: "queued",
      failures: 0,
      error: null,
      finishedAt: null,
      attempt: 1,
      epoch: 1,
    });
    expect(r.history.at(-1)).toMatchObject({
      from: "dead",
      to: "queued",
      event: "RETRY",
      reason: "previous error io: boom",
    });
    r = assign(r, T0 + 4);
    expect(r).toMatchObject({ attempt: 2, epoch: 2 });
  });

  it("cancel works from every waiting or active state and is final", () => {
    for (const start of [record(), record({ delayMs: 5 }), assign(record())]) {
      const c = step(start, { type: "CANCEL", at: T0 + 9, reason: "not needed" });
      expect(c).toMatchObject({ state: "cancelled", workerId: null, finishedAt: T0 + 9 });
      expect(c.error).toMatchObject({ code: "cancelled", message: "not needed" });
      expect(applyTaskEvent(c, { type: "RETRY", at: T0 + 10 }).ok).toBe(false);
    }
  });

  it("caps history at 20 entries, keeping the newest", () => {
    let r = record();
    for (let i = 0; i < 30; i++) {
      r = assign(r, T0 + i * 2 + 1);
      r = step(r, { type: "RELEASE", at: T0 + i * 2 + 2, epoch: r.epoch, reason: `r${i}` });
    }
    expect(r.history).toHaveLength(20);
    expect(r.history.at(-1)).toMatchObject({ event: "RELEASE", reason: "r29", at: T0 + 60 });
    expect(r.history[0]).toMatchObject({ event: "ASSIGN", at: T0 + 41 });
    TaskRecord.parse(r);
  });

  it("maps worker reports to events", () => {
    const base = { v: 1 as const, taskId: "t1", epoch: 3, workerId: "w1", at: 1 };
    expect(eventFromReport({ ...base, kind: "started" }, 9, 0.5)).toEqual({
      type: "START",
      at: 9,
      epoch: 3,
      workerId: "w1",
    });
    expect(eventFromReport({ ...base, kind: "released", reason: "drain" }, 9, 0.5)).toEqual({
      type: "RELEASE",
      at: 9,
      epoch: 3,
      reason: "drain",
      from: "w1",
    });
    expect(eventFromReport({ ...base, kind: "timed_out" }, 9, 0.5)).toEqual({
      type: "TIME_OUT",
      at: 9,
      epoch: 3,
      rand: 0.5,
      from: "w1",
    });
  });
});

describe("backoffDelay", () => {
  const policy = (backoff: Partial<RetryPolicy["backoff"]>): RetryPolicy => ({
    maxAttempts: 5,
    backoff: { type: "exponential", baseMs: 1000, maxMs: 60_000, jitter: 0, ...backoff },
  });

  it("fixed is always baseMs", () => {
    for (const n of [1, 2, 10, 100])
      expect(backoffDelay(policy({ type: "fixed", baseMs: 250 }), n, 0.7)).toBe(250);
  });

  it("exponential doubles and is capped by maxMs", () => {
    const p = policy({ baseMs: 100, maxMs: 1000 });
    expect([1, 2, 3, 4, 5, 6, 100].map((n) => backoffDelay(p, n, 0.5))).toEqual([
      100, 200, 400, 800, 1000, 1000, 1000,
    ]);
    expect(backoffDelay(policy({ baseMs: 0 }), 100, 0.5)).toBe(0);
  });

  it("jitter stays within [1-j, 1+j] of the raw delay and within [0, maxMs]", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<"fixed" | "exponential">("fixed", "exponential"),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 200_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 100 }),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        (type, baseMs, maxMs, jitter, failures, rand) => {
          const p = policy({ type, baseMs, maxMs, jitter });
          const d = backoffDelay(p, failures, rand);
          const raw = type === "fixed" ? baseMs : Math.min(maxMs, baseMs * 2 ** (failures - 1));
          expect(Number.isInteger(d)).toBe(true);
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThanOrEqual(maxMs);
          expect(d).toBeGreaterThanOrEqual(Math.min(maxMs, Math.floor(raw * (1 - jitter))));
          expect(d).toBeLessThanOrEqual(Math.ceil(raw * (1 + jitter)));
        },
      ),
    );
  });

  it("clamps a rand outside [0, 1]", () => {
    const p = policy({ baseMs: 1000, jitter: 0.5 });
    expect(backoffDelay(p, 1, -5)).toBe(500);
    expect(backoffDelay(p, 1, 5)).toBe(1500);
  });
});
