/**
 * Admission control: whether a submitter may submit (or retry) one more task now. Each named
 * submitter has a token bucket (a rate with a burst) and a limit on its unfinished tasks, so
 * that one client's flood neither fills the queue ahead of everyone else's tasks nor keeps a
 * replica busy refusing them. Pure: the caller keeps the buckets and tells the time.
 */

/** A submitter's limits; 0 turns a limit off. */
export interface AdmissionLimits {
  /** Submits (and retries) per second, per replica. */
  readonly rate: number;
  /** Submits allowed at once after a quiet spell (the bucket's size). */
  readonly burst: number;
  /** Unfinished tasks (queued, delayed, retrying, assigned, running) at most. */
  readonly maxUnfinished: number;
}

/** The default limits of a named submitter (see the README's "Admission control"). */
export const DEFAULT_ADMISSION_LIMITS: AdmissionLimits = {
  rate: 2_000,
  burst: 4_000,
  maxUnfinished: 100_000,
};

/** A token bucket: `tokens` as of `at` (ms). */
export interface TokenBucket {
  readonly tokens: number;
  readonly at: number;
}

/** What the caller knows about the submitter right now. */
export interface AdmissionInput {
  /** Its bucket; undefined when it has none yet (a full one). */
  readonly bucket: TokenBucket | undefined;
  readonly now: number;
  /** Its unfinished tasks, including submits this replica is still writing. */
  readonly unfinished: number;
}

export type AdmissionDecision =
  | { readonly ok: true; readonly bucket: TokenBucket }
  | {
      readonly ok: false;
      readonly reason: "rate" | "unfinished";
      /** The bucket to keep (refilled to `now`; nothing taken). */
      readonly bucket: TokenBucket;
      /**
       * When a retry may succeed; for `unfinished`, a hint (tasks must finish first). Null: a
       * batch larger than the limit itself, which no wait lets through.
       */
      readonly retryAfterMs: number | null;
    };

/** The bucket refilled to `now` (never beyond the burst; a clock step back refills nothing). */
export function refill(
  bucket: TokenBucket | undefined,
  now: number,
  limits: AdmissionLimits,
): TokenBucket {
  if (bucket === undefined) return { tokens: limits.burst, at: now };
  const elapsed = Math.max(0, now - bucket.at);
  return {
    tokens: Math.min(limits.burst, bucket.tokens + (elapsed * limits.rate) / 1_000),
    at: Math.max(now, bucket.at),
  };
}

/**
 * Takes `count` tokens and unfinished places (a batch submit of `count` tasks: all or none),
 * or says which limit refuses and for how long. A batch larger than the burst or the
 * unfinished limit can never pass: its refusal says so (`retryAfterMs` is null).
 */
export function admit(
  input: AdmissionInput,
  limits: AdmissionLimits,
  count = 1,
): AdmissionDecision {
  const bucket =
    limits.rate > 0 ? refill(input.bucket, input.now, limits) : { tokens: 1, at: input.now };
  if (limits.maxUnfinished > 0 && input.unfinished + count > limits.maxUnfinished)
    return {
      ok: false,
      reason: "unfinished",
      bucket,
      retryAfterMs: count > limits.maxUnfinished ? null : 1_000,
    };
  if (limits.rate > 0) {
    if (bucket.tokens < count)
      return {
        ok: false,
        reason: "rate",
        bucket,
        retryAfterMs:
          count > limits.burst ? null : Math.ceil(((count - bucket.tokens) * 1_000) / limits.rate),
      };
    return { ok: true, bucket: { tokens: bucket.tokens - count, at: bucket.at } };
  }
  return { ok: true, bucket };
}

/** Whether a bucket is full again by `now`, so that forgetting it changes nothing. */
export function isIdle(bucket: TokenBucket, now: number, limits: AdmissionLimits): boolean {
  return limits.rate <= 0 || refill(bucket, now, limits).tokens >= limits.burst;
}

/** Checks limits given by a user: non-negative, whole for the counts; a burst of at least 1. */
export function checkLimits(limits: AdmissionLimits): string | null {
  if (!(Number.isFinite(limits.rate) && limits.rate >= 0)) return "rate must be 0 or more";
  if (!(Number.isInteger(limits.burst) && limits.burst >= 1)) return "burst must be 1 or more";
  if (!(Number.isInteger(limits.maxUnfinished) && limits.maxUnfinished >= 0))
    return "max unfinished must be 0 or more";
  return null;
}
