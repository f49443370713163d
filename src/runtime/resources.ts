/**
 * Idempotent set-up of Drover's streams and buckets. Safe to run from every process at start:
 * what exists is kept, what is missing is created.
 */
import {
  AckPolicy,
  DeliverPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import type { JetStreamManager, StreamConfig } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { KV, KvOptions } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { resourceNames, subjects } from "../protocol/index.ts";

/** Sizing and timing of the JetStream resources. */
export interface ResourceOptions {
  /** Replicas of every stream and bucket (1 for one node, 3 for a production cluster). @default 1 */
  replicas: number;
  /** Heartbeat TTL of the workers bucket: a worker not seen for this long is dead. @default 1200 */
  heartbeatTtlMs: number;
  /** Leadership lease TTL. @default 1200 */
  leaseTtlMs: number;
  /**
   * How long the server keeps the marker a finished record leaves when its retention runs out
   * (so `get` can say "expired" rather than "never existed"). @default 900_000 (15 min)
   */
  expiryMarkerTtlMs: number;
}

export const defaultResourceOptions: ResourceOptions = {
  replicas: 1,
  heartbeatTtlMs: 1_200,
  leaseTtlMs: 1_200,
  expiryMarkerTtlMs: 900_000,
};

/** Open handles on Drover's buckets. */
export interface Buckets {
  tasks: KV;
  workers: KV;
  leader: KV;
  idempotency: KV;
}

const ns = (ms: number): number => ms * 1_000_000;

/** Creates (or opens) every stream and bucket Drover needs and returns the buckets. */
export async function ensureResources(
  nc: NatsConnection,
  prefix: string,
  options: Partial<ResourceOptions> = {},
): Promise<Buckets> {
  const o = { ...defaultResourceOptions, ...options };
  const names = resourceNames(prefix);
  const subj = subjects(prefix);
  const jsm = await jetstreamManager(nc);
  const kvm = new Kvm(nc);
  const kv = (name: string, opts: Partial<KvOptions>): Promise<KV> =>
    kvm.create(name, { replicas: o.replicas, storage: StorageType.File, ...opts });

  const [tasks, workers, leader, idempotency] = await Promise.all([
    // Per-message TTLs: a finished record carries its retention and expires by itself.
    kv(names.buckets.tasks, { history: 1, markerTTL: o.expiryMarkerTtlMs }),
    // Expired heartbeats leave a PURGE marker that the leader's watch sees (DESIGN.md §5).
    kv(names.buckets.workers, {
      history: 1,
      ttl: o.heartbeatTtlMs,
      markerTTL: Math.max(o.heartbeatTtlMs * 4, 5_000),
    }),
    kv(names.buckets.leader, {
      history: 1,
      ttl: o.leaseTtlMs,
      markerTTL: Math.max(o.leaseTtlMs * 4, 5_000),
    }),
    // No bucket TTL: an entry lives while its task does, then expires with its own TTL.
    kv(names.buckets.idempotency, { history: 1, markerTTL: 1_000 }),
  ]);
  // Buckets created by versions before per-message TTLs: allow them (NATS can turn this on
  // for an existing stream, never off) and drop the idempotency bucket's blanket TTL.
  await Promise.all([
    allowMessageTtl(jsm, `KV_${names.buckets.tasks}`, o.expiryMarkerTtlMs, false),
    allowMessageTtl(jsm, `KV_${names.buckets.idempotency}`, 1_000, true),
  ]);
  await Promise.all([
    ensureStream(jsm, {
      name: names.streams.reports,
      subjects: [subj.reportsWildcard],
      retention: RetentionPolicy.Workqueue,
      num_replicas: o.replicas,
      duplicate_window: ns(120_000),
    }),
    ensureStream(jsm, {
      name: names.streams.events,
      subjects: [subj.eventsWildcard],
      retention: RetentionPolicy.Limits,
      max_age: ns(3_600_000),
      max_msgs: 1_000_000,
      num_replicas: o.replicas,
    }),
  ]);
  // The leader's durable consumer of worker reports. Any leader resumes it where the last stopped.
  await ensureConsumer(jsm, names.streams.reports, "leader");
  return { tasks, workers, leader, idempotency };
}

async function allowMessageTtl(
  jsm: JetStreamManager,
  stream: string,
  markerTtlMs: number,
  clearMaxAge: boolean,
): Promise<void> {
  const { config } = await jsm.streams.info(stream);
  if (config.allow_msg_ttl === true && !(clearMaxAge && config.max_age !== 0)) return;
  await jsm.streams.update(stream, {
    ...config,
    allow_msg_ttl: true,
    subject_delete_marker_ttl: config.subject_delete_marker_ttl || ns(markerTtlMs),
    ...(clearMaxAge ? { max_age: 0 } : {}),
  });
}

async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
): Promise<void> {
  try {
    await jsm.consumers.info(stream, durable);
  } catch {
    await jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      // A report delivered to a leader that then died is redelivered to the next one after this.
      ack_wait: ns(5_000),
      max_ack_pending: 4_096,
    });
  }
}

async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch {
    await jsm.streams.add(config);
  }
}
