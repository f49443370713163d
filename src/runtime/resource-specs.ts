/**
 * What Drover's streams, buckets and reports consumer must look like: the settings callers
 * give (`ResourceOptions`) and, from them, the configuration of each resource with the kind
 * of each field (see drift.ts). `resources.ts` creates and reconciles them.
 */
import { RetentionPolicy, StorageType } from "@nats-io/jetstream";
import type { ConsumerConfig, StreamConfig } from "@nats-io/jetstream";
import type { resourceNames, subjects } from "../protocol/index.ts";
import type { Spec } from "./drift.ts";

export const ns = (ms: number): number => ms * 1_000_000;

/** Sizing and timing of the JetStream resources. */
export interface ResourceOptions {
  /** Replicas of every stream and bucket (1 for one node, 3 for a production cluster). @default 1 */
  replicas: number;
  /**
   * Heartbeat TTL of the workers bucket: a worker not seen for this long is dead. Left out, a
   * process adopts the bucket's (see `resolveTtl` in drift.ts). @default 1200 for a new bucket
   */
  heartbeatTtlMs: number | undefined;
  /** Leadership lease TTL; left out, the bucket's. @default 1200 for a new bucket */
  leaseTtlMs: number | undefined;
  /**
   * How long the server keeps the marker a finished record leaves when its retention runs out
   * (so `get` can say "expired" rather than "never existed"). @default 900_000 (15 min)
   */
  expiryMarkerTtlMs: number;
  /** Deliveries of one worker report before it is given up on. @default {@link REPORT_MAX_DELIVER} */
  reportMaxDeliver: number;
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

/** Byte limit of the pools bucket: a policy and a decision per pool, a few hundred bytes each. */
export const POOLS_MAX_BYTES = 8 * 1_048_576;

/** TTL of a new workers bucket. */
export const DEFAULT_HEARTBEAT_TTL_MS = 1_200;
/** TTL of a new leader bucket. */
export const DEFAULT_LEASE_TTL_MS = 1_200;

/**
 * How often the leader's reports consumer delivers one report before it is given up on (the
 * leader records the last failure: see the scheduler's report handling). A failed write is
 * retried after 0.1, 0.2, 0.4 … 5 s, so 100 deliveries span about eight minutes: long
 * enough for retention to free a full store, short of forever.
 */
export const REPORT_MAX_DELIVER = 100;

export const defaultResourceOptions: ResourceOptions = {
  replicas: 1,
  heartbeatTtlMs: undefined,
  leaseTtlMs: undefined,
  expiryMarkerTtlMs: 900_000,
  reportMaxDeliver: REPORT_MAX_DELIVER,
  maxBytes: {
    tasks: 1_024 * MiB,
    idempotency: 128 * MiB,
    reports: 128 * MiB,
    events: 256 * MiB,
    finished: 256 * MiB,
  },
};

/** The leader's reports consumer: Drover's own settings (editable on an existing consumer). */
export function reportConsumerConfig(maxDeliver: number): Partial<ConsumerConfig> {
  return {
    // A report delivered to a leader that then died is redelivered to the next one after this.
    ack_wait: ns(5_000),
    max_ack_pending: 4_096,
    max_deliver: maxDeliver,
  };
}

export interface StreamPlanInput {
  name: string;
  /** Set for the plain streams, created here when missing (buckets are created by `Kvm`). */
  create?: Partial<StreamConfig> & { name: string };
  spec: Spec<StreamConfig>;
}

/** Every stream (the buckets' included) with the configuration this version needs. */
export function streamSpecs(
  names: ReturnType<typeof resourceNames>,
  subj: ReturnType<typeof subjects>,
  o: ResourceOptions,
): StreamPlanInput[] {
  const file = { storage: StorageType.File };
  const limits = { retention: RetentionPolicy.Limits, ...file };
  const reports = {
    name: names.streams.reports,
    subjects: [subj.reportsWildcard],
    retention: RetentionPolicy.Workqueue,
    num_replicas: o.replicas,
    duplicate_window: ns(120_000),
    max_bytes: o.maxBytes.reports,
  };
  const events = {
    name: names.streams.events,
    subjects: [subj.eventsWildcard],
    retention: RetentionPolicy.Limits,
    max_age: ns(3_600_000),
    max_msgs: 1_000_000,
    // Events carry de-duplicating ids: a new leader re-publishes the last 10 s (scheduler-replica.ts).
    duplicate_window: ns(120_000),
    // Limits retention discards the oldest events when full: events never block a write.
    max_bytes: o.maxBytes.events,
    num_replicas: o.replicas,
  };
  // The index of finished tasks: one small entry per finish, expiring with its record (its
  // TTL is the record's retention). Full, it drops its oldest entries: those tasks can still
  // be read by id, they are no longer listed.
  const finished = {
    name: names.streams.finished,
    subjects: [subj.finishedWildcard],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    allow_msg_ttl: true,
    allow_direct: true,
    duplicate_window: ns(120_000),
    max_bytes: o.maxBytes.finished,
    num_replicas: o.replicas,
  };
  // A bucket whose keys expire must leave a marker, or no one sees the expiry.
  const bucket = (
    name: string,
    markerTtlMs: number,
    extra: Pick<Spec<StreamConfig>, "enforce" | "ifUnset"> = {},
  ): StreamPlanInput => ({
    name: `KV_${name}`,
    spec: {
      fixed: limits,
      enforce: { allow_msg_ttl: true, ...extra.enforce },
      ifUnset: { subject_delete_marker_ttl: ns(markerTtlMs), ...extra.ifUnset },
    },
  });
  const heartbeatTtl = o.heartbeatTtlMs ?? DEFAULT_HEARTBEAT_TTL_MS;
  const leaseTtl = o.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
  return [
    bucket(names.buckets.tasks, o.expiryMarkerTtlMs, { ifUnset: { max_bytes: o.maxBytes.tasks } }),
    // Versions before per-message TTLs gave this bucket a blanket TTL: entries now expire
    // with their task.
    bucket(names.buckets.idempotency, 1_000, {
      enforce: { max_age: 0 },
      ifUnset: { max_bytes: o.maxBytes.idempotency },
    }),
    bucket(names.buckets.workers, Math.max(heartbeatTtl * 4, 5_000)),
    bucket(names.buckets.pools, 1_000, { ifUnset: { max_bytes: POOLS_MAX_BYTES } }),
    // No byte limit (none reserved from the server's store): an admin's schedules are bounded
    // by count and by record size instead (MAX_SCHEDULES, MAX_SCHEDULE_BYTES).
    bucket(names.buckets.schedules, 1_000),
    bucket(names.buckets.leader, Math.max(leaseTtl * 4, 5_000)),
    {
      name: reports.name,
      create: reports,
      spec: {
        fixed: { retention: RetentionPolicy.Workqueue, ...file },
        enforce: { subjects: reports.subjects, duplicate_window: reports.duplicate_window },
        ifUnset: { max_bytes: reports.max_bytes },
      },
    },
    {
      name: events.name,
      create: events,
      spec: {
        fixed: limits,
        enforce: {
          subjects: events.subjects,
          max_age: events.max_age,
          max_msgs: events.max_msgs,
          duplicate_window: events.duplicate_window,
        },
        ifUnset: { max_bytes: events.max_bytes },
      },
    },
    {
      name: finished.name,
      create: finished,
      spec: {
        fixed: limits,
        enforce: {
          subjects: finished.subjects,
          allow_msg_ttl: true,
          allow_direct: true,
          duplicate_window: finished.duplicate_window,
        },
        ifUnset: { max_bytes: finished.max_bytes },
      },
    },
  ];
}
