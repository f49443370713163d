/**
 * A full task store must not take the control plane with it: the data buckets have byte
 * limits below the server's store, submits are refused (retryable `capacity_exhausted`) before
 * the limit, the lease and the heartbeats keep working, accepted tasks still run, and submits
 * succeed again once retention has freed space. Runs a real nats-server process with a small
 * JetStream store (a config file, which the container fixture does not take).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startNatsServer, stopChildren } from "../../src/cli/local.ts";
import type { LocalNats } from "../../src/cli/local.ts";
import { DroverError } from "../../src/protocol/index.ts";
import type { HandlerMap } from "../../src/runtime/index.ts";
import { startDrover } from "../fixtures/drover.ts";

const MiB = 1_048_576;
let server: LocalNats | undefined;
let url = "";
let dir = "";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "drover-small-store-"));
  const port = await freePort();
  url = `nats://127.0.0.1:${port}`;
  const conf = join(dir, "nats.conf");
  writeFileSync(
    conf,
    `listen: 127.0.0.1:${port}\n` +
      `jetstream { store_dir: "${join(dir, "data")}", max_memory_store: 32MB, max_file_store: 48MB }\n`,
  );
  server = await startNatsServer(["-c", conf], url, AbortSignal.timeout(30_000));
});

afterAll(async () => {
  if (server !== undefined) await stopChildren([server.proc]);
  rmSync(dir, { recursive: true, force: true });
});

describe("a full task store", () => {
  it("refuses submits with capacity_exhausted while the lease, heartbeats and accepted tasks keep working", async () => {
    await using d = await startDrover({
      servers: [url],
      maxBytes: {
        tasks: 6 * MiB,
        idempotency: 2 * MiB,
        reports: 4 * MiB,
        events: 4 * MiB,
        finished: 2 * MiB,
      },
    });
    const term = d.leader()!.term;
    const pad = "x".repeat(4_096);
    const keyed = await d.client.submit({ type: "later", idempotencyKey: "order-1" });
    const accepted: string[] = [keyed.id];
    let refusal: DroverError | null = null;
    // Fill the store: tasks no worker runs yet, each finishing record kept 1 s.
    for (let round = 0; round < 200 && refusal === null; round++) {
      const replies = await Promise.allSettled(
        Array.from({ length: 50 }, () =>
          d.client.submit({ type: "later", payload: { pad }, retentionMs: 1_000 }),
        ),
      );
      for (const r of replies) {
        if (r.status === "fulfilled") accepted.push(r.value.id);
        else if (r.reason instanceof DroverError && r.reason.code === "capacity_exhausted")
          refusal = r.reason;
        else throw r.reason;
      }
    }
    expect(refusal).not.toBeNull();
    expect(refusal!.message).toMatch(/task store is full/);
    // ~6 MiB of 4 KiB records, refused from 80 %.
    expect(accepted.length).toBeGreaterThan(500);
    // A retried submit of an accepted task is still answered, full store or not.
    expect(await d.client.submit({ type: "later", idempotencyKey: "order-1" })).toEqual({
      id: keyed.id,
      duplicate: true,
    });

    // Heartbeats still land: a worker registers, and runs every accepted task.
    const handlers: HandlerMap = { later: () => "done" };
    await d.addWorker({ id: "w1", handlers, capacity: { cpu: 8, memoryMb: 8192, slots: 32 } });
    // (Their records expire 1 s after they succeed, so count what is left, not what is done.)
    await d.waitFor(
      async () => {
        const { tasks } = await d.client.health();
        return (tasks.queued ?? 0) + (tasks.assigned ?? 0) + (tasks.running ?? 0) === 0;
      },
      "every accepted task to finish",
      60_000,
    );
    const { tasks } = await d.client.health();
    expect((tasks.failed ?? 0) + (tasks.dead ?? 0) + (tasks.timed_out ?? 0)).toBe(0);
    // The lease never lapsed.
    expect(d.leader()!.term).toBe(term);

    // Retention frees the space: submits are accepted again.
    await d.waitFor(
      async () =>
        await d.client.submit({ type: "later", payload: { pad } }).then(
          () => true,
          () => false,
        ),
      "a submit to be accepted again",
      60_000,
    );
  });
});
