/**
 * A connection from connectNats writes what one event-loop turn sends in one socket write
 * (write-coalescing.ts), and loses nothing by it: not a burst, not what is sent just before
 * close(). Counted at the transport, which is where the system calls happen.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { connectNats } from "../../src/runtime/connection.ts";
import { coalesceWrites } from "../../src/runtime/write-coalescing.ts";
import { useNats } from "../fixtures/nats.ts";
import { uniquePrefix } from "../fixtures/prefix.ts";

const env = useNats();

/** Counts the transport's writes of `nc` from now on. */
function countWrites(nc: NatsConnection): { readonly count: number } {
  const transport = (nc as unknown as { protocol: { transport: { send(f: Uint8Array): void } } })
    .protocol.transport;
  const send = transport.send.bind(transport);
  const counter = { count: 0 };
  transport.send = (frame) => {
    counter.count++;
    send(frame);
  };
  return counter;
}

/** Publishes `n` messages on `subject`, each from a promise chain of its own (as async code does). */
async function burst(nc: NatsConnection, subject: string, n: number): Promise<void> {
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      for (let hop = 0; hop < i % 5; hop++) await Promise.resolve();
      nc.publish(subject, String(i));
    }),
  );
}

/** Resolves with the payloads of the first `n` messages on `subject`; fails after 10 s. */
function collect(nc: NatsConnection, subject: string, n: number): Promise<string[]> {
  const got: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got ${got.length} of ${n}`)), 10_000);
    nc.subscribe(subject, {
      max: n,
      callback: (_err, m) => {
        got.push(m.string());
        if (got.length !== n) return;
        clearTimeout(timer);
        resolve(got);
      },
    });
  });
}

describe("write coalescing", () => {
  it("sends a burst from 100 promise chains in one write, and all of it arrives", async () => {
    const subject = `${uniquePrefix("wc")}.burst`;
    const nc = await connectNats({ servers: env.nats.servers, name: "coalesced" });
    try {
      const received = collect(env.nc, subject, 100);
      await env.nc.flush();
      const writes = countWrites(nc);
      await burst(nc, subject, 100);
      await nc.flush();
      // The burst and flush()'s PING: one write each at most.
      expect(writes.count).toBeLessThanOrEqual(2);
      expect((await received).sort((a, b) => +a - +b)).toEqual(
        Array.from({ length: 100 }, (_, i) => String(i)),
      );
    } finally {
      await nc.close();
    }
  });

  it("is what makes the difference: nats.js alone writes the same burst many times", async () => {
    const subject = `${uniquePrefix("wc")}.plain`;
    const { connect } = await import("@nats-io/transport-node");
    const nc = await connect({ servers: env.nats.servers });
    try {
      const writes = countWrites(nc);
      await burst(nc, subject, 100);
      await nc.flush();
      expect(writes.count).toBeGreaterThan(2);
    } finally {
      await nc.close();
    }
  });

  it("writes what was sent right before close()", async () => {
    const subject = `${uniquePrefix("wc")}.close`;
    const nc = await connectNats({ servers: env.nats.servers, name: "closing" });
    const received = collect(env.nc, subject, 3);
    await env.nc.flush();
    for (const m of ["a", "b", "c"]) nc.publish(subject, m);
    await nc.close();
    expect(await received).toEqual(["a", "b", "c"]);
  });

  it("refuses an object that is not a nats.js connection it knows", () => {
    expect(coalesceWrites({})).toBe(false);
    expect(coalesceWrites({ protocol: { flushPending: () => undefined } })).toBe(false);
  });
});
