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

/**
 * Deepest nesting of objects and arrays a message may have. Deeper input would overflow the
 * stack of a validator or of code that walks it; it is refused at the edge.
 */
export const MAX_JSON_DEPTH = 64;

/** Whether JSON text nests objects and arrays deeper than `max` (one pass, strings skipped). */
function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

/**
 * Whether a value nests objects and arrays deeper than `max` (a value of its own counts 0, an
 * object or array 1 more than its deepest member).
 */
export function deeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (d + 1 > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, d + 1]);
  }
  return false;
}

/** The path of the first own `__proto__` key (which object spreads and zod drop), or null. */
function protoKeyPath(value: unknown): string | null {
  const stack: [unknown, string][] = [[value, ""]];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (!Array.isArray(v) && Object.hasOwn(v, "__proto__"))
      return path === "" ? "__proto__" : `${path}.__proto__`;
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v);
    for (const [k, child] of entries) stack.push([child, path === "" ? k : `${path}.${k}`]);
  }
  return null;
}

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
  let text: string;
  try {
    text = typeof data === "string" ? data : utf8Decoder.decode(data);
    parsed = JSON.parse(text);
  } catch (cause) {
    const detail = cause instanceof Error ? `: ${cause.message}` : "";
    throw new DroverError(ErrorCode.InvalidJson, `message is not valid JSON${detail}`, { cause });
  }
  if (nestsDeeperThan(text, MAX_JSON_DEPTH))
    throw new DroverError(
      ErrorCode.ValidationFailed,
      `validation failed: objects and arrays nest deeper than ${MAX_JSON_DEPTH} levels`,
      {
        issues: [
          { path: "", message: `nests deeper than ${MAX_JSON_DEPTH} levels`, code: "too_big" },
        ],
      },
    );
  // A `__proto__` key would be dropped by validation (it sets a prototype instead): refused,
  // never silently removed (a label constraint would vanish). Escapes can spell it too.
  if (text.includes("__proto__") || text.includes("\\u")) {
    const path = protoKeyPath(parsed);
    if (path !== null)
      throw new DroverError(
        ErrorCode.ValidationFailed,
        `validation failed: ${path}: the key "__proto__" is not allowed`,
        { issues: [{ path, message: 'the key "__proto__" is not allowed', code: "custom" }] },
      );
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

/**
 * Serializes a message to UTF-8 JSON bytes (the inverse of {@link decode}). `Buffer.from`
 * rather than `TextEncoder`: for a record of about a kilobyte it is six times faster. Small
 * results are slices of a shared 8 KiB pool, so keep them only as long as a publish needs.
 */
export function encode(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value), "utf8");
}
