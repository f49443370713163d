/**
 * A failed assignment must not turn into a placement loop: a worker whose heartbeat is live
 * but whose process is gone or frozen, or that refuses, is held back until it heartbeats again
 * and its back-off has passed; an assignment that every worker would refuse fails its task.
 */
import { describe, expect, it } from "vitest";
import { encode, subjects } from "../../src/protocol/index.ts";
import { ensureResources } from "../../src/runtime/index.ts";
import examples from "../../src/examples/handlers.ts";
import { startDrover } from "../fixtures/drover.ts";
import { fakeHeartbeat } from "../fixtures/heartbeat.ts";
import { useNats } from "../fixtures/nats.ts";

const env = useNats();

describe("no placement loop", () => {
  it("a worker with a live heartbeat and no process draws a handful of assignments, not hundreds", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    const { workers } = await ensureResources(env.nc, d.prefix, {
      heartbeatTtlMs: d.heartbeatTtlMs,
    });
    // A heartbeat without a process behind it: every assignment gets "no responders" at once.
    const beat = (): Promise<number> => workers.put("ghost", encode(fakeHeartbeat("ghost")));
    await beat();
    const timer = setInterval(() => void beat(), 300);
    let id: string;
    try {
      await d.waitForWorker("ghost");
      ({ id } = await d.client.submit({ type: "echo", payload: { n: 1 } }));
      // Keep the ghost alive for 3 s: long enough for hundreds of assignments without a hold.
      await new Promise((r) => setTimeout(r, 3_000));
    } finally {
      clearInterval(timer);
    }
    await d.waitFor(
      async () => !(await d.client.workers()).some((w) => w.id === "ghost"),
      "the ghost's heartbeat to expire",
    );
    const held = await d.client.get(id);
    expect(held.state).toBe("queued");
    // Back-off of 250, 500, 1000 ms after heartbeats every 300 ms: about 4 in 3 s.
    expect(held.attempt).toBeGreaterThanOrEqual(1);
    expect(held.attempt).toBeLessThanOrEqual(8);
    expect(held.history.some((h) => h.reason?.includes("no responders") === true)).toBe(true);

    // A real worker then runs it.
    await d.addWorker({ id: "w1", handlers: examples });
    const done = await d.client.wait(id);
    expect(done.state).toBe("succeeded");
    expect(done.workerId ?? done.history.at(-1)?.to).toBeTruthy();
  });

  it("a frozen worker process (SIGSTOP) holds each task for one assignment until its heartbeat expires", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    const frozen = await d.spawnWorker("frozen", ["--slots", "8"]);
    frozen.kill("SIGSTOP");
    try {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push((await d.client.submit({ type: "echo" })).id);
      await d.waitFor(
        async () => !(await d.client.workers()).some((w) => w.id === "frozen"),
        "the frozen worker's heartbeat to expire",
      );
      // Let the leader run its passes for a while with nobody to take the tasks.
      await new Promise((r) => setTimeout(r, 2_000));
      for (const id of ids) expect((await d.client.get(id)).attempt).toBeLessThanOrEqual(2);
      await d.addWorker({ id: "w1", handlers: examples });
      for (const id of ids) expect((await d.client.wait(id)).state).toBe("succeeded");
    } finally {
      frozen.kill("SIGKILL");
    }
  });

  it("an assignment every worker would refuse fails its task with the reason instead of bouncing", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    const { workers } = await ensureResources(env.nc, d.prefix, {
      heartbeatTtlMs: d.heartbeatTtlMs,
    });
    // A worker that answers every assignment with a refusal no other worker would overcome.
    let offers = 0;
    const sub = env.nc.subscribe(subjects(d.prefix).workerAssign("picky"), {
      callback: (_err, msg) => {
        offers++;
        msg.respond(
          encode({
            ok: false,
            error: { code: "payload_too_large", message: "assignment of 300000 bytes" },
          }),
        );
      },
    });
    await env.nc.flush();
    const beat = (): Promise<number> => workers.put("picky", encode(fakeHeartbeat("picky")));
    await beat();
    const timer = setInterval(() => void beat(), 300);
    try {
      await d.waitForWorker("picky");
      const { id } = await d.client.submit({ type: "echo" });
      const t = await d.client.wait(id);
      expect(t.state).toBe("failed");
      expect(t.error?.code).toBe("payload_too_large");
      expect(t.error?.retryable).toBe(false);
      expect(t.attempt).toBe(1);
      expect(offers).toBe(1);
    } finally {
      clearInterval(timer);
      sub.unsubscribe();
    }
  });

  it("a payload at the API's size limit runs: every later message built from it is carried", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    await d.addWorker({ id: "w1", handlers: examples });
    // Just under the 262,144-byte request limit once wrapped in the submit body.
    const pad = "x".repeat(262_144 - 64);
    const { id } = await d.client.submit({ type: "echo", payload: { pad } });
    const t = await d.client.wait(id);
    expect(t.state).toBe("succeeded");
    expect(t.attempt).toBe(1);
  });
});
