/**
 * Worker pools and their autoscaling: a pool's template and scaling policy (set through
 * `drover.api.pools.set`), the demand the leader measures for it, and the leader's decision
 * (a desired worker count with the numbers behind it), kept in the pools bucket, published on
 * `drover.events.scale` and read through `drover.api.pools.list`.
 */
import { z } from "zod";
import { OptionalVersion, Version } from "./envelope.ts";
import { Resources } from "./resources.ts";
import { TaskType } from "./task.ts";
import { PoolName } from "./worker.ts";

/** What every worker of a pool is: the types it runs, its labels and its capacity. */
export const PoolTemplate = z.strictObject({
  types: z.array(TaskType).min(1).max(256),
  labels: z.record(z.string().max(256), z.string().max(256)).default({}),
  capacity: Resources,
});
export type PoolTemplate = z.output<typeof PoolTemplate>;

/** Longest stabilisation window: one hour. */
export const MAX_SCALE_WINDOW_MS = 3_600_000;
/** Largest pool. */
export const MAX_POOL_WORKERS = 1_000;

/** How a pool's desired worker count follows its demand. */
export const ScalePolicy = z
  .strictObject({
    /** Fewest workers, even without work. @default 0 */
    min: z.number().int().min(0).max(MAX_POOL_WORKERS).default(0),
    /** Most workers. */
    max: z.number().int().min(1).max(MAX_POOL_WORKERS),
    /**
     * The share of the pool's capacity that queued and running work should fill: 0.8 asks for
     * a fifth of headroom. @default 0.8
     */
    targetUtilisation: z.number().gt(0).max(1).default(0.8),
    /** A larger count is taken only once every recommendation of this long asked for it. @default 5000 */
    scaleUpWindowMs: z.number().int().min(0).max(MAX_SCALE_WINDOW_MS).default(5_000),
    /** A smaller count is taken only once every recommendation of this long allowed it. @default 60000 */
    scaleDownWindowMs: z.number().int().min(0).max(MAX_SCALE_WINDOW_MS).default(60_000),
    /** At most this many workers added or removed by one decision. @default 4 */
    maxStep: z.number().int().min(1).max(MAX_POOL_WORKERS).default(4),
  })
  .refine((p) => p.min <= p.max, { message: "min must not exceed max", path: ["min"] });
export type ScalePolicy = z.output<typeof ScalePolicy>;
export type ScalePolicyInput = z.input<typeof ScalePolicy>;

/** A pool as kept in the pools bucket (key `policy.<pool>`). */
export const PoolPolicy = z.strictObject({
  v: Version,
  pool: PoolName,
  template: PoolTemplate,
  scale: ScalePolicy,
  updatedAt: z.number(),
});
export type PoolPolicy = z.output<typeof PoolPolicy>;

/** What a pool's queued and running work needs against what its live workers offer. */
export const PoolDemand = z.strictObject({
  /** Live workers taking work, and draining ones (on their way out, not counted as capacity). */
  ready: z.number().int().min(0),
  draining: z.number().int().min(0),
  /** What the ready workers offer, and what their assigned and running tasks hold. */
  capacity: Resources,
  used: Resources,
  /** Queued tasks counted for this pool, and what they need. */
  queuedTasks: z.number().int().min(0),
  queued: Resources,
  /** Of those, the tasks no live worker can take now (a new worker of the pool could). */
  waiting: z.number().int().min(0),
  /** Workers of the template that hold the work at full use (fractional). */
  workersAtFullUse: z.number().min(0),
});
export type PoolDemand = z.output<typeof PoolDemand>;

/** The leader's desired count for a pool (key `scale.<pool>`, and `drover.events.scale`). */
export const ScaleDecision = z.strictObject({
  v: Version,
  kind: z.literal("scale"),
  pool: PoolName,
  /** The leader term it was taken under: a decision of an older term is void. */
  term: z.number().int().min(1),
  desired: z.number().int().min(0),
  previous: z.number().int().min(0),
  /** The count the demand alone asks for (target utilisation applied, min and max not). */
  recommended: z.number().int().min(0),
  /** Why, in a sentence. */
  reason: z.string(),
  demand: PoolDemand,
  at: z.number(),
});
export type ScaleDecision = z.output<typeof ScaleDecision>;

/** Request body of `drover.api.pools.set`: creates or replaces a pool's template and policy. */
export const SetPoolRequest = z.strictObject({
  v: OptionalVersion,
  pool: PoolName,
  template: PoolTemplate,
  scale: ScalePolicy,
});
export type SetPoolRequest = z.output<typeof SetPoolRequest>;
export type SetPoolRequestInput = z.input<typeof SetPoolRequest>;

/** Request body of `drover.api.pools.delete`. */
export const DeletePoolRequest = z.strictObject({ v: OptionalVersion, pool: PoolName });
export type DeletePoolRequest = z.output<typeof DeletePoolRequest>;

/** Request body of `drover.api.pools.list`. */
export const ListPoolsRequest = z.strictObject({ v: OptionalVersion });

/** One pool: its policy (none: a pool only seen in live workers), live workers, last decision. */
export const PoolStatus = z.strictObject({
  pool: PoolName,
  policy: PoolPolicy.nullable(),
  ready: z.number().int().min(0),
  draining: z.number().int().min(0),
  decision: ScaleDecision.nullable(),
});
export type PoolStatus = z.output<typeof PoolStatus>;

export const ListPoolsReply = z.strictObject({ ok: z.literal(true), pools: z.array(PoolStatus) });
export type ListPoolsReply = z.output<typeof ListPoolsReply>;

export const SetPoolReply = z.strictObject({ ok: z.literal(true), pool: PoolPolicy });
export type SetPoolReply = z.output<typeof SetPoolReply>;

export const DeletePoolReply = z.strictObject({ ok: z.literal(true), deleted: z.boolean() });
export type DeletePoolReply = z.output<typeof DeletePoolReply>;

/** Keys of the pools bucket. */
export const poolKeys = {
  policy: (pool: string): string => `policy.${pool}`,
  decision: (pool: string): string => `scale.${pool}`,
} as const;
