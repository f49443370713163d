/**
 * Idempotent set-up of Drover's streams and buckets. Safe to run from every process at start:
 * what is missing is created, what exists is brought to this version's configuration.
 */
import { AckPolicy, DeliverPolicy, jetstreamManager, StorageType } from "@nats-io/jetstream";
import type { ConsumerConfig, JetStreamManager, StreamConfig } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { KV, KvOptions } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { DroverError, ErrorCode, resourceNames, subjects } from "../protocol/index.ts";
import type { TtlDecision } from "./drift.ts";
import { ConfigDriftError, planDrift, resolveTtl } from "./drift.ts";
import { isNotFound, isPermissionDenied, isStoreFull, retryTransient } from "./kv-util.ts";
import type { ResourceOptions } from "./resource-specs.ts";
import {
  DEFAULT_HEARTBEAT_TTL_MS,
  DEFAULT_LEASE_TTL_MS,
  defaultResourceOptions,
  ns,
  POOLS_MAX_BYTES,
  REPORT_MAX_DELIVER,
  reportConsumerConfig,
  streamSpecs,
} from "./resource-specs.ts";

export type { ResourceOptions } from "./resource-specs.ts";
export {
  DEFAULT_HEARTBEAT_TTL_MS,
  DEFAULT_LEASE_TTL_MS,
  defaultResourceOptions,
  REPORT_MAX_DELIVER,
} from "./resource-specs.ts";

/** Open handles on Drover's buckets. */
export interface Buckets {
  tasks: KV;
  workers: KV;
  leader: KV;
  idempotency: KV;
  /** Pool policies and the leader's scale decisions (a few small records). */
  pools: KV;
  /** Recurring schedules (schedule-store.ts). */
  schedules: KV;
}

/** The buckets, and the TTLs the cluster runs with (which every process must use). */
export interface Resources extends Buckets {
  heartbeatTtlMs: number;
  leaseTtlMs: number;
}

/** {@link ResourceOptions} as callers give them: anything left out takes its default. */
export type ResourceSettings = Partial<Omit<ResourceOptions, "maxBytes">> & {
  maxBytes?: Partial<ResourceOptions["maxBytes"]>;
};

/**
 * Creates every stream and bucket Drover needs, brings existing ones to the configuration this
 * version needs (see drift.ts), and returns the buckets with the cluster's TTLs. Throws a
 * {@link ConfigDriftError}, saying what to run, when an existing resource cannot be brought
 * up to date.
 */
export async function ensureResources(
  nc: NatsConnection,
  prefix: string,
  options: ResourceSettings = {},
  log?: Pick<Logger, "info">,
): Promise<Resources> {
  // A NATS user that may not manage streams (a scheduler with least privilege): the
  // resources as an admin set them up (`drover init`).
  return (
    (await manageResources(nc, prefix, options, log)) ?? (await openResources(nc, prefix, log))
  );
}

/**
 * {@link ensureResourcesOnce}, retried; null when this NATS user may not manage streams. Every
 * step is idempotent, and a cluster that is still forming (no JetStream meta leader yet, a
 * stream between leaders) answers with timeouts for a while: try again, for about half a
 * minute, rather than let a process fail at start-up.
 */
async function manageResources(
  nc: NatsConnection,
  prefix: string,
  options: ResourceSettings,
  log: Pick<Logger, "info"> | undefined,
): Promise<Resources | null> {
  try {
    return await retryTransient(() => ensureResourcesOnce(nc, prefix, options, log), {
      attempts: 40,
    });
  } catch (err) {
    if (!isPermissionDenied(err)) throw err;
    return null;
  }
}

/** Drover's buckets as they are, with their TTLs; nothing is created or changed. */
async function openResources(
  nc: NatsConnection,
  prefix: string,
  log?: Pick<Logger, "info">,
): Promise<Resources> {
  const names = resourceNames(prefix);
  const kvm = new Kvm(nc);
  const open = (name: string): Promise<KV> =>
    retryTransient(() => kvm.open(name)).catch((err: unknown) => {
      throw missing(err, name);
    });
  const [tasks, workers, leader, idempotency, pools, schedules] = await Promise.all(
    Object.values(names.buckets).map(open),
  );
  const ttl = async (kv: KV, name: string, fallback: number): Promise<number> => {
    const s = await retryTransient(() => kv.status()).catch((err: unknown) => {
      throw missing(err, name);
    });
    return s.ttl > 0 ? s.ttl : fallback;
  };
  const [heartbeatTtlMs, leaseTtlMs] = await Promise.all([
    ttl(workers!, names.buckets.workers, DEFAULT_HEARTBEAT_TTL_MS),
    ttl(leader!, names.buckets.leader, DEFAULT_LEASE_TTL_MS),
  ]);
  log?.info(
    { heartbeatTtlMs, leaseTtlMs },
    "no permission to manage streams: using the streams and buckets as they are",
  );
  return {
    tasks: tasks!,
    workers: workers!,
    leader: leader!,
    idempotency: idempotency!,
    pools: pools!,
    schedules: schedules!,
    heartbeatTtlMs,
    leaseTtlMs,
  };
}

/** A clear error for a bucket this user may not create and that does not exist. */
function missing(err: unknown, bucket: string): unknown {
  if (!isNotFound(err)) return err;
  return new DroverError(
    ErrorCode.Unavailable,
    `the ${bucket} bucket does not exist, and this process's NATS user may not create it: ` +
      "run `drover init` as an admin first",
    { cause: err },
  );
}

/** What a worker needs of the cluster's resources. */
export interface WorkerResources {
  workers: KV;
  heartbeatTtlMs: number;
}

/**
 * {@link ensureResources} where this connection may manage streams; where its NATS user may
 * not (a worker with least privilege: its own heartbeat key, its own subjects), the workers
 * bucket as an admin set it up (`drover init`), with the bucket's TTL.
 */
export async function workerResources(
  nc: NatsConnection,
  prefix: string,
  options: ResourceSettings = {},
  log?: Pick<Logger, "info">,
): Promise<WorkerResources> {
  const managed = await manageResources(nc, prefix, options, log);
  if (managed !== null) return managed;
  const name = resourceNames(prefix).buckets.workers;
  const workers = await retryTransient(() => new Kvm(nc).open(name));
  const { ttl } = await retryTransient(() => workers.status()).catch((err: unknown) => {
    throw missing(err, name);
  });
  log?.info(
    { bucket: name, ttlMs: ttl },
    "no permission to manage streams: using the workers bucket as it is",
  );
  return { workers, heartbeatTtlMs: ttl > 0 ? ttl : DEFAULT_HEARTBEAT_TTL_MS };
}

async function ensureResourcesOnce(
  nc: NatsConnection,
  prefix: string,
  options: ResourceSettings,
  log: Pick<Logger, "info"> | undefined,
): Promise<Resources> {
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
  const heartbeatTtl = o.heartbeatTtlMs ?? DEFAULT_HEARTBEAT_TTL_MS;
  const leaseTtl = o.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;

  // 1. Create what is missing (an existing bucket or stream is opened as it is).
  const [tasks, workers, leader, idempotency, pools, schedules] = await Promise.all([
    // Per-message TTLs: a finished record carries its retention and expires by itself.
    kv(names.buckets.tasks, {
      history: 1,
      markerTTL: o.expiryMarkerTtlMs,
      max_bytes: o.maxBytes.tasks,
    }),
    // Expired heartbeats leave a PURGE marker that the leader's watch sees: a dead worker is an event, not a sweep.
    kv(names.buckets.workers, {
      history: 1,
      ttl: heartbeatTtl,
      markerTTL: Math.max(heartbeatTtl * 4, 5_000),
    }),
    kv(names.buckets.leader, {
      history: 1,
      ttl: leaseTtl,
      markerTTL: Math.max(leaseTtl * 4, 5_000),
    }),
    // No bucket TTL: an entry lives while its task does, then expires with its own TTL.
    kv(names.buckets.idempotency, {
      history: 1,
      markerTTL: 1_000,
      max_bytes: o.maxBytes.idempotency,
    }),
    kv(names.buckets.pools, { history: 1, markerTTL: 1_000, max_bytes: POOLS_MAX_BYTES }),
    kv(names.buckets.schedules, { history: 1, markerTTL: 1_000 }),
  ]);
  const streams = streamSpecs(names, subj, o);
  await Promise.all(
    streams.flatMap((s) => (s.create === undefined ? [] : [ensureStream(jsm, s.create)])),
  );
  // The leader's durable consumer of worker reports. Any leader resumes it where the last stopped.
  const reportConsumer = reportConsumerConfig(o.reportMaxDeliver);
  await ensureConsumer(jsm, names.streams.reports, "leader", reportConsumer);

  // 2. Bring what existed to the current configuration, or say why it cannot be.
  const refusals: string[] = [];
  await Promise.all(
    streams.map(async (s) => {
      const { config } = await jsm.streams.info(s.name);
      const plan = planDrift(s.name, config, s.spec);
      for (const r of plan.refusals)
        refusals.push(
          `${r}. NATS cannot change this on an existing stream: stop every Drover process, ` +
            `copy out what you need, delete it (\`nats stream rm ${s.name}\`) and start again`,
        );
      if (plan.changes.length === 0 || plan.refusals.length > 0) return;
      await jsm.streams.update(s.name, { ...config, ...plan.patch }).catch((err: unknown) => {
        throw storeTooSmall(err, s.name, plan.patch.max_bytes);
      });
      log?.info({ stream: s.name, changes: plan.changes }, "brought a stream up to date");
    }),
  );
  const consumer = await jsm.consumers.info(names.streams.reports, "leader");
  const cplan = planDrift(`consumer ${names.streams.reports}/leader`, consumer.config, {
    fixed: { ack_policy: AckPolicy.Explicit },
    enforce: reportConsumer,
  });
  for (const r of cplan.refusals)
    refusals.push(
      `${r}. NATS cannot change this on an existing consumer: stop every scheduler, run ` +
        `\`nats consumer rm ${names.streams.reports} leader\` and start again (unread reports are kept)`,
    );
  if (cplan.changes.length > 0 && cplan.refusals.length === 0) {
    await jsm.consumers.update(names.streams.reports, "leader", cplan.patch);
    log?.info({ consumer: "leader", changes: cplan.changes }, "brought a consumer up to date");
  }

  // 3. The TTLs: raised when asked for more, adopted when not given, never lowered.
  const ttl = async (
    bucket: string,
    configured: number | undefined,
    fallback: number,
    env: string,
  ): Promise<number> => {
    const r = await reconcileTtl(jsm, bucket, configured, fallback);
    if (r.kind === "refuse") {
      refusals.push(
        `the ${bucket} bucket's TTL is ${r.bucketMs} ms, and this process is configured with ` +
          `${env}=${r.configuredMs}. A process must not run with a shorter TTL than the bucket's ` +
          "while others may run with the longer one. Start it with " +
          `${env}=${r.bucketMs} (or without ${env}, to adopt the bucket's); or, to lower it, ` +
          `stop every Drover process, run \`nats kv edit ${bucket} --ttl ${r.configuredMs}ms\` ` +
          "and start them again",
      );
      return r.bucketMs;
    }
    if (r.kind === "raise") log?.info({ bucket, ttlMs: r.ms }, "raised the bucket's TTL");
    return r.ms;
  };
  const [heartbeatTtlMs, leaseTtlMs] = await Promise.all([
    ttl(names.buckets.workers, o.heartbeatTtlMs, heartbeatTtl, "DROVER_HEARTBEAT_TTL_MS"),
    ttl(names.buckets.leader, o.leaseTtlMs, leaseTtl, "DROVER_LEASE_TTL_MS"),
  ]);
  if (refusals.length > 0) throw new ConfigDriftError(refusals);
  return { tasks, workers, leader, idempotency, pools, schedules, heartbeatTtlMs, leaseTtlMs };
}

/**
 * Applies `resolveTtl` to a bucket, reading it again after a raise: of two processes raising
 * it at once to different values, the larger wins, and the other one sees it.
 */
async function reconcileTtl(
  jsm: JetStreamManager,
  bucket: string,
  configuredMs: number | undefined,
  defaultMs: number,
): Promise<TtlDecision> {
  const stream = `KV_${bucket}`;
  for (let round = 0; ; round++) {
    const { config } = await jsm.streams.info(stream);
    const d = resolveTtl(Math.round(config.max_age / 1_000_000), configuredMs, defaultMs);
    if (d.kind !== "raise" || round >= 5) return d;
    await jsm.streams.update(stream, { ...config, max_age: ns(d.ms) });
  }
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

/** Messages stored in the tasks bucket so far (its stream's last sequence): every record write. */
export async function taskWriteCount(nc: NatsConnection, prefix: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(`KV_${resourceNames(prefix).buckets.tasks}`)).state.last_seq;
}

export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
  config: Partial<ConsumerConfig> = reportConsumerConfig(REPORT_MAX_DELIVER),
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
      ...config,
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
