/**
 * Workers: the heartbeat value kept in the workers KV bucket (with a TTL) and the workers API.
 */
import { z } from "zod";
import { OptionalVersion, Version } from "./envelope.ts";
import { Resources } from "./resources.ts";
import { TaskId, TaskType } from "./task.ts";

/** Worker id: one subject token and one KV key. */
export const WorkerId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, "must match /^[A-Za-z0-9_-]{1,64}$/");

/**
 * A worker pool's name: workers with the same types, labels and capacity, scaled together.
 * One subject token and one KV key part.
 */
export const PoolName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, "must match /^[A-Za-z0-9_-]{1,64}$/");
/** The pool of a worker that names none. */
export const DEFAULT_POOL = "default";

/** A worker's readiness: `draining` workers get no new assignments. */
export const WorkerState = z.enum(["ready", "draining"]);
/** A worker's readiness. */
export type WorkerState = z.infer<typeof WorkerState>;

/** A task a worker is running, with the epoch it was assigned under. */
export const RunningTask = z.strictObject({ taskId: TaskId, epoch: z.number().int().min(0) });
/** A task a worker is running. */
export type RunningTask = z.infer<typeof RunningTask>;

/** Heartbeat value of a worker (key = worker id in the workers bucket). */
export const WorkerInfo = z.strictObject({
  v: Version,
  id: WorkerId,
  /** Task types this worker can run. */
  types: z.array(TaskType),
  /** What the worker offers. */
  capacity: Resources,
  /** Labels matched against task `labels`. @default {} */
  labels: z.record(z.string(), z.string()).default({}),
  /**
   * The worker's pool. Left out of the heartbeat when it is the default pool, so that
   * replicas older than pools still accept the heartbeat. @default "default"
   */
  pool: PoolName.default(DEFAULT_POOL),
  state: WorkerState,
  /** Process start time (epoch ms). */
  startedAt: z.number(),
  /** Time of this heartbeat (epoch ms). */
  heartbeatAt: z.number(),
  /** Tasks in progress on the worker. */
  running: z.array(RunningTask),
  /**
   * Tasks this worker finished recently (their final report is published, the leader may
   * not have applied it yet), so the leader does not mistake them for lost work.
   * @default []
   */
  recent: z.array(RunningTask).default([]),
  hostname: z.string(),
  pid: z.number().int(),
  /** Drover version of the worker. */
  version: z.string(),
});
/** Heartbeat value of a worker. */
export type WorkerInfo = z.output<typeof WorkerInfo>;
/** A heartbeat as a worker writes it (defaulted fields may be left out). */
export type WorkerHeartbeat = z.input<typeof WorkerInfo>;

/** Request body of `drover.api.workers.list`. */
export const ListWorkersRequest = z.strictObject({ v: OptionalVersion });
/** Request body of workers list. */
export type ListWorkersRequest = z.output<typeof ListWorkersRequest>;

/** A live worker as seen by the leader: its heartbeat plus the resources in use. */
export const WorkerView = WorkerInfo.extend({ used: Resources });
/** A live worker as seen by the leader. */
export type WorkerView = z.output<typeof WorkerView>;

/** Reply of workers list. */
export const ListWorkersReply = z.strictObject({
  ok: z.literal(true),
  workers: z.array(WorkerView),
});
/** Reply of workers list. */
export type ListWorkersReply = z.output<typeof ListWorkersReply>;

/** Request body of `drover.api.workers.drain` (an admin's request). */
export const DrainWorkerRequest = z.strictObject({
  v: OptionalVersion,
  workerId: WorkerId,
  /**
   * How long running tasks may go on before they are handed back to the scheduler.
   * @default the worker's own `--drain-grace-ms`
   */
  graceMs: z.number().int().min(0).max(3_600_000).optional(),
});
/** Request body of drain. */
export type DrainWorkerRequest = z.output<typeof DrainWorkerRequest>;

/** What a replica sends a worker on `<p>.worker.<id>.drain`. */
export const DrainNotice = z.strictObject({
  v: Version,
  graceMs: z.number().int().min(0).max(3_600_000).optional(),
});
/** What a replica sends a worker to drain it. */
export type DrainNotice = z.output<typeof DrainNotice>;

/** The worker's answer to a drain notice, and the reply of drain. */
export const DrainWorkerReply = z.strictObject({
  ok: z.literal(true),
  workerId: WorkerId,
  /** Tasks still running when the drain began (they finish within the grace period). */
  running: z.number().int().min(0),
});
/** Reply of drain. */
export type DrainWorkerReply = z.infer<typeof DrainWorkerReply>;
