import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareQueued, QueueIndex } from "../../src/actors/index.ts";
import type { TaskRecord } from "../../src/protocol/index.ts";
import { newTaskRecord, SubmitTaskRequest } from "../../src/protocol/index.ts";
import { TaskTable } from "../../src/runtime/task-table.ts";

function record(id: string, o: Partial<TaskRecord> & { gpu?: boolean } = {}): TaskRecord {
  const req = SubmitTaskRequest.parse({
    type: o.type ?? "echo",
    payload: { big: "x".repeat(100) },
    labels: o.gpu === true ? { gpu: "true" } : {},
  });
  const { gpu: _gpu, ...rest } = o;
  return { ...newTaskRecord(id, req, 1_000), ...rest };
}

describe("TaskTable", () => {
  it("gives back what it stored, without the record's content", () => {
    const t = new TaskTable();
    const r = record("a", {
      state: "running",
      priority: -7,
      key: "customer-9",
      workerId: "w1",
      epoch: 3,
      runAt: 5,
      assignedAt: 6,
      startedAt: 7,
      timeoutMs: 86_400_000,
    });
    const slot = t.set(r, 42);
    const row = t.at(slot);
    expect(row).toMatchObject({
      id: "a",
      revision: 42,
      state: "running",
      priority: -7,
      createdAt: 1_000,
      key: "customer-9",
      type: "echo",
      workerId: "w1",
      epoch: 3,
      runAt: 5,
      nextRunAt: null,
      assignedAt: 6,
      startedAt: 7,
      timeoutMs: 86_400_000,
      placementReason: null,
    });
    expect(row).not.toHaveProperty("payload");
    expect(t.get("a")).toEqual(row);
    expect(t.revisionOf("a")).toBe(42);
    expect(t.get("nope")).toBeUndefined();
  });

  it("keeps the times that arm a timer only for states that have one", () => {
    const t = new TaskTable();
    t.set(record("d", { state: "delayed", runAt: 9 }), 1);
    t.set(record("q", { state: "queued", runAt: 9 }), 1);
    expect(t.get("d")?.runAt).toBe(9);
    expect(t.get("q")?.runAt).toBeNull();
    t.set(record("d", { state: "queued", runAt: 9 }), 2);
    expect(t.get("d")?.runAt).toBeNull();
  });

  it("holds more rows than one chunk, and scans and orders across chunks", () => {
    const t = new TaskTable();
    const n = 40_000;
    for (let i = 0; i < n; i++)
      t.set(record(`t${i}`, { createdAt: n - i, state: i % 2 === 0 ? "queued" : "running" }), 1);
    expect(t.size).toBe(n);
    expect([...t.slotsIn(["queued"])]).toHaveLength(n / 2);
    const first = t.slotOf("t0")!;
    const last = t.slotOf(`t${n - 2}`)!;
    // createdAt falls as i grows: t(n-2) is older than t0 and runs first.
    expect(t.order(last, first)).toBeLessThan(0);
    for (let i = 0; i < n; i += 2) t.delete(`t${i}`);
    expect(t.count("queued")).toBe(0);
    expect(t.get(`t${n - 1}`)?.id).toBe(`t${n - 1}`);
  });

  it("keeps the placement reason of queued tasks only", () => {
    const t = new TaskTable();
    const placement = {
      strategy: "first-fit",
      workerId: null,
      candidates: [],
      reason: "none",
      at: 1,
    };
    t.set(record("a", { placement }), 1);
    t.set(record("b", { state: "succeeded", placement }), 1);
    expect(t.get("a")?.placementReason).toBe("none");
    expect(t.get("b")?.placementReason).toBeNull();
  });

  it("counts tasks by state, lists slots by state and shares shapes and worker ids", () => {
    const t = new TaskTable();
    for (let i = 0; i < 5; i++) t.set(record(`q${i}`), 1);
    t.set(record("r", { state: "running", workerId: "w1" }), 1);
    t.set(record("s", { state: "succeeded", workerId: "w1", type: "resize" }), 1);
    expect(t.size).toBe(7);
    expect([t.count("queued"), t.count("running"), t.count("succeeded")]).toEqual([5, 1, 1]);
    expect(t.shapeCount).toBe(2);
    const ids = (states: Parameters<TaskTable["slotsIn"]>[0]) =>
      [...t.slotsIn(states)].map((s) => t.idAt(s)).sort();
    expect(ids(["running", "succeeded"])).toEqual(["r", "s"]);
    expect(ids(["failed"])).toEqual([]);
    // A newer version moves the task between states; deleting forgets its shape.
    t.set(record("r", { state: "succeeded", workerId: "w1" }), 2);
    expect([t.count("running"), t.count("succeeded")]).toEqual([0, 2]);
    expect(t.delete("s")).toBeDefined();
    expect(t.delete("s")).toBeUndefined();
    expect(t.shapeCount).toBe(1);
    expect(t.size).toBe(6);
  });

  it("selects a page in list order after a cursor, by state, type and time (property)", () => {
    const row = fc.record({
      createdAt: fc.integer({ min: 0, max: 6 }),
      state: fc.constantFrom("queued" as const, "running" as const, "succeeded" as const),
      type: fc.constantFrom("a", "b"),
    });
    fc.assert(
      fc.property(
        fc.array(row, { maxLength: 60 }),
        fc.integer({ min: 1, max: 7 }),
        fc.option(fc.constantFrom("a", "b"), { nil: undefined }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 3, max: 7 }),
        (rows, limit, type, since, until) => {
          const t = new TaskTable();
          rows.forEach((r, i) => t.set(record(`t${String(i).padStart(2, "0")}`, r), 1));
          t.delete("t03");
          const states = ["queued", "succeeded"] as const;
          const expected = rows
            .map((r, i) => ({ ...r, id: `t${String(i).padStart(2, "0")}` }))
            .filter((r) => r.id !== "t03" && states.includes(r.state as (typeof states)[number]))
            .filter((r) => (type === undefined || r.type === type) && r.createdAt >= since)
            .filter((r) => r.createdAt < until)
            .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
            .map((r) => r.id);
          // Page through with the cursor: every match once, in order.
          const seen: string[] = [];
          let after: { createdAt: number; id: string } | null = null;
          for (;;) {
            const { page, matching } = t.selectPage({
              states,
              ...(type !== undefined ? { type } : {}),
              since,
              until,
              after,
              limit,
            });
            expect(matching).toBe(expected.length - seen.length);
            seen.push(...page.map((p) => p.id));
            if (page.length === matching) break;
            after = page.at(-1)!;
          }
          expect(seen).toEqual(expected);
        },
      ),
    );
  });

  it("orders slots as compareQueued orders their tasks (property)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            id: fc.stringMatching(/^[a-c]{1,3}$/),
            priority: fc.integer({ min: -1000, max: 1000 }),
            createdAt: fc.integer({ min: 0, max: 3 }),
          }),
          { minLength: 2, maxLength: 20 },
        ),
        (rows) => {
          const t = new TaskTable();
          for (const r of rows) t.set(record(r.id, r), 1);
          const slots = [...t.slotsIn(["queued"])];
          for (const a of slots)
            for (const b of slots)
              expect(Math.sign(t.order(a, b))).toBe(Math.sign(compareQueued(t.at(a), t.at(b))));
        },
      ),
    );
  });

  it("does not reuse the slot of a task the queue still holds a dead entry for", () => {
    const queue: QueueIndex = new QueueIndex((a, b) => table.order(a, b));
    const table: TaskTable = new TaskTable((slot) => !queue.references(slot));
    const put = (id: string, createdAt: number, state: TaskRecord["state"] = "queued") => {
      const slot = table.set(record(id, { createdAt, state }), 1);
      if (state === "queued") queue.add(slot, table.shapeAt(slot));
      return slot;
    };
    // A heap of [a, d, b, c, e]: c and e sit under d.
    for (const [id, at] of [
      ["a", 1],
      ["d", 2],
      ["b", 5],
      ["c", 3],
      ["e", 4],
    ] as const)
      put(id, at);
    queue.remove(table.slotOf("d")!);
    table.delete("d");
    // A new task may not take d's slot while d's dead entry is in the heap: its age would
    // move the dead entry and hide c under it.
    put("x", 10, "running");
    const order: string[] = [];
    queue.drain(
      () => true,
      (slot) => {
        order.push(table.idAt(slot));
        return "taken";
      },
    );
    expect(order).toEqual(["a", "c", "e", "b"]);
  });

  it("reuses a deleted task's slot only once the queue no longer refers to it (property)", () => {
    // The mirror's use of the two together: records change state, are deleted and new tasks
    // take their slots; the queue must always yield the queued tasks in scheduling order.
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("put" as const),
        id: fc.integer({ min: 0, max: 30 }),
        queued: fc.boolean(),
        priority: fc.integer({ min: -2, max: 2 }),
        createdAt: fc.integer({ min: 0, max: 10 }),
      }),
      fc.record({ kind: fc.constant("delete" as const), id: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ kind: fc.constant("take" as const), n: fc.integer({ min: 0, max: 4 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const queue: QueueIndex = new QueueIndex((a, b) => table.order(a, b));
        const table: TaskTable = new TaskTable((slot) => !queue.references(slot));
        // id -> what its record says, while the table holds it (priority and age never change)
        const ref = new Map<string, { priority: number; createdAt: number; queued: boolean }>();
        for (const o of ops) {
          if (o.kind === "put") {
            const id = `t${o.id}`;
            const known = ref.get(id);
            const row = {
              priority: o.priority,
              createdAt: o.createdAt,
              ...known,
              queued: o.queued,
            };
            const old = table.slotOf(id);
            if (old !== undefined) queue.remove(old);
            const slot = table.set(
              record(id, { ...row, state: o.queued ? "queued" : "running" }),
              1,
            );
            if (o.queued) queue.add(slot, table.shapeAt(slot));
            ref.set(id, row);
          } else if (o.kind === "delete") {
            const slot = table.slotOf(`t${o.id}`);
            if (slot !== undefined) queue.remove(slot);
            table.delete(`t${o.id}`);
            ref.delete(`t${o.id}`);
          } else {
            const expected = [...ref.entries()]
              .filter(([, r]) => r.queued)
              .map(([id, r]) => ({ id, ...r }))
              .sort(compareQueued)
              .slice(0, o.n)
              .map((r) => r.id);
            const got: string[] = [];
            queue.drain(
              () => true,
              (slot) => {
                if (got.length >= o.n) return "shape-full";
                got.push(table.idAt(slot));
                return "taken";
              },
            );
            expect(got).toEqual(expected);
            // Taken tasks leave the queue but stay queued in their records until written.
            for (const id of got) ref.set(id, { ...ref.get(id)!, queued: false });
          }
        }
      }),
    );
  });
});

describe("TaskTable.countsByType", () => {
  it("follows every set, state change and delete", () => {
    const t = new TaskTable();
    const counts = (): string[] =>
      [...t.countsByType()].map((c) => `${c.type}/${c.state}=${c.count}`).sort();
    t.set(record("a"), 1);
    t.set(record("b", { type: "resize" }), 2);
    t.set(record("c", { type: "resize", state: "running", workerId: "w1" }), 3);
    expect(counts()).toEqual(["echo/queued=1", "resize/queued=1", "resize/running=1"]);
    t.set(record("a", { state: "assigned", workerId: "w1" }), 4);
    t.set(record("b", { type: "resize", state: "running", workerId: "w1" }), 5);
    expect(counts()).toEqual(["echo/assigned=1", "resize/running=2"]);
    t.delete("a");
    t.delete("b");
    t.delete("c");
    expect(counts()).toEqual([]);
  });
});
