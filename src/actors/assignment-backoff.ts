/**
 * What the leader does after an assignment failed, and which workers it holds back because of
 * it. Pure: the caller passes heartbeat revisions and the clock.
 *
 * Without this a failed assignment is handed back and the next pass, a moment later, places the
 * task on the same worker again: a worker whose heartbeat is still live but whose process is
 * gone (or frozen, or draining, or full of cancelled work the leader no longer counts) draws
 * hundreds of assignments a second. The rule: a worker that refused or did not answer gets no
 * assignment until it has shown it is alive again (a heartbeat written after the failure) and
 * its back-off has passed; a refusal that every worker would give (the assignment is too large
 * or cannot be decoded) fails the task instead of bouncing it between workers.
 */
import type { TaskError } from "../protocol/index.ts";
import { ErrorCode } from "../protocol/index.ts";

/** How an assignment request failed. */
export type AssignmentFailure =
  /** No reply: timeout, no responders, or the request could not be sent. */
  | { kind: "no_answer"; message: string }
  /** The worker answered with an error. */
  | { kind: "refused"; code: string; message: string };

/** What to do about a failed assignment. */
export type AssignmentVerdict =
  /** Hand the task back and hold the worker back (see {@link AssignmentBackoff}). */
  | { action: "hold_worker"; reason: string }
  /** The task can never be assigned as it is: fail it with this non-retryable error. */
  | { action: "fail_task"; error: TaskError };

/** Worker refusal codes that any worker would give for the same assignment. */
const PERMANENT_REFUSALS: ReadonlySet<string> = new Set([
  ErrorCode.PayloadTooLarge,
  ErrorCode.ValidationFailed,
  ErrorCode.InvalidJson,
  ErrorCode.UnsupportedVersion,
]);

/** Decides what a failed assignment means. */
export function judgeAssignmentFailure(f: AssignmentFailure): AssignmentVerdict {
  if (f.kind === "refused" && PERMANENT_REFUSALS.has(f.code)) {
    return {
      action: "fail_task",
      error: {
        code: f.code,
        message: `every worker would refuse this assignment: ${f.message}`,
        retryable: false,
      },
    };
  }
  // The request is larger than the server accepts: the same for every worker.
  if (f.kind === "no_answer" && /max(imum)?[ _]payload/i.test(f.message)) {
    return {
      action: "fail_task",
      error: {
        code: ErrorCode.PayloadTooLarge,
        message: `the assignment exceeds the server's max_payload: ${f.message}`,
        retryable: false,
      },
    };
  }
  const reason =
    f.kind === "refused" ? `refused: ${f.code}: ${f.message}` : `no answer: ${f.message}`;
  return { action: "hold_worker", reason };
}

/** Back-off settings. */
export interface AssignmentBackoffOptions {
  /** Hold-back after the first failure. @default 250 */
  baseMs: number;
  /** Longest hold-back, reached by doubling. @default 30000 */
  maxMs: number;
}

export const defaultAssignmentBackoffOptions: AssignmentBackoffOptions = {
  baseMs: 250,
  maxMs: 30_000,
};

interface Hold {
  /** Consecutive failed assignments. */
  failures: number;
  /** Heartbeat revision known when the last failure happened. */
  revision: number;
  /** Earliest time (ms) the worker may be offered work again. */
  until: number;
  reason: string;
}

/**
 * The workers held back after failed assignments. A held worker is eligible again only when
 * both hold: a heartbeat newer than the one known at the failure (it is alive and has said
 * what it runs and whether it is ready), and the back-off (doubling per consecutive failure)
 * has passed. A successful assignment clears the hold.
 */
export class AssignmentBackoff {
  readonly #o: AssignmentBackoffOptions;
  readonly #holds = new Map<string, Hold>();

  constructor(options: Partial<AssignmentBackoffOptions> = {}) {
    this.#o = { ...defaultAssignmentBackoffOptions, ...options };
  }

  /** Records a failed assignment to `workerId`, whose latest known heartbeat is `revision`. */
  failed(workerId: string, revision: number, now: number, reason: string): void {
    const h = this.#holds.get(workerId);
    // Several assignments in flight to one worker fail together: that is one failure of the
    // worker, not several. The back-off grows only when the worker fails again after it was
    // allowed back (a newer heartbeat).
    if (h !== undefined && h.revision >= revision) {
      this.#holds.set(workerId, { ...h, reason });
      return;
    }
    const failures = (h?.failures ?? 0) + 1;
    const delay = Math.min(this.#o.maxMs, this.#o.baseMs * 2 ** Math.min(failures - 1, 30));
    this.#holds.set(workerId, { failures, revision, until: now + delay, reason });
  }

  /** Records an acknowledged assignment: the worker takes work again. */
  succeeded(workerId: string): void {
    this.#holds.delete(workerId);
  }

  /** Forgets a worker that left. */
  forget(workerId: string): void {
    this.#holds.delete(workerId);
  }

  /**
   * Why `workerId` (whose latest heartbeat is `revision`) gets no work at `now`, or undefined
   * when it may be offered work.
   */
  heldBack(workerId: string, revision: number, now: number): string | undefined {
    const h = this.#holds.get(workerId);
    if (h === undefined) return undefined;
    if (revision <= h.revision) return `${h.reason} (waiting for its next heartbeat)`;
    if (now < h.until) return `${h.reason} (backing off for ${h.until - now} ms)`;
    return undefined;
  }

  /** Number of workers held back (for diagnostics). */
  get size(): number {
    return this.#holds.size;
  }
}
