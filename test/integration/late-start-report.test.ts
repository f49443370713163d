/**
 * A start timeout hands back an assignment that was lost, never one its worker holds: while
 * the worker's heartbeats list the task, a late `started` report (the reports stream electing
 * a leader after a NATS node died, say) leaves the task where it is, so it does not run twice.
 */
import { describe, expect, it } from "vitest";
import type { Assignment } from "../../src/protocol/index.ts";
import {
  decode,
  encode,
  subjects,
  Assignment as AssignmentSchema,
} from "../../src/protocol/index.ts";
import { ensureResources } from "../../src/runtime/index.ts";
import examples from "../../src/examples/handlers.ts";
import { startDrover } from "../fixtures/drover.ts";
import { fakeHeartbeat } from "../fixtures/heartbeat.ts";
import { useNats } from "../fixtures/nats.ts";

const env = useNats();
const START_TIMEOUT_MS = 500;

describe("late start reports", () => {
  it("a start timeout leaves a task its worker's heartbeat lists; it hands it back once the list drops it", async () => {
    await using d = await startDrover({
      servers: env.nats.servers,
      scheduler: { startTimeoutMs: START_TIMEOUT_MS },
    });
    const { workers } = await ensureResources(env.nc, d.prefix, {
      heartbeatTtlMs: d.heartbeatTtlMs,
    });
    // A worker that accepts its assignment and lists it in every heartbeat, but whose
    // `started` report never arrives.
    const held: Assignment[] = [];
    let state: "ready" | "draining" = "ready";
    let listing = true;
    const sub = env.nc.subscribe(subjects(d.prefix).workerAssign("late"), {
      callback: (_err, msg) => {
        held.push(decode(AssignmentSchema, msg.data));
        msg.respond(encode({ ok: true }));
      },
    });
    await env.nc.flush();
    const beat = (): Promise<number> =>
      workers.put(
        "late",
        encode(
          fakeHeartbeat("late", {
            state,
            running: (listing ? held : []).map((a) => ({ taskId: a.taskId, epoch: a.epoch })),
          }),
        ),
      );
    await beat();
    const timer = setInterval(() => void beat(), 300);
    try {
      await d.waitForWorker("late");
      const { id } = await d.client.submit({ type: "echo", payload: { n: 1 } });
      await d.waitFor(async () => held.length === 1, "the assignment to reach the worker");
      const scheduler = d.leader()?.scheduler;
      if (scheduler == null) throw new Error("no leading scheduler");
      // Two start timeouts have passed and each left the task where it is.
      await d.waitFor(
        async () => scheduler.stats.lateStartsHeld >= 2,
        "two start timeouts held by the heartbeat",
      );
      const kept = await d.client.get(id);
      expect(kept.state).toBe("assigned");
      expect(kept.workerId).toBe("late");
      expect(kept.epoch).toBe(held[0]!.epoch);
      expect(kept.history.some((h) => h.event === "RELEASE")).toBe(false);

      // The worker stops listing it (and takes no more work): now it was lost, and goes back.
      state = "draining";
      listing = false;
      await d.waitFor(
        async () => (await d.client.get(id)).state === "queued",
        "the task handed back after the heartbeat dropped it",
      );
      await d.addWorker({ id: "w1", handlers: examples });
      const done = await d.client.wait(id);
      expect(done.state).toBe("succeeded");
      expect(done.workerId).toBe("w1");
      expect(held).toHaveLength(1);
      const reasons = done.history.map((h) => h.reason ?? "");
      expect(
        reasons.some((r) => r === "not started in time" || r === "not in late's heartbeat"),
      ).toBe(true);
    } finally {
      clearInterval(timer);
      sub.unsubscribe();
    }
  });
});
