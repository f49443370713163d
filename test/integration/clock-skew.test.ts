/**
 * Hosts' clocks differ. The leader must never compare a time a worker wrote (`heartbeatAt`)
 * with one it wrote itself (`assignedAt`): with a worker clock a minute ahead, a heartbeat
 * written just before the worker received an assignment looked a minute newer than it, and
 * the leader released a freshly acknowledged task, which then ran twice.
 */
import { Kvm } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import { encode, resourceNames, subjects } from "../../src/protocol/index.ts";
import type { RunningTask, WorkerHeartbeat } from "../../src/protocol/index.ts";
import { startDrover } from "../fixtures/drover.ts";
import { useNats } from "../fixtures/nats.ts";

const env = useNats();
const SKEW_MS = 60_000;

describe("clock skew", () => {
  it("a worker whose clock runs a minute ahead keeps the task it acknowledged", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    const kv = await new Kvm(env.nc).open(resourceNames(d.prefix).buckets.workers);
    // A worker of our own making: its heartbeats carry its (skewed) clock.
    let running: RunningTask[] = [];
    let beats = 0;
    const beat = async (): Promise<void> => {
      const info: WorkerHeartbeat = {
        v: 1,
        id: "skewed",
        types: ["echo"],
        capacity: { cpu: 1, memoryMb: 512, slots: 4 },
        labels: {},
        state: "ready",
        startedAt: Date.now() + SKEW_MS,
        heartbeatAt: Date.now() + SKEW_MS,
        running,
        recent: [],
        hostname: "skewed",
        pid: 1,
        version: "test",
      };
      await kv.put("skewed", encode(info));
      beats++;
    };
    await beat();
    const timer = setInterval(() => void beat(), 300);
    const assigned: RunningTask[] = [];
    const sub = env.nc.subscribe(subjects(d.prefix).workerAssign("skewed"), {
      callback: (_err, msg) => {
        const a = msg.json<{ taskId: string; epoch: number }>();
        msg.respond(encode({ ok: true }));
        // A heartbeat the worker wrote just before it took the task reaches the leader after
        // the acknowledgement; the next ones list the task.
        void beat().then(() => {
          running = [{ taskId: a.taskId, epoch: a.epoch }];
          assigned.push({ taskId: a.taskId, epoch: a.epoch });
        });
      },
    });
    try {
      await d.waitForWorker("skewed");
      const { id } = await d.client.submit({ type: "echo" });
      await d.waitFor(() => assigned.length > 0, "the assignment");
      // Several heartbeats (skewed, and now listing the task) later, it is still held.
      const after = beats;
      await d.waitFor(() => beats >= after + 4, "four more heartbeats");
      const t = await d.client.get(id);
      expect(t.state).toBe("assigned");
      expect(t.epoch).toBe(1);
      expect(t.history.map((h) => h.to)).not.toContain("queued");
      expect(assigned).toHaveLength(1);
    } finally {
      clearInterval(timer);
      sub.unsubscribe();
    }
  });
});
