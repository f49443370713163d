/**
 * The expiry markers that announce a dead worker or a free lease are the fast path; these
 * tests take them away (a KV message deleted by sequence leaves no marker and no watch event,
 * which is what a watch re-created after a NATS node died sees when the marker expired in
 * between) and prove that Drover still finds out.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { encode, resourceNames } from "../../src/protocol/index.ts";
import type { WorkerHeartbeat } from "../../src/protocol/index.ts";
import { ensureResources, Leadership, Mirror } from "../../src/runtime/index.ts";
import { fakeHeartbeat } from "../fixtures/heartbeat.ts";
import { useNats } from "../fixtures/nats.ts";
import { uniquePrefix } from "../fixtures/prefix.ts";

const log = pino({ level: "silent" });
const TTL = 1_000;

/** Deletes a KV entry's message by sequence: the key vanishes without any marker. */
async function vanish(nc: NatsConnection, bucket: string, revision: number): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.deleteMessage(`KV_${bucket}`, revision, false);
}

describe("backstops for a missed expiry event", () => {
  const env = useNats();

  it("the mirror reports a worker gone when its key vanished without a marker", async () => {
    const prefix = uniquePrefix("bs");
    const buckets = await ensureResources(env.nc, prefix, { replicas: 1, heartbeatTtlMs: TTL });
    const mirror = new Mirror(buckets, log, TTL);
    const gone: { id: string; at: number }[] = [];
    mirror.listen({ workerGone: (id) => gone.push({ id, at: Date.now() }) });
    await mirror.start();
    try {
      const info = (id: string): WorkerHeartbeat =>
        fakeHeartbeat(id, { capacity: { cpu: 1, memoryMb: 512, slots: 1 } });
      // "alive" keeps heartbeating; "ghost" writes once, then its message is deleted.
      const alive = setInterval(
        () => void buckets.workers.put("alive", encode(info("alive"))),
        300,
      );
      const revision = await buckets.workers.put("ghost", encode(info("ghost")));
      await expect.poll(() => mirror.workers.has("ghost")).toBe(true);
      const vanishedAt = Date.now();
      await vanish(env.nc, resourceNames(prefix).buckets.workers, revision);
      await expect.poll(() => gone.map((g) => g.id), { timeout: 10_000 }).toEqual(["ghost"]);
      clearInterval(alive);
      // Found by the backstop: after two TTLs of silence, within one more check.
      expect(gone[0]!.at - vanishedAt).toBeLessThan(4 * TTL + 1_000);
      expect(mirror.workers.has("ghost")).toBe(false);
      expect(mirror.workers.has("alive")).toBe(true);
    } finally {
      mirror.stop();
    }
  });

  it("a follower takes the lease when it vanished without a marker", async () => {
    const prefix = uniquePrefix("bs");
    await ensureResources(env.nc, prefix, { replicas: 1, leaseTtlMs: TTL });
    const ncA = await connect({ servers: env.nats.servers });
    const ncB = await connect({ servers: env.nats.servers });
    const elected: string[] = [];
    const replica = async (conn: NatsConnection, id: string): Promise<Leadership> => {
      const { leader } = await ensureResources(conn, prefix, { replicas: 1, leaseTtlMs: TTL });
      const l: Leadership = new Leadership({
        kv: leader,
        replicaId: id,
        leaseTtlMs: TTL,
        log,
        onElected: () => void elected.push(id),
        onDeposed: () => undefined,
      });
      await l.start();
      return l;
    };
    const a = await replica(ncA, "a");
    await expect.poll(() => elected).toEqual(["a"]);
    const b = await replica(ncB, "b");
    try {
      // "a" dies without a word, and the lease's message vanishes with it: no PURGE ever comes.
      const { leader } = await ensureResources(env.nc, prefix, { replicas: 1, leaseTtlMs: TTL });
      const lease = await leader.get("lease");
      await ncA.close();
      await vanish(env.nc, resourceNames(prefix).buckets.leader, lease!.revision);
      await expect.poll(() => elected, { timeout: 10_000 }).toEqual(["a", "b"]);
      expect(b.term).toBeGreaterThan(a.term ?? 0);
    } finally {
      await b.stop();
      await a.stop().catch(() => undefined);
      await ncB.close();
    }
  });
});
