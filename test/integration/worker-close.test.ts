/**
 * Closing a worker is ordered and idempotent. `close()` used to delete the heartbeat (so the
 * leader requeued its tasks at once) while its handlers went on running — the same task ran on
 * two workers at the same time — and a second `close()` (or `drain()`) returned at once instead
 * of waiting for the first.
 */
import { describe, expect, it } from "vitest";
import type { HandlerMap } from "../../src/runtime/index.ts";
import { startDrover } from "../fixtures/drover.ts";
import { useNats } from "../fixtures/nats.ts";

const env = useNats();

/** A handler that runs until aborted, logging when each execution starts and ends. */
function recorder() {
  const log: { worker: string; event: "start" | "end"; at: number }[] = [];
  let onStart = (): void => undefined;
  const handlersFor = (worker: string): HandlerMap => ({
    hold: async ({ signal }) => {
      log.push({ worker, event: "start", at: performance.now() });
      onStart();
      try {
        await new Promise<void>((_, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason as Error), { once: true }),
        );
      } finally {
        log.push({ worker, event: "end", at: performance.now() });
      }
    },
  });
  const started = (worker: string): Promise<void> =>
    new Promise((resolve) => {
      onStart = () => {
        if (log.some((e) => e.worker === worker && e.event === "start")) resolve();
      };
      onStart();
    });
  return { log, handlersFor, started };
}

describe("Worker.close()", () => {
  it("aborts its running handler before its task can run elsewhere, and hands it back", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    const r = recorder();
    const w1 = await d.addWorker({ id: "w1", handlers: r.handlersFor("w1") });
    const { id } = await d.client.submit({ type: "hold" });
    await r.started("w1");
    await d.addWorker({ id: "w2", handlers: r.handlersFor("w2") });
    const w2Started = r.started("w2");
    await w1.close();
    // Done when close() resolves: the handler has ended.
    expect(r.log.filter((e) => e.worker === "w1").map((e) => e.event)).toEqual(["start", "end"]);
    await w2Started;
    const w1End = r.log.find((e) => e.worker === "w1" && e.event === "end")!.at;
    const w2Start = r.log.find((e) => e.worker === "w2" && e.event === "start")!.at;
    expect(w2Start).toBeGreaterThan(w1End);
    const t = await d.client.get(id);
    expect(t.workerId).toBe("w2");
    expect(t.history.some((h) => h.event === "RELEASED" || /release/i.test(h.event))).toBe(true);
  });

  it("returns the same promise every time; so does drain()", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    const r = recorder();
    const w = await d.addWorker({ id: "w1", handlers: r.handlersFor("w1") });
    await d.client.submit({ type: "hold" });
    await r.started("w1");
    const drained = w.drain(60_000);
    expect(w.drain(60_000)).toBe(drained);
    // close() during a drain cuts the grace period short; the drain ends with it.
    const closed = w.close();
    expect(w.close()).toBe(closed);
    await closed;
    await drained;
    expect(w.state).toBe("stopped");
    expect(r.log.map((e) => e.event)).toEqual(["start", "end"]);
  });
});
