import { describe, it, expect } from "vitest";
import {
  TaskRecord,
  WorkerInfo,
  jsonSchemas,
  newTaskRecord,
  SubmitTaskRequest,
  Assignment,
  AssignmentReply,
  TERMINAL_STATES,
  ACTIVE_STATES,
  TASK_STATES,
} from "../../../src/protocol/index.ts";

describe("jsonSchemas", () => {
  it("returns a JSON Schema for every request, reply and message", () => {
    const schemas = jsonSchemas();
    for (const name of [
      "SubmitTaskRequest",
      "GetTaskRequest",
      "CancelTaskRequest",
      "RetryTaskRequest",
      "ListTasksRequest",
      "ListWorkersRequest",
      "HealthRequest",
      "SubmitTaskReply",
      "TaskReply",
      "ListTasksReply",
      "ListWorkersReply",
      "ErrorReply",
      "TaskRecord",
      "WorkerInfo",
      "Assignment",
      "AssignmentReply",
      "CancelNotice",
      "Report",
    ]) {
      const s = schemas[name] as Record<string, unknown> | undefined;
      expect(s, name).toBeDefined();
      expect(s?.$schema).toMatch(/json-schema/);
    }
    const submit = schemas.SubmitTaskRequest as {
      required?: string[];
      additionalProperties?: boolean;
    };
    // Input side: only `type` is required, defaulted fields are optional.
    expect(submit.required).toEqual(["type"]);
    expect(submit.additionalProperties).toBe(false);
    expect(() => JSON.stringify(schemas)).not.toThrow();
  });
});

describe("newTaskRecord", () => {
  const now = 1_000_000;
  it("queues a task due now and delays a future one", () => {
    const q = newTaskRecord("t1", SubmitTaskRequest.parse({ type: "a" }), now);
    expect(q.state).toBe("queued");
    expect(q.runAt).toBeNull();
    expect(TaskRecord.parse(q)).toEqual(q);

    const d = newTaskRecord("t2", SubmitTaskRequest.parse({ type: "a", delayMs: 500 }), now);
    expect(d.state).toBe("delayed");
    expect(d.runAt).toBe(now + 500);

    const iso = newTaskRecord(
      "t3",
      SubmitTaskRequest.parse({ type: "a", runAt: new Date(now + 10).toISOString() }),
      now,
    );
    expect(iso).toMatchObject({ state: "delayed", runAt: now + 10 });

    const past = newTaskRecord("t4", SubmitTaskRequest.parse({ type: "a", runAt: now - 10 }), now);
    expect(past.state).toBe("queued");
    expect(SubmitTaskRequest.parse({ type: "a", delayMs: 0 }).delayMs).toBe(0);
    expect(newTaskRecord("t5", SubmitTaskRequest.parse({ type: "a", delayMs: 0 }), now).state).toBe(
      "queued",
    );
  });

  it("copies key and idempotency key as null when absent", () => {
    const r = newTaskRecord(
      "t1",
      SubmitTaskRequest.parse({ type: "a", key: "k", idempotencyKey: "i" }),
      now,
    );
    expect(r).toMatchObject({
      key: "k",
      idempotencyKey: "i",
      attempt: 0,
      failures: 0,
      epoch: 0,
      term: 0,
      history: [],
    });
  });
});

describe("state sets and messages", () => {
  it("partitions states", () => {
    expect(TASK_STATES).toHaveLength(10);
    expect(TERMINAL_STATES.filter((s) => ACTIVE_STATES.includes(s))).toEqual([]);
  });

  it("parses worker heartbeats and assignments", () => {
    const w = WorkerInfo.parse({
      v: 1,
      id: "w-1",
      types: ["email"],
      capacity: { cpu: 4 },
      state: "ready",
      startedAt: 1,
      heartbeatAt: 2,
      running: [],
      hostname: "h",
      pid: 1,
      version: "0.1.0",
    });
    expect(w.capacity).toEqual({ cpu: 4, memoryMb: 0, slots: 1 });
    expect(w.labels).toEqual({});
    expect(() => WorkerInfo.parse({ ...w, id: "a.b" })).toThrow();
    const a = {
      v: 1,
      taskId: "t",
      epoch: 1,
      term: 3,
      attempt: 1,
      type: "x",
      payload: { a: [1] },
      timeoutMs: 5,
      resources: {},
    };
    expect(Assignment.parse(a).resources.slots).toBe(1);
    expect(AssignmentReply.parse({ ok: true })).toEqual({ ok: true });
    expect(
      AssignmentReply.parse({ ok: false, error: { code: "unavailable", message: "draining" } }).ok,
    ).toBe(false);
  });
});
