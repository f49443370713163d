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
  /** How long an idempotency key is remembered. @default 86_400_000 (24 h) */
  idempotencyWindowMs: number;
}

export const defaultResourceOptions: ResourceOptions = {
  replicas: 1,
  heartbeatTtlMs: 1_200,
  leaseTtlMs: 1_200,
  idempotencyWindowMs: 86_400_000,
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
    kv(names.buckets.tasks, { history: 1 }),
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
    kv(names.buckets.idempotency, { history: 1, ttl: o.idempotencyWindowMs }),
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
