/**
 * Worker lifecycle on a real nats-server: self-fencing when cut off from NATS, graceful drain
 * on SIGTERM (finish within the grace period, hand back the rest).
 */
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { subjects } from "../../src/protocol/index.ts";
import type { HandlerMap } from "../../src/runtime/index.ts";
import examples from "../../src/examples/handlers.ts";
import { startDrover } from "../fixtures/drover.ts";
import { startNats } from "../fixtures/nats.ts";
import type { NatsHandle } from "../fixtures/nats.ts";
import { startTcpProxy } from "../fixtures/tcp-proxy.ts";

let nats: NatsHandle;
beforeAll(async () => {
  nats = await startNats();
});
afterAll(async () => {
  await nats?.[Symbol.asyncDispose]();
});

describe("self-fencing", () => {
  it("a worker cut off from NATS aborts its task before the leader reassigns it; it reruns elsewhere once", async () => {
    await using d = await startDrover({ servers: nats.servers });
    await using proxy = await startTcpProxy(nats.servers[0]!);
    let fencedAt = 0;
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const hold: HandlerMap = {
      hold: ({ signal }) =>
        new Promise((_, reject) => {
          started();
          signal.addEventListener("abort", () => {
            fencedAt = Date.now();
            reject(signal.reason as Error);
          });
        }),
    };
    const victim = await d.addWorker({ id: "victim", handlers: hold }, [proxy.url]);
    const { id } = await d.client.submit({ type: "hold", timeoutMs: 60_000 });
    await running;
    await d.waitFor(
      async () => (await d.client.get(id)).state === "running",
      "the task to run on the victim",
    );

    await d.addWorker({ id: "survivor", handlers: { hold: () => "done elsewhere" } });
    const cutAt = Date.now();
    proxy.cut();
    const final = await d.client.wait(id);
    expect(final.state).toBe("succeeded");
    expect(final.result).toBe("done elsewhere");
    expect(final.attempt).toBe(2);
    const lost = final.history.find((h) => h.event === "WORKER_LOST");
    expect(lost).toBeDefined();
    // Fenced first, reassigned after: never two live executions of the same epoch.
    expect(fencedAt).toBeGreaterThan(cutAt);
    expect(fencedAt).toBeLessThan(lost!.at);
    expect(victim.stats.fenced).toBe(1);

    proxy.heal();
    await d.waitFor(() => victim.state === "ready.idle", "the victim to re-register");
    await d.waitForWorker("victim");
    const after = await d.client.get(id);
    expect(after.state).toBe("succeeded");
    expect(after.history.filter((h) => h.to === "succeeded")).toHaveLength(1);
  });
});

describe("graceful drain (SIGTERM)", () => {
  it("finishes running tasks within the grace period and leaves the pool", async () => {
    await using d = await startDrover({ servers: nats.servers });
    const w = await d.spawnWorker("drainer", ["--drain-grace-ms", "10000"]);
    const { id } = await d.client.submit({ type: "sleep", payload: { ms: 800 } });
    await d.waitFor(async () => (await d.client.get(id)).state === "running", "the task to run");
    w.kill("SIGTERM");
    const [code] = (await once(w, "exit")) as [number | null];
    expect(code).toBe(0);
    // Its report was stored before it left; the leader applies it, and does not requeue the
    // task on seeing the worker's key deleted (it reads the two from different streams).
    const rec = await d.client.wait(id);
    expect(rec.state).toBe("succeeded");
    expect(rec.attempt).toBe(1);
    await d.waitFor(
      async () => !(await d.client.workers()).some((x) => x.id === "drainer"),
      "the worker to leave",
    );
  });

  it("hands back tasks that outlive the grace period; they complete elsewhere", async () => {
    await using d = await startDrover({ servers: nats.servers });
    const w = await d.spawnWorker("short-grace", ["--drain-grace-ms", "200"]);
    const { id } = await d.client.submit({ type: "sleep", payload: { ms: 3_000 } });
    await d.waitFor(async () => (await d.client.get(id)).state === "running", "the task to run");
    // What the draining worker reports for it (the reports subject, seen with plain NATS).
    const kinds: string[] = [];
    const sub = d.client.nc.subscribe(subjects(d.prefix).report("short-grace", id), {
      callback: (_err, m) => {
        kinds.push(m.json<{ kind: string }>().kind);
      },
    });
    await d.client.nc.flush();
    w.kill("SIGTERM");
    await once(w, "exit");
    await d.addWorker({ id: "next", handlers: examples });
    const rec = await d.client.wait(id);
    sub.unsubscribe();
    expect(rec.state).toBe("succeeded");
    // Handed back (not a failure) and finished on the worker that was left.
    expect(kinds).toContain("released");
    expect(rec.attempt).toBeGreaterThanOrEqual(2);
    expect(rec.failures).toBe(0);
    // The leader applies the hand-back from the reports stream and the heartbeat's deletion
    // from the workers bucket: two streams, no order between them. Either requeues the task.
    expect(rec.history.some((h) => h.event === "RELEASE" || h.event === "WORKER_LOST")).toBe(true);
    expect(rec.placement?.workerId).toBe("next");
  });
});
