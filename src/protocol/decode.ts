/**
 * Parsing at the edge: bytes → JSON → zod, with every failure turned into a
 * {@link DroverError} carrying a stable code: bad input never crashes a handler.
 */
import type { z } from "zod";
import { DroverError, ErrorCode, issuesFromZod } from "./errors.ts";
import { PROTOCOL_VERSION } from "./envelope.ts";

/** Largest message the NATS server accepts by default (1 MiB). */
export const MAX_MESSAGE_BYTES = 1_048_576;

/** Default size limit for API requests (256 KiB): payloads are meant to be references, not blobs. */
export const DEFAULT_MAX_REQUEST_BYTES = 262_144;

/** Options of {@link decode}. */
export interface DecodeOptions {
  /** Size limit in bytes (UTF-8). @default DEFAULT_MAX_REQUEST_BYTES */
  maxBytes?: number;
}

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

function byteLength(data: Uint8Array | string, limit: number): number {
  if (typeof data !== "string") return data.byteLength;
  // A UTF-16 code unit is at most 3 UTF-8 bytes: skip encoding when it cannot exceed.
  if (data.length * 3 <= limit) return data.length;
  return utf8Encoder.encode(data).byteLength;
}

/** Keeps validation messages readable: the first few issues only. */
function summarize(issues: { path: string; message: string }[]): string {
  const shown = issues.slice(0, 3).map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
  const more = issues.length > 3 ? ` (+${issues.length - 3} more)` : "";
  return `validation failed: ${shown.join("; ")}${more}`;
}

/**
 * Parses and validates a message.
 *
 * @throws DroverError `payload_too_large` over `maxBytes`, `invalid_json` when the
 *   bytes are not JSON (or not UTF-8), `unsupported_version` when a `v` field is
 *   present and is not {@link PROTOCOL_VERSION}, `validation_failed` (with issues)
 *   when the schema refuses the value.
 */
export function decode<S extends z.ZodType>(
  schema: S,
  data: Uint8Array | string,
  opts: DecodeOptions = {},
): z.output<S> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const size = byteLength(data, maxBytes);
  if (size > maxBytes) {
    throw new DroverError(
      ErrorCode.PayloadTooLarge,
      `message is ${size} bytes, limit is ${maxBytes}`,
    );
  }
  let parsed: unknown;
  try {
    const text = typeof data === "string" ? data : utf8Decoder.decode(data);
    parsed = JSON.parse(text);
  } catch (cause) {
    const detail = cause instanceof Error ? `: ${cause.message}` : "";
    throw new DroverError(ErrorCode.InvalidJson, `message is not valid JSON${detail}`, { cause });
  }
  // Checked before the schema so that a v2 client gets a clear answer rather than field noise.
  if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) && "v" in parsed) {
    const v: unknown = parsed.v;
    if (v !== PROTOCOL_VERSION) {
      throw new DroverError(
        ErrorCode.UnsupportedVersion,
        `unsupported protocol version ${JSON.stringify(v) ?? String(v)}; this server speaks v${PROTOCOL_VERSION}`,
      );
    }
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    const issues = issuesFromZod(result.error);
    throw new DroverError(ErrorCode.ValidationFailed, summarize(issues), {
      issues,
      cause: result.error,
    });
  }
  return result.data;
}

/** Result of {@link safeDecode}. */
export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: DroverError };

/** {@link decode} without throwing. */
export function safeDecode<S extends z.ZodType>(
  schema: S,
  data: Uint8Array | string,
  opts: DecodeOptions = {},
): DecodeResult<z.output<S>> {
  try {
    return { ok: true, value: decode(schema, data, opts) };
  } catch (err) {
    if (err instanceof DroverError) return { ok: false, error: err };
    return {
      ok: false,
      error: new DroverError(ErrorCode.Internal, "decode failed", { cause: err }),
    };
  }
}

/** Serializes a message to UTF-8 JSON bytes (the inverse of {@link decode}). */
export function encode(value: unknown): Uint8Array {
  return utf8Encoder.encode(JSON.stringify(value));
}
