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
  /** Scheduler replica id. */
  id: z.string(),
  role: z.enum(["follower", "candidate", "leader"]),
  /** Current leader term known to this replica (0 if none). */
  term: z.number().int().min(0),
  /** Current leader id, if known. */
  leaderId: z.string().nullable(),
  /** Drover version. */
  version: z.string(),
  at: z.number(),
});
/** Reply of health. */
export type HealthReply = z.output<typeof HealthReply>;
