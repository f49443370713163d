/**
 * A worker whose NATS server goes silent (SIGKILLed, cut off: no RST, bytes just stop) used
 * to fence itself — aborting its running tasks, which then ran again elsewhere — because the
 * client's pings find a dead link only after seconds, and its heartbeat deadline is 3/4 of a
 * TTL. Now a server that does not answer a ping during a heartbeat is left for another one at
 * once, and the heartbeat lands there in time: nothing is fenced, nothing runs twice.
 */
import { Kvm } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import { resourceNames } from "../../src/protocol/index.ts";
import type { WorkerInfo } from "../../src/protocol/index.ts";
import type { HandlerMap } from "../../src/runtime/index.ts";
import { startDrover } from "../fixtures/drover.ts";
import { useNats } from "../fixtures/nats.ts";
import { startTcpProxy } from "../fixtures/tcp-proxy.ts";

const env = useNats();

describe("a worker's server goes silent", () => {
  it("the worker moves to another server before its heartbeat deadline; its task runs once", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    // Two routes to the server; the one the worker uses is cut, like a node that died.
    await using a = await startTcpProxy(env.nats.servers[0]!);
    await using b = await startTcpProxy(env.nats.servers[0]!);
    let executions = 0;
    let release = (): void => undefined;
    const released = new Promise<void>((r) => (release = r));
    let started = (): void => undefined;
    const running = new Promise<void>((r) => (started = r));
    const handlers: HandlerMap = {
      hold: async () => {
        executions++;
        started();
        await released;
        return "done";
      },
    };
    const w = await d.addWorker({ id: "w1", handlers }, [a.url, b.url]);
    const { id } = await d.client.submit({ type: "hold", timeoutMs: 60_000 });
    await running;
    await d.waitFor(async () => (await d.client.get(id)).state === "running", "the task running");
    const used = a.connections > 0 ? a : b;
    used.cut();
    // Moved: a new connection through the other route (or a server the cluster advertised).
    await d.waitFor(() => w.stats.reconnects >= 1, "a forced reconnect", 10_000);
    // Three more heartbeats land (through the other route) while the task runs, unfenced.
    const kv = await new Kvm(env.nc).open(resourceNames(d.prefix).buckets.workers);
    const from = (await kv.get("w1"))!.revision;
    await d.waitFor(async () => (await kv.get("w1"))!.revision >= from + 3, "3 more heartbeats");
    const info = (await kv.get("w1"))!.json<WorkerInfo>();
    expect(info.running.map((r) => r.taskId)).toEqual([id]);
    expect(w.stats.fenced).toBe(0);
    release();
    const final = await d.client.wait(id, { signal: AbortSignal.timeout(30_000) });
    expect(final.state).toBe("succeeded");
    expect(final.attempt).toBe(1);
    expect(executions).toBe(1);
  });
});
