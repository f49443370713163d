/**
 * The TaskStore's decisions, without a server: when a conflict after a retried write means the
 * write had landed (a timeout that still wrote), how long a finished record is kept, and that
 * a stored value that fails its schema is refused rather than guessed at.
 */
import type { KV } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import { applyTaskEvent } from "../../src/actors/index.ts";
import type { TaskEvent } from "../../src/actors/index.ts";
import { encode, newTaskRecord, SubmitTaskRequest } from "../../src/protocol/index.ts";
import type { TaskRecord } from "../../src/protocol/index.ts";
import { landed, TaskStore } from "../../src/runtime/task-store.ts";

const placement = { strategy: "first-fit", workerId: "w1", reason: "test", candidates: [], at: 0 };

function apply(r: TaskRecord, e: TaskEvent): TaskRecord {
  const res = applyTaskEvent(r, e);
  if (!res.ok) throw new Error(res.reason);
  return res.record;
}

const queued = newTaskRecord("t1", SubmitTaskRequest.parse({ type: "echo" }), 0);
const assigned = apply(queued, { type: "ASSIGN", at: 1, workerId: "w1", term: 1, placement });

describe("landed (a conflict after a retried write)", () => {
  it("is success when the stored record is the write itself", () => {
    expect(landed(queued, assigned, structuredClone(assigned))).toBe(true);
  });

  it("is success when the record has moved on from the write (its history entry is there)", () => {
    const running = apply(assigned, { type: "START", at: 2, epoch: 1, workerId: "w1" });
    expect(landed(queued, assigned, running)).toBe(true);
  });

  it("is a real conflict when someone else's change is stored instead", () => {
    const cancelled = apply(queued, { type: "CANCEL", at: 1, reason: "no" });
    expect(landed(queued, assigned, cancelled)).toBe(false);
    // A write that changes no state leaves no history entry: only the identical record counts.
    const progress = apply(apply(assigned, { type: "START", at: 2, epoch: 1, workerId: "w1" }), {
      type: "PROGRESS",
      at: 3,
      epoch: 1,
      progress: 1,
    });
    const before = apply(assigned, { type: "START", at: 2, epoch: 1, workerId: "w1" });
    const other = apply(before, { type: "PROGRESS", at: 4, epoch: 1, progress: 2 });
    expect(landed(before, progress, other)).toBe(false);
  });
});

describe("TaskStore", () => {
  const store = new TaskStore({} as KV, {
    js: {} as never,
    bucket: "b",
    idempotencyBucket: "i",
    retentionMs: 60_000,
  });

  it("keeps a finished record for its own retention, else the store's", () => {
    expect(store.retentionOf(queued)).toBe(60_000);
    expect(store.retentionOf({ ...queued, retentionMs: 5_000 })).toBe(5_000);
  });

  it("decodes a stored record, and refuses one that fails its schema", () => {
    expect(TaskStore.decode(encode(assigned))).toEqual(assigned);
    expect(() => TaskStore.decode(encode({ ...assigned, state: "lost" }))).toThrow();
    expect(() => TaskStore.decode(new TextEncoder().encode("{ not json"))).toThrow();
  });
});
