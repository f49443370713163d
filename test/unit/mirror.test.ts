/**
 * The mirror without a server: KV watch entries (as nats.js delivers them) in, the compact
 * view of unfinished tasks and live workers out.
 */
import type { KV, KvWatchEntry } from "@nats-io/kv";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { applyTaskEvent } from "../../src/actors/index.ts";
import { encode, newTaskRecord, SubmitTaskRequest } from "../../src/protocol/index.ts";
import type { TaskRecord, WorkerHeartbeat } from "../../src/protocol/index.ts";
import type { Buckets } from "../../src/runtime/index.ts";
import { Mirror } from "../../src/runtime/mirror.ts";
import type { MirrorTask } from "../../src/runtime/mirror-task.ts";

/** A bucket whose watch delivers what the test pushes (the bucket starts empty). */
function fakeBucket(): { kv: KV; push(e: Partial<KvWatchEntry>): Promise<void> } {
  const queue: KvWatchEntry[] = [];
  let wake: (() => void) | null = null;
  let stopped = false;
  const iter = {
    stop: () => {
      stopped = true;
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      while (!stopped) {
        const e = queue.shift();
        if (e !== undefined) yield e;
        else await new Promise<void>((r) => (wake = r));
      }
    },
  };
  const kv = {
    status: () => Promise.resolve({ values: 0 }),
    watch: () => Promise.resolve(iter),
    get: () => Promise.resolve(null),
  } as unknown as KV;
  return {
    kv,
    async push(e) {
      queue.push({ isUpdate: true, delta: 0, operation: "PUT", ...e } as KvWatchEntry);
      wake?.();
      // Let the watch loop take it.
      await new Promise((r) => setImmediate(r));
    },
  };
}

function task(id: string, state: "queued" | "assigned" | "succeeded"): TaskRecord {
  let r = newTaskRecord(id, SubmitTaskRequest.parse({ type: "echo" }), 0);
  const placement = { strategy: "first-fit", workerId: "w1", reason: "t", candidates: [], at: 0 };
  if (state !== "queued") {
    const res = applyTaskEvent(r, { type: "ASSIGN", at: 1, workerId: "w1", term: 1, placement });
    if (!res.ok) throw new Error(res.reason);
    r = res.record;
  }
  if (state === "succeeded") {
    const res = applyTaskEvent(r, { type: "SUCCEED", at: 2, epoch: 1, result: null });
    if (!res.ok) throw new Error(res.reason);
    r = res.record;
  }
  return r;
}

const worker = (id: string): WorkerHeartbeat => ({
  v: 1,
  id,
  types: ["echo"],
  capacity: { cpu: 1, memoryMb: 512, slots: 2 },
  labels: {},
  state: "ready",
  startedAt: 0,
  heartbeatAt: 0,
  running: [],
  recent: [],
  hostname: "h",
  pid: 1,
  version: "test",
});

async function started() {
  const tasks = fakeBucket();
  const workers = fakeBucket();
  const buckets = { tasks: tasks.kv, workers: workers.kv } as unknown as Buckets;
  const mirror = new Mirror(buckets, pino({ level: "silent" }), 1_200);
  await mirror.start();
  return { mirror, tasks, workers };
}

describe("Mirror", () => {
  it("indexes queued tasks, tracks assigned ones by worker, and forgets finished ones", async () => {
    const { mirror, tasks } = await started();
    const seen: MirrorTask[] = [];
    mirror.listen({ task: (t) => seen.push(t) });
    try {
      await tasks.push({ key: "t1", revision: 1, value: encode(task("t1", "queued")) });
      expect(mirror.queue.size).toBe(1);
      await tasks.push({ key: "t1", revision: 2, value: encode(task("t1", "assigned")) });
      expect(mirror.queue.size).toBe(0);
      expect([...(mirror.byWorker.get("w1") ?? [])]).toEqual(["t1"]);
      // An older revision arriving late changes nothing.
      await tasks.push({ key: "t1", revision: 1, value: encode(task("t1", "queued")) });
      expect(mirror.queue.size).toBe(0);
      await tasks.push({ key: "t1", revision: 3, value: encode(task("t1", "succeeded")) });
      expect(seen.map((t) => t.state)).toEqual(["queued", "assigned", "succeeded"]);
      expect(mirror.tasks.revisionOf("t1")).toBeUndefined();
      expect(mirror.byWorker.has("w1")).toBe(false);
      expect(mirror.changes.since(0)).toEqual(["t1"]);
    } finally {
      mirror.stop();
    }
  });

  it("ignores a record that fails its schema or is stored under another id", async () => {
    const { mirror, tasks } = await started();
    try {
      await tasks.push({ key: "bad", revision: 1, value: new TextEncoder().encode("{ nope") });
      await tasks.push({ key: "other", revision: 2, value: encode(task("t9", "queued")) });
      expect(mirror.queue.size).toBe(0);
      expect(mirror.tasks.revisionOf("bad")).toBeUndefined();
      expect(mirror.tasks.revisionOf("other")).toBeUndefined();
    } finally {
      mirror.stop();
    }
  });

  it("a heartbeat brings a worker; an expiry marker (PURGE) or a delete takes it away", async () => {
    const { mirror, workers } = await started();
    const events: string[] = [];
    mirror.listen({
      workerUp: (w, isNew) => events.push(`up ${w.info.id}${isNew ? " (new)" : ""}`),
      workerGone: (id, how) => events.push(`gone ${id} ${how}`),
    });
    try {
      await workers.push({ key: "w1", revision: 1, value: encode(worker("w1")) });
      await workers.push({ key: "w1", revision: 2, value: encode(worker("w1")) });
      await workers.push({ key: "w2", revision: 3, value: encode(worker("w2")) });
      await workers.push({ key: "w1", revision: 4, operation: "PURGE", value: new Uint8Array() });
      await workers.push({ key: "w2", revision: 5, operation: "DEL", value: new Uint8Array() });
      expect(events).toEqual([
        "up w1 (new)",
        "up w1",
        "up w2 (new)",
        "gone w1 expired",
        "gone w2 deleted",
      ]);
      expect(mirror.workers.size).toBe(0);
    } finally {
      mirror.stop();
    }
  });

  it("hands full records to listeners for live changes only, not for a watch's replay", async () => {
    const { mirror, tasks } = await started();
    const records: string[] = [];
    mirror.listen({ record: (r) => records.push(`${r.id}:${r.state}`) });
    try {
      await tasks.push({
        key: "old",
        revision: 1,
        isUpdate: false,
        value: encode(task("old", "queued")),
      });
      await tasks.push({ key: "new", revision: 2, value: encode(task("new", "queued")) });
      expect(records).toEqual(["new:queued"]);
    } finally {
      mirror.stop();
    }
  });

  it("recognises its own write by its bytes when the watch delivers it before the acknowledgement", async () => {
    const { mirror, tasks } = await started();
    try {
      const mine = task("t1", "queued");
      const bytes = encode(mine);
      mirror.writing(mine, bytes);
      await tasks.push({ key: "t1", revision: 1, isUpdate: false, value: new Uint8Array(bytes) });
      // The very object written, not a decoded copy; and the acknowledgement changes nothing.
      expect(mirror.known("t1")?.record).toBe(mine);
      mirror.wrote(mine, 1, false);
      expect(mirror.known("t1")).toEqual({ record: mine, revision: 1 });
      expect(mirror.queue.size).toBe(1);

      // Other bytes under the same key (another replica's write landed first) are decoded.
      const pendingAssign = task("t1", "assigned");
      mirror.writing(pendingAssign, encode(pendingAssign));
      const theirs = { ...task("t1", "assigned"), workerId: "w9" };
      await tasks.push({ key: "t1", revision: 2, value: encode(theirs) });
      expect(mirror.known("t1")?.record).not.toBe(pendingAssign);
      expect(mirror.known("t1")?.record.workerId).toBe("w9");
    } finally {
      mirror.stop();
    }
  });

  it("takes in its own writes at once and skips the watch's copy of them, finished ones too", async () => {
    const { mirror, tasks } = await started();
    const seen: string[] = [];
    mirror.listen({ task: (t) => seen.push(`${t.id}:${t.state}`) });
    try {
      mirror.wrote(task("t1", "queued"), 1, false);
      expect(mirror.queue.size).toBe(1);
      mirror.wrote(task("t1", "assigned"), 2, true);
      expect(mirror.queue.size).toBe(0);
      expect(mirror.known("t1")?.revision).toBe(2);
      // The watch delivers the same revisions later: nothing happens twice.
      await tasks.push({ key: "t1", revision: 1, value: encode(task("t1", "queued")) });
      await tasks.push({ key: "t1", revision: 2, value: encode(task("t1", "assigned")) });
      expect(seen).toEqual(["t1:queued", "t1:assigned"]);
      mirror.wrote(task("t1", "succeeded"), 3, true);
      expect(mirror.tasks.revisionOf("t1")).toBeUndefined();
      // The finished record's own copy from the watch: remembered as taken, not taken again.
      await tasks.push({ key: "t1", revision: 3, value: encode(task("t1", "succeeded")) });
      expect(seen).toEqual(["t1:queued", "t1:assigned", "t1:succeeded"]);
      // A later write by someone else (a retry of the finished task) is taken.
      await tasks.push({ key: "t1", revision: 4, value: encode(task("t1", "queued")) });
      expect(mirror.queue.size).toBe(1);
      expect(seen.at(-1)).toBe("t1:queued");
    } finally {
      mirror.stop();
    }
  });
});
