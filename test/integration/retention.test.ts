/**
 * Finished work expires after its retention: the record (through a per-message TTL, so the
 * server removes it), the replicas' memory of it (they see the expiry marker), and — no
 * sooner — its idempotency key, so a resubmit of an expired task answers with the old id and
 * runs nothing. Work that is not finished never expires.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import { DroverError, resourceNames } from "../../src/protocol/index.ts";
import type { HandlerMap } from "../../src/runtime/index.ts";
import { ensureResources, TaskStore } from "../../src/runtime/index.ts";
import { startDrover } from "../fixtures/drover.ts";
import { useNats } from "../fixtures/nats.ts";
import { uniquePrefix } from "../fixtures/prefix.ts";

const env = useNats();

async function notFound(get: Promise<unknown>): Promise<string> {
  try {
    await get;
  } catch (err) {
    if (err instanceof DroverError && err.code === "not_found") return err.message;
    throw err;
  }
  return "";
}

describe("retention", () => {
  it("a finished record expires after its retention; its idempotency key outlives it; unfinished work stays", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    let runs = 0;
    const handlers: HandlerMap = {
      echo: ({ payload }) => {
        runs++;
        return payload;
      },
    };
    await d.addWorker({ id: "w1", handlers });
    // Nothing runs this type: it stays queued, whatever its retention.
    const waiting = await d.client.submit({ type: "nohandler", retentionMs: 1_000 });
    const kept = await d.client.submit({ type: "echo", payload: 1 });
    const short = await d.client.submit({
      type: "echo",
      payload: 2,
      retentionMs: 1_000,
      idempotencyKey: "order-7",
    });
    expect((await d.client.wait(short.id)).state).toBe("succeeded");
    expect((await d.client.wait(kept.id)).state).toBe("succeeded");
    expect(runs).toBe(2);

    // The record goes (the server expires it), and `get` says why.
    await d.waitFor(async () => (await notFound(d.client.get(short.id))) !== "", "expiry");
    expect(await notFound(d.client.get(short.id))).toMatch(/expired after its retention/);
    // The replica's mirror forgets it too (it saw the expiry marker on its watch).
    await d.waitFor(
      async () =>
        !(await d.client.list({ state: "succeeded" })).tasks.some((t) => t.id === short.id),
      "the mirror to drop the expired record",
    );
    // A resubmit with the key answers with the old id and runs nothing.
    const again = await d.client.submit({ type: "echo", payload: 2, idempotencyKey: "order-7" });
    expect(again).toEqual({ id: short.id, duplicate: true });
    expect(await notFound(d.client.get(short.id))).not.toBe("");
    expect(runs).toBe(2);
    // The default retention (24 h) keeps the other; queued work never expires.
    expect((await d.client.get(kept.id)).state).toBe("succeeded");
    expect((await d.client.get(waiting.id)).state).toBe("queued");
    // A batch read (what a list page uses) leaves out the expired record and unknown ids.
    const names = resourceNames(d.prefix).buckets;
    const store = new TaskStore(await new Kvm(env.nc).open(names.tasks), {
      js: jetstream(env.nc),
      bucket: names.tasks,
      idempotencyBucket: names.idempotency,
      onRetry: (_err, what) => fallbacks.push(what),
    });
    const fallbacks: string[] = [];
    const batch = await store.getMany([short.id, kept.id, "never-submitted", waiting.id]);
    expect([...batch.keys()].sort()).toEqual([kept.id, waiting.id].sort());
    expect(batch.get(kept.id)?.record.result).toBe(1);
    expect(batch.get(waiting.id)?.revision).toBe((await store.get(waiting.id))?.revision);
    // In one batch request, not one read each.
    expect(fallbacks).toEqual([]);
  });

  it("a re-run task does not expire while it runs again", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    const handlers: HandlerMap = {
      gate: ({ payload, attempt }) => {
        if (attempt === 1) throw new Error("first attempt fails");
        return payload;
      },
    };
    const { id } = await d.client.submit({
      type: "gate",
      retentionMs: 1_000,
      retry: { maxAttempts: 1 },
    });
    await d.addWorker({ id: "w1", handlers });
    expect((await d.client.wait(id)).state).toBe("dead");
    // Re-run at once; without a worker for a moment it sits queued past its old TTL.
    await d.workers[0]!.close();
    expect((await d.client.retry(id)).state).toBe("queued");
    await new Promise((r) => setTimeout(r, 2_500));
    expect((await d.client.get(id)).state).toBe("queued");
  });

  it("brings a tasks bucket created without per-message TTLs up to date", async () => {
    const prefix = uniquePrefix("ret");
    const names = resourceNames(prefix);
    // As versions before retention created it.
    await new Kvm(env.nc).create(names.buckets.tasks, { history: 1 });
    await new Kvm(env.nc).create(names.buckets.idempotency, { history: 1, ttl: 86_400_000 });
    await ensureResources(env.nc, prefix);
    const jsm = await jetstreamManager(env.nc);
    const tasks = (await jsm.streams.info(`KV_${names.buckets.tasks}`)).config;
    expect(tasks.allow_msg_ttl).toBe(true);
    expect(tasks.subject_delete_marker_ttl).toBeGreaterThan(0);
    const idem = (await jsm.streams.info(`KV_${names.buckets.idempotency}`)).config;
    expect(idem.allow_msg_ttl).toBe(true);
    expect(idem.max_age).toBe(0);
  });
});
