/**
 * Health API (`drover.api.health`): answered by every scheduler replica.
 */
import { z } from "zod";
import { OptionalVersion } from "./envelope.ts";

/** Request body of health. */
export const HealthRequest = z.strictObject({ v: OptionalVersion });
/** Request body of health. */
export type HealthRequest = z.output<typeof HealthRequest>;

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
});
/** Reply of health. */
export type HealthReply = z.output<typeof HealthReply>;
