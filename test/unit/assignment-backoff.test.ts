import { describe, expect, it } from "vitest";
import { AssignmentBackoff, judgeAssignmentFailure } from "../../src/actors/index.ts";

describe("judgeAssignmentFailure", () => {
  it("fails the task when every worker would refuse the same assignment", () => {
    for (const code of ["payload_too_large", "validation_failed", "invalid_json"]) {
      const v = judgeAssignmentFailure({ kind: "refused", code, message: "nope" });
      expect(v.action).toBe("fail_task");
      if (v.action === "fail_task") {
        expect(v.error.code).toBe(code);
        expect(v.error.retryable).toBe(false);
      }
    }
    const big = judgeAssignmentFailure({ kind: "no_answer", message: "MAX_PAYLOAD_EXCEEDED" });
    expect(big.action).toBe("fail_task");
  });

  it("holds the worker back for anything a worker may get over", () => {
    for (const f of [
      { kind: "no_answer", message: "TIMEOUT" },
      { kind: "no_answer", message: "503 no responders" },
      { kind: "refused", code: "unavailable", message: "worker is draining" },
      { kind: "refused", code: "conflict", message: "not enough free capacity" },
      { kind: "refused", code: "not_found", message: "no handler for type 'x'" },
    ] as const) {
      expect(judgeAssignmentFailure(f).action).toBe("hold_worker");
    }
  });
});

describe("AssignmentBackoff", () => {
  it("holds a worker until it heartbeats again and its back-off has passed", () => {
    const b = new AssignmentBackoff({ baseMs: 250, maxMs: 30_000 });
    b.failed("w1", 10, 1_000, "no answer");
    // Same heartbeat: held however long it waits (a dead process with a live key).
    expect(b.heldBack("w1", 10, 1_000_000)).toMatch(/next heartbeat/);
    // A newer heartbeat, but inside the back-off.
    expect(b.heldBack("w1", 11, 1_100)).toMatch(/backing off for 150 ms/);
    expect(b.heldBack("w1", 11, 1_250)).toBeUndefined();
    expect(b.heldBack("w2", 1, 1_000)).toBeUndefined();
  });

  it("doubles the back-off only for failures after the worker was let back", () => {
    const b = new AssignmentBackoff({ baseMs: 100, maxMs: 1_000 });
    // Eight assignments in flight fail together: one failure.
    for (let i = 0; i < 8; i++) b.failed("w1", 5, 0, "timeout");
    expect(b.heldBack("w1", 6, 99)).toBeDefined();
    expect(b.heldBack("w1", 6, 100)).toBeUndefined();
    // Let back at heartbeat 6, fails again: 200 ms; then 400, 800, capped at 1000.
    let rev = 6;
    let now = 100;
    for (const expected of [200, 400, 800, 1_000, 1_000]) {
      b.failed("w1", rev, now, "timeout");
      rev++;
      expect(b.heldBack("w1", rev, now + expected - 1)).toBeDefined();
      expect(b.heldBack("w1", rev, now + expected)).toBeUndefined();
      now += expected;
    }
  });

  it("bounds the assignments a dead worker with a live heartbeat draws", () => {
    // A simulated 10 s: the key is refreshed every 400 ms, every assignment fails at once,
    // and the leader retries whenever the worker is eligible (every 10 ms pass).
    const b = new AssignmentBackoff();
    let assignments = 0;
    for (let now = 0; now < 10_000; now += 10) {
      const revision = Math.floor(now / 400);
      if (b.heldBack("ghost", revision, now) === undefined) {
        assignments++;
        b.failed("ghost", revision, now, "no responders");
      }
    }
    // 250 + 500 + 1000 + 2000 + 4000 ms of back-off fit in 10 s: 6 assignments, not 1,000.
    expect(assignments).toBeLessThanOrEqual(7);
    expect(assignments).toBeGreaterThanOrEqual(5);
  });

  it("lets a worker take work at once after an acknowledged assignment, and forgets gone workers", () => {
    const b = new AssignmentBackoff();
    b.failed("w1", 1, 0, "timeout");
    b.succeeded("w1");
    expect(b.heldBack("w1", 1, 0)).toBeUndefined();
    b.failed("w2", 1, 0, "timeout");
    expect(b.size).toBe(1);
    b.forget("w2");
    expect(b.size).toBe(0);
  });
});
