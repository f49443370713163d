/**
 * A replica's admission control: each named submitter's token bucket and its submits in
 * flight, checked when a request arrives (decisions in actors/admission.ts).
 *
 * The limits hold per replica: the API's queue group spreads a submitter's requests over the
 * replicas, so a cluster of N replicas admits up to N × the rate. The unfinished count is the
 * replica's mirror (every replica sees every unfinished task) plus the submits this replica is
 * still writing; submits in flight on other replicas are not seen, so a submitter can pass its
 * limit by at most those.
 */
import type { AdmissionLimits, TokenBucket } from "../actors/index.ts";
import { admit, DEFAULT_ADMISSION_LIMITS, isIdle } from "../actors/index.ts";
import type { ApiSubjects } from "../protocol/index.ts";
import { DroverError, ErrorCode } from "../protocol/index.ts";

/** How often idle buckets are forgotten (a full bucket is the same as none). */
const SWEEP_MS = 10_000;

export class Admission {
  readonly limits: AdmissionLimits;
  readonly #held: (submitter: string) => number;
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #inFlight = new Map<string, number>();
  readonly #refused = new Map<string, number>();
  #sweptAt = 0;

  /**
   * @param held the unfinished tasks of a submitter that this replica knows of (its mirror).
   */
  constructor(
    limits: AdmissionLimits = DEFAULT_ADMISSION_LIMITS,
    held: (submitter: string) => number,
  ) {
    this.limits = limits;
    this.#held = held;
  }

  /** Refusals so far by reason (`rate`, `unfinished`). */
  get refused(): ReadonlyMap<string, number> {
    return this.#refused;
  }

  /**
   * Checks a request of `submitter` to `endpoint` (a plain API subject): submits and retries
   * take a token, and a submit a place among the submitter's unfinished tasks until
   * {@link done}. Returns the error to answer with, or null to go ahead. (A batch submit is
   * checked by {@link take} once its size is known.)
   */
  check(endpoint: string, submitter: string, api: ApiSubjects): DroverError | null {
    const isSubmit = endpoint === api.submit;
    if (!isSubmit && endpoint !== api.retry) return null;
    return this.take(submitter, 1, isSubmit);
  }

  /**
   * Takes `count` tokens of `submitter` at once (all or none), and, when `holds`, as many
   * places among its unfinished tasks until {@link done} gives them back.
   */
  take(submitter: string, count: number, holds = true): DroverError | null {
    const now = Date.now();
    this.#sweep(now);
    const inFlight = this.#inFlight.get(submitter) ?? 0;
    const decision = admit(
      {
        bucket: this.#buckets.get(submitter),
        now,
        // A retry makes a finished task unfinished again: it counts like a submit.
        unfinished: this.#held(submitter) + inFlight,
      },
      this.limits,
      count,
    );
    this.#buckets.set(submitter, decision.bucket);
    if (!decision.ok) {
      this.#refused.set(decision.reason, (this.#refused.get(decision.reason) ?? 0) + 1);
      const { rate, burst, maxUnfinished } = this.limits;
      if (decision.retryAfterMs === null) {
        // No wait lets it through: the request itself is too big for this submitter.
        const message =
          decision.reason === "rate"
            ? `a batch of ${count} tasks is more than submitter '${submitter}''s burst of ${burst}; send smaller batches`
            : `a batch of ${count} tasks is more than submitter '${submitter}''s limit of ${maxUnfinished} unfinished tasks; send smaller batches`;
        return new DroverError(ErrorCode.ValidationFailed, message, {
          issues: [{ path: "tasks", message, code: "too_big" }],
        });
      }
      return new DroverError(
        ErrorCode.RateLimited,
        decision.reason === "rate"
          ? `submitter '${submitter}' is over its rate of ${rate} submits/s (burst ${burst}); retry in ${decision.retryAfterMs} ms`
          : count === 1
            ? `submitter '${submitter}' has ${maxUnfinished} unfinished tasks, its limit; retry once some have finished`
            : `a batch of ${count} tasks would take submitter '${submitter}' past its limit of ${maxUnfinished} unfinished tasks; retry once some have finished`,
        { retryable: true },
      );
    }
    if (holds) this.#inFlight.set(submitter, inFlight + count);
    return null;
  }

  /** `count` submits admitted by {@link check} or {@link take} are answered (written, or not). */
  done(submitter: string, count = 1): void {
    const n = (this.#inFlight.get(submitter) ?? 0) - count;
    if (n > 0) this.#inFlight.set(submitter, n);
    else this.#inFlight.delete(submitter);
  }

  /** Forgets the buckets that are full again, so that many one-off submitters cost nothing. */
  #sweep(now: number): void {
    if (now - this.#sweptAt < SWEEP_MS) return;
    this.#sweptAt = now;
    for (const [name, bucket] of this.#buckets)
      if (isIdle(bucket, now, this.limits)) this.#buckets.delete(name);
  }
}
