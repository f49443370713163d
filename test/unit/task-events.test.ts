import { describe, expect, it } from "vitest";
import { newTaskRecord, SubmitTaskRequest } from "../../src/protocol/index.ts";
import type { TaskRecord } from "../../src/protocol/index.ts";
import { applyTaskEvent } from "../../src/actors/index.ts";
import { ChangeRing } from "../../src/runtime/change-ring.ts";
import { eventId, lastTransitionEvent, transitionEvent } from "../../src/runtime/task-events.ts";

function queued(): TaskRecord {
  return newTaskRecord("t1", SubmitTaskRequest.parse({ type: "echo" }), 1_000);
}

describe("task events", () => {
  it("a record's last state change gives the event written at the change, under the same id", () => {
    const before = queued();
    const res = applyTaskEvent(before, { type: "CANCEL", at: 2_000, reason: "no" });
    if (!res.ok) throw new Error(res.reason);
    const written = transitionEvent(before, res.record, "CANCEL");
    const rebuilt = lastTransitionEvent(res.record);
    expect(rebuilt).toEqual(written);
    expect(eventId(rebuilt!)).toBe("t1:0:cancelled:2000");
  });

  it("a record that never changed state has no last change", () => {
    expect(lastTransitionEvent(queued())).toBeNull();
  });
});

describe("ChangeRing", () => {
  it("lists the distinct ids noted since a time, most recent first", () => {
    const r = new ChangeRing(8);
    r.note("a", 1);
    r.note("b", 2);
    r.note("a", 3);
    r.note("c", 4);
    expect(r.since(2)).toEqual(["c", "a", "b"]);
    expect(r.since(5)).toEqual([]);
  });

  it("forgets the oldest once full", () => {
    const r = new ChangeRing(3);
    for (const [i, id] of ["a", "b", "c", "d"].entries()) r.note(id, i);
    expect(r.since(0)).toEqual(["d", "c", "b"]);
  });
});
