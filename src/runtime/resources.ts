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
import { DroverError, ErrorCode, resourceNames, subjects } from "../protocol/index.ts";
import { isNotFound, isStoreFull, retryTransient } from "./kv-util.ts";

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
  /**
   * Byte limits of the data streams and buckets (-1: none). They keep the data below what the
   * server allows, so the leader lease and the heartbeats always have room: a full task store
   * refuses new submits, it does not take the control plane down with it. Keep their sum below
   * the server's `max_file_store` (nats.conf: 2 GB).
   * @default { tasks: 1 GiB, idempotency: 128 MiB, reports: 128 MiB, events: 256 MiB, finished: 256 MiB }
   */
  maxBytes: {
    tasks: number;
    idempotency: number;
    reports: number;
    events: number;
    finished: number;
  };
}

const MiB = 1_048_576;

export const defaultResourceOptions: ResourceOptions = {
  replicas: 1,
  heartbeatTtlMs: 1_200,
  leaseTtlMs: 1_200,
  expiryMarkerTtlMs: 900_000,
  maxBytes: {
    tasks: 1_024 * MiB,
    idempotency: 128 * MiB,
    reports: 128 * MiB,
    events: 256 * MiB,
    finished: 256 * MiB,
  },
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
/** {@link ResourceOptions} as callers give them: anything left out takes its default. */
export type ResourceSettings = Partial<Omit<ResourceOptions, "maxBytes">> & {
  maxBytes?: Partial<ResourceOptions["maxBytes"]>;
};

export async function ensureResources(
  nc: NatsConnection,
  prefix: string,
  options: ResourceSettings = {},
): Promise<Buckets> {
  // Every step is idempotent, and a cluster that is still forming (no JetStream meta leader
  // yet, a stream between leaders) answers with timeouts for a while: try again, for about
  // half a minute, rather than let a process fail at start-up.
  return await retryTransient(() => ensureResourcesOnce(nc, prefix, options), { attempts: 40 });
}

async function ensureResourcesOnce(
  nc: NatsConnection,
  prefix: string,
  options: ResourceSettings,
): Promise<Buckets> {
  const o = {
    ...defaultResourceOptions,
    ...options,
    maxBytes: { ...defaultResourceOptions.maxBytes, ...options.maxBytes },
  };
  const names = resourceNames(prefix);
  const subj = subjects(prefix);
  const jsm = await jetstreamManager(nc);
  const kvm = new Kvm(nc);
  const kv = (name: string, opts: Partial<KvOptions>): Promise<KV> =>
    kvm
      .create(name, { replicas: o.replicas, storage: StorageType.File, ...opts })
      .catch((err: unknown) => {
        throw storeTooSmall(err, name, opts.max_bytes);
      });

  const [tasks, workers, leader, idempotency] = await Promise.all([
    // Per-message TTLs: a finished record carries its retention and expires by itself.
    kv(names.buckets.tasks, {
      history: 1,
      markerTTL: o.expiryMarkerTtlMs,
      max_bytes: o.maxBytes.tasks,
    }),
    // Expired heartbeats leave a PURGE marker that the leader's watch sees: a dead worker is an event, not a sweep.
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
    kv(names.buckets.idempotency, {
      history: 1,
      markerTTL: 1_000,
      max_bytes: o.maxBytes.idempotency,
    }),
  ]);
  // Buckets created by versions before per-message TTLs: allow them (NATS can turn this on
  // for an existing stream, never off) and drop the idempotency bucket's blanket TTL.
  await Promise.all([
    upgradeStream(jsm, `KV_${names.buckets.tasks}`, {
      markerTtlMs: o.expiryMarkerTtlMs,
      clearMaxAge: false,
      maxBytes: o.maxBytes.tasks,
    }),
    upgradeStream(jsm, `KV_${names.buckets.idempotency}`, {
      markerTtlMs: 1_000,
      clearMaxAge: true,
      maxBytes: o.maxBytes.idempotency,
    }),
  ]);
  await Promise.all([
    ensureStream(jsm, {
      name: names.streams.reports,
      subjects: [subj.reportsWildcard],
      retention: RetentionPolicy.Workqueue,
      num_replicas: o.replicas,
      duplicate_window: ns(120_000),
      max_bytes: o.maxBytes.reports,
    }),
    ensureStream(jsm, {
      name: names.streams.events,
      subjects: [subj.eventsWildcard],
      retention: RetentionPolicy.Limits,
      max_age: ns(3_600_000),
      max_msgs: 1_000_000,
      // Limits retention discards the oldest events when full: events never block a write.
      max_bytes: o.maxBytes.events,
      num_replicas: o.replicas,
    }),
    // The index of finished tasks: one small entry per finish, expiring with its record (its
    // TTL is the record's retention). Full, it drops its oldest entries: those tasks can still
    // be read by id, they are no longer listed.
    ensureStream(jsm, {
      name: names.streams.finished,
      subjects: [subj.finishedWildcard],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      allow_msg_ttl: true,
      allow_direct: true,
      duplicate_window: ns(120_000),
      max_bytes: o.maxBytes.finished,
      num_replicas: o.replicas,
    }),
  ]);
  // The leader's durable consumer of worker reports. Any leader resumes it where the last stopped.
  await ensureConsumer(jsm, names.streams.reports, "leader");
  return { tasks, workers, leader, idempotency };
}

/**
 * Brings a bucket created by an older version up to date where NATS allows it: per-message
 * TTLs (can be turned on, never off), no blanket TTL on the idempotency bucket, and a byte
 * limit where it had none. A byte limit someone set is left alone, so processes started
 * with different settings never undo each other's.
 */
async function upgradeStream(
  jsm: JetStreamManager,
  stream: string,
  o: { markerTtlMs: number; clearMaxAge: boolean; maxBytes: number },
): Promise<void> {
  const { config } = await jsm.streams.info(stream);
  const unlimited = config.max_bytes === undefined || config.max_bytes <= 0;
  const wantBytes = unlimited && o.maxBytes > 0;
  if (config.allow_msg_ttl === true && !(o.clearMaxAge && config.max_age !== 0) && !wantBytes)
    return;
  await jsm.streams
    .update(stream, {
      ...config,
      allow_msg_ttl: true,
      subject_delete_marker_ttl: config.subject_delete_marker_ttl || ns(o.markerTtlMs),
      ...(o.clearMaxAge ? { max_age: 0 } : {}),
      ...(wantBytes ? { max_bytes: o.maxBytes } : {}),
    })
    .catch((err: unknown) => {
      throw storeTooSmall(err, stream, wantBytes ? o.maxBytes : undefined);
    });
}

/** A clear error for a byte limit the server cannot reserve. */
function storeTooSmall(err: unknown, name: string, maxBytes: number | undefined): unknown {
  if (maxBytes === undefined || maxBytes <= 0) return err;
  if (!isStoreFull(err)) return err;
  return new DroverError(
    ErrorCode.CapacityExhausted,
    `NATS cannot reserve ${maxBytes} bytes for ${name}: its JetStream store (max_file_store) is ` +
      "smaller than the byte limits Drover is configured with; lower DROVER_TASKS_MAX_BYTES, " +
      "DROVER_IDEMPOTENCY_MAX_BYTES, DROVER_REPORTS_MAX_BYTES, DROVER_EVENTS_MAX_BYTES or " +
      "DROVER_FINISHED_MAX_BYTES, or raise the server's limit",
    { cause: err },
  );
}

export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
): Promise<void> {
  try {
    await jsm.consumers.info(stream, durable);
  } catch (err) {
    // Only a consumer that does not exist is created; any other failure is the caller's.
    if (!isNotFound(err)) throw err;
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

export async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.streams.add(config);
  }
}
