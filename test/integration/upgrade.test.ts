/**
 * Configuration drift. Streams and buckets were created idempotently and never brought up to
 * date: a cluster created by an older version kept its settings whatever a newer one needed
 * (no byte limits, no report redelivery bound, an idempotency bucket with a blanket TTL), and a
 * replica configured with a longer lease than the bucket's believed it held a lease the server
 * had already expired. Now what NATS can change is brought up to date, and what it cannot (or
 * what would be unsafe) refuses to start, saying what to run.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { jetstreamManager, RetentionPolicy } from "@nats-io/jetstream";
import type { StreamConfig } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import {
  encode,
  newTaskRecord,
  resourceNames,
  SubmitTaskRequest,
  subjects,
} from "../../src/protocol/index.ts";
import { ConfigDriftError, ensureResources, REPORT_MAX_DELIVER } from "../../src/runtime/index.ts";
import examples from "../../src/examples/handlers.ts";
import { startDrover, TEST_MAX_BYTES } from "../fixtures/drover.ts";
import { createLegacyResources } from "../fixtures/legacy-3508838.ts";
import { useNats } from "../fixtures/nats.ts";
import { uniquePrefix } from "../fixtures/prefix.ts";

const run = promisify(execFile);
const env = useNats();
const ns = (ms: number): number => ms * 1_000_000;

async function configs(prefix: string): Promise<Record<string, StreamConfig>> {
  const jsm = await jetstreamManager(env.nc);
  const n = resourceNames(prefix);
  const names = [...Object.values(n.buckets).map((b) => `KV_${b}`), ...Object.values(n.streams)];
  const out: Record<string, StreamConfig> = {};
  for (const name of names) out[name] = (await jsm.streams.info(name)).config;
  return out;
}

describe("a cluster created by an older version (3508838)", () => {
  it("is brought up to date where NATS allows it, and its queued task runs", async () => {
    const prefix = uniquePrefix("up");
    await createLegacyResources(env.nc, prefix);
    const n = resourceNames(prefix);
    // A task the old version accepted and never placed.
    const tasksKv = await new Kvm(env.nc).open(n.buckets.tasks);
    const old = newTaskRecord(
      "legacy-1",
      SubmitTaskRequest.parse({ type: "echo", payload: { from: "3508838" } }),
      Date.now(),
    );
    await tasksKv.create(old.id, encode(old));

    // A replica configured with a longer lease than the bucket's.
    const r = await ensureResources(env.nc, prefix, {
      leaseTtlMs: 3_000,
      maxBytes: TEST_MAX_BYTES,
    });
    expect(r.leaseTtlMs).toBe(3_000);
    // No heartbeat TTL configured: the cluster's is adopted.
    expect(r.heartbeatTtlMs).toBe(1_200);

    const c = await configs(prefix);
    const kvs = (b: keyof typeof n.buckets): StreamConfig => c[`KV_${n.buckets[b]}`]!;
    expect(kvs("leader").max_age).toBe(ns(3_000));
    expect(kvs("workers").max_age).toBe(ns(1_200));
    expect(kvs("tasks").allow_msg_ttl).toBe(true);
    expect(kvs("tasks").subject_delete_marker_ttl).toBe(ns(900_000));
    expect(kvs("tasks").max_bytes).toBe(TEST_MAX_BYTES.tasks);
    expect(kvs("idempotency").max_age).toBe(0);
    expect(kvs("idempotency").allow_msg_ttl).toBe(true);
    expect(c[n.streams.reports]!.max_bytes).toBe(TEST_MAX_BYTES.reports);
    expect(c[n.streams.events]!.max_bytes).toBe(TEST_MAX_BYTES.events);
    expect(c[n.streams.finished]!.allow_msg_ttl).toBe(true);
    const jsm = await jetstreamManager(env.nc);
    const consumer = await jsm.consumers.info(n.streams.reports, "leader");
    expect(consumer.config.max_deliver).toBe(REPORT_MAX_DELIVER);

    // A second start (and a process configured with less than the cluster has, left
    // unconfigured) changes nothing.
    const again = await ensureResources(env.nc, prefix, { maxBytes: TEST_MAX_BYTES });
    expect(again.leaseTtlMs).toBe(3_000);
    expect(await configs(prefix)).toEqual(c);

    await using d = await startDrover({ servers: env.nats.servers, prefix });
    await d.addWorker({ id: "w1", handlers: examples });
    const done = await d.client.wait(old.id, { signal: AbortSignal.timeout(30_000) });
    expect(done.state).toBe("succeeded");
    expect(done.result).toEqual({ from: "3508838" });
    // The idempotency bucket works with per-message TTLs now.
    const a = await d.client.submit({ type: "echo", payload: 2, idempotencyKey: "k1" });
    const b = await d.client.submit({ type: "echo", payload: 2, idempotencyKey: "k1" });
    expect(b.id).toBe(a.id);
    expect((await d.client.wait(a.id, { signal: AbortSignal.timeout(30_000) })).state).toBe(
      "succeeded",
    );
  });
});

describe("what cannot be brought up to date refuses to start, saying what to run", () => {
  it("a TTL shorter than the bucket's: refused; the nats CLI command it names lowers it", async () => {
    const prefix = uniquePrefix("ttl");
    const bucket = resourceNames(prefix).buckets.workers;
    await ensureResources(env.nc, prefix, { heartbeatTtlMs: 2_000, maxBytes: TEST_MAX_BYTES });
    // Unconfigured: adopts the cluster's.
    expect(
      (await ensureResources(env.nc, prefix, { maxBytes: TEST_MAX_BYTES })).heartbeatTtlMs,
    ).toBe(2_000);

    const refused = await ensureResources(env.nc, prefix, {
      heartbeatTtlMs: 800,
      maxBytes: TEST_MAX_BYTES,
    }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ConfigDriftError);
    const message = (refused as Error).message;
    expect(message).toContain("DROVER_HEARTBEAT_TTL_MS=2000");
    const command = /`(nats kv edit [^`]+)`/.exec(message)?.[1];
    expect(command).toBe(`nats kv edit ${bucket} --ttl 800ms`);
    const jsm = await jetstreamManager(env.nc);
    const before = (await jsm.streams.info(`KV_${bucket}`)).config;
    expect(before.max_age).toBe(ns(2_000));

    await run("nats", ["--server", env.nats.servers[0]!, ...command!.split(" ").slice(1)]);
    const r = await ensureResources(env.nc, prefix, {
      heartbeatTtlMs: 800,
      maxBytes: TEST_MAX_BYTES,
    });
    expect(r.heartbeatTtlMs).toBe(800);
    const after = (await jsm.streams.info(`KV_${bucket}`)).config;
    expect(after.max_age).toBe(ns(800));
    // What Drover relies on is kept: expiry markers, one value per key, the replicas.
    for (const k of [
      "allow_msg_ttl",
      "subject_delete_marker_ttl",
      "max_msgs_per_subject",
      "num_replicas",
      "retention",
      "storage",
    ] as const)
      expect(after[k], k).toEqual(before[k]);
  });

  it("a stream NATS cannot change (its retention) is refused, naming the stream to re-create", async () => {
    const prefix = uniquePrefix("fix");
    const n = resourceNames(prefix);
    const jsm = await jetstreamManager(env.nc);
    // Someone created the reports stream with the wrong retention.
    await jsm.streams.add({
      name: n.streams.reports,
      subjects: [subjects(prefix).reportsWildcard],
      retention: RetentionPolicy.Limits,
    });
    const refused = await ensureResources(env.nc, prefix, { maxBytes: TEST_MAX_BYTES }).catch(
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(ConfigDriftError);
    expect((refused as Error).message).toContain(`${n.streams.reports}: retention is "limits"`);
    expect((refused as Error).message).toContain(`nats stream rm ${n.streams.reports}`);
    // Nothing was changed on it.
    expect((await jsm.streams.info(n.streams.reports)).config.retention).toBe(
      RetentionPolicy.Limits,
    );
  });
});
