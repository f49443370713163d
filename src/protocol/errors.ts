/**
 * Error codes and error classes shared by every Drover component.
 *
 * Every failure that crosses NATS is turned into an {@link ErrorReply} by
 * {@link errorReply}, so clients only ever see a stable `code`, a human
 * message and, for validation errors, the list of offending fields.
 */
import { z } from "zod";

/** Stable, wire-visible error codes. Never rename one: clients match on them. */
export const ErrorCode = {
  InvalidJson: "invalid_json",
  ValidationFailed: "validation_failed",
  PayloadTooLarge: "payload_too_large",
  UnsupportedVersion: "unsupported_version",
  NotFound: "not_found",
  IllegalTransition: "illegal_transition",
  Conflict: "conflict",
  Unavailable: "unavailable",
  Timeout: "timeout",
  /** The task store is (nearly) full: retry once retention has freed space. */
  CapacityExhausted: "capacity_exhausted",
  /** A submitter's rate or unfinished-task limit: retry later (the message says when). */
  RateLimited: "rate_limited",
  /** The request is not this submitter's to make (another submitter's task, an admin's endpoint). */
  Forbidden: "forbidden",
  Internal: "internal",
} as const;

/** One of the {@link ErrorCode} values, e.g. `"validation_failed"`. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** All error code values, as a tuple usable by `z.enum`. */
export const ERROR_CODES = Object.values(ErrorCode) as [ErrorCodeValue, ...ErrorCodeValue[]];

/** One field-level problem of a refused message. */
export const Issue = z.strictObject({
  /** Dotted path of the field, e.g. `"retry.backoff.baseMs"`; `""` for the root. */
  path: z.string(),
  /** Human-readable explanation. */
  message: z.string(),
  /** Machine-readable issue code (zod's, e.g. `"invalid_type"`). */
  code: z.string(),
});
/** One field-level problem of a refused message. */
export type Issue = z.infer<typeof Issue>;

/** Error body of every failed request: `{ ok: false, error: { code, message, issues? } }`. */
export const ErrorReply = z.strictObject({
  ok: z.literal(false),
  error: z.strictObject({
    code: z.enum(ERROR_CODES),
    message: z.string(),
    issues: z.array(Issue).optional(),
  }),
});
/** Error body of every failed request. */
export type ErrorReply = z.infer<typeof ErrorReply>;

/** Options of {@link DroverError}. */
export interface DroverErrorOptions {
  /** Whether the same request may succeed if sent again later. @default false */
  retryable?: boolean;
  /** Field-level problems (validation errors). */
  issues?: Issue[];
  /** The underlying error, kept for logs; never sent on the wire. */
  cause?: unknown;
}

/** A failure with a stable {@link ErrorCode}; what every Drover API throws. */
export class DroverError extends Error {
  /** Stable error code. */
  readonly code: ErrorCodeValue;
  /** Whether retrying the same request may succeed. */
  readonly retryable: boolean;
  /** Field-level problems, for `validation_failed`. */
  readonly issues?: Issue[];

  constructor(code: ErrorCodeValue, message: string, options: DroverErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "DroverError";
    this.code = code;
    this.retryable = options.retryable ?? false;
    if (options.issues !== undefined) this.issues = options.issues;
  }
}

const NON_RETRYABLE = Symbol.for("drover.NonRetryableError");

/**
 * Thrown by a task handler to say "do not retry this task": the task goes to
 * `failed` instead of `retrying`, whatever its retry policy.
 */
export class NonRetryableError extends Error {
  /** Application-level code reported with the failure. @default "non_retryable" */
  readonly code: string;
  /** Marks the error across copies of this module (see `Symbol.hasInstance` below). */
  readonly [NON_RETRYABLE] = true;

  /**
   * `instanceof` holds for a NonRetryableError from any copy of Drover: a handler module that
   * imports the npm package while the worker runs another copy (a checkout's sources, a second
   * installed version) still fails its task without retries.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return (
      typeof value === "object" &&
      value !== null &&
      (value as Record<symbol, unknown>)[NON_RETRYABLE] === true
    );
  }

  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "NonRetryableError";
    this.code = options.code ?? "non_retryable";
  }
}

/** Longest message sent for an unexpected error: internals must not leak in bulk. */
const MAX_INTERNAL_MESSAGE = 200;

/** Converts zod issues to wire {@link Issue}s (path joined by "."). */
export function issuesFromZod(error: z.ZodError): Issue[] {
  return error.issues.map((i) => ({
    path: i.path.map((p) => String(p)).join("."),
    message: i.message,
    code: i.code,
  }));
}

/**
 * Maps any thrown value to an {@link ErrorReply}. Drover errors keep their code;
 * zod errors become `validation_failed`; anything else is `internal` with a
 * shortened message.
 */
export function errorReply(err: unknown): ErrorReply {
  if (err instanceof DroverError) {
    return {
      ok: false,
      error: {
        code: err.code,
        message: err.message,
        ...(err.issues !== undefined ? { issues: err.issues } : {}),
      },
    };
  }
  if (err instanceof z.ZodError) {
    return {
      ok: false,
      error: {
        code: ErrorCode.ValidationFailed,
        message: "validation failed",
        issues: issuesFromZod(err),
      },
    };
  }
  const raw = err instanceof Error ? err.message : typeof err === "string" ? err : "unknown error";
  const message =
    raw.length > MAX_INTERNAL_MESSAGE ? `${raw.slice(0, MAX_INTERNAL_MESSAGE - 1)}…` : raw;
  return { ok: false, error: { code: ErrorCode.Internal, message: message || "internal error" } };
}
