/**
 * Health API (`drover.api.health`): answered by every scheduler replica.
 */
import { z } from "zod";
import { OptionalVersion } from "./envelope.ts";

/** Request body of health. */
export const HealthRequest = z.strictObject({ v: OptionalVersion });
/** Request body of health. */
export type HealthRequest = z.output<typeof HealthRequest>;

/**
 * Resident memory and event-loop delay of the answering replica's process. The delay figures
 * are those of `perf_hooks.monitorEventLoopDelay` sampling every 10 ms: each sample is the time
 * between two 10 ms timer ticks, so an idle loop reads about 10 ms.
 */
export const HealthProcessStats = z.looseObject({
  /** Resident set size when the request was answered. */
  rssBytes: z.number().int().min(0),
  /** Largest event-loop delay in the window (since `windowStartedAt`). */
  eventLoopDelayMaxMs: z.number().min(0),
  /** 99th percentile of the event-loop delay in the window. */
  eventLoopDelayP99Ms: z.number().min(0),
  /**
   * Start of the window (epoch ms): the previous health request this process answered, or
   * when it started measuring. Each health reply closes the window and starts a new one.
   */
  windowStartedAt: z.number(),
  /** The same figures since the process started measuring (never reset). */
  sinceStart: z.looseObject({
    startedAt: z.number(),
    eventLoopDelayMaxMs: z.number().min(0),
    eventLoopDelayP99Ms: z.number().min(0),
  }),
});
/** Resident memory and event-loop delay of a replica's process. */
export type HealthProcessStats = z.output<typeof HealthProcessStats>;

/** Reply of health. Loose: replicas may add diagnostic fields. */
export const HealthReply = z.looseObject({
  ok: z.literal(true),
  /** The answering scheduler replica (any replica answers: one queue group). */
  replicaId: z.string(),
  /** Its leadership state. */
  role: z.enum(["follower", "candidate", "leader", "stopped"]),
  /** Its term when it leads, else null. */
  term: z.number().int().min(0).nullable(),
  /** The leader as far as this replica knows, if known. */
  leaderId: z.string().nullable(),
  /** Live workers in its mirror. */
  workers: z.number().int().min(0),
  /** Task counts by state in its mirror. */
  tasks: z.record(z.string(), z.number().int().min(0)),
  /** Its process's memory and event-loop delay; absent from replicas older than this field. */
  process: HealthProcessStats.optional(),
});
/** Reply of health. */
export type HealthReply = z.output<typeof HealthReply>;
