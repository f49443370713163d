import { describe, it, expect } from "vitest";
import {
  DEFAULT_MAX_REQUEST_BYTES,
  DroverError,
  ErrorCode,
  GetTaskRequest,
  ListTasksRequest,
  Report,
  SubmitTaskRequest,
  decode,
  deeperThan,
  dueTime,
  encode,
  MAX_DELAY_MS,
  MAX_JSON_DEPTH,
  safeDecode,
} from "../../../src/protocol/index.ts";

function decodeError(fn: () => unknown): DroverError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DroverError);
    return err as DroverError;
  }
  throw new Error("expected decode to throw");
}

describe("decode", () => {
  it("refuses malformed JSON with invalid_json", () => {
    const err = decodeError(() => decode(SubmitTaskRequest, "{type: nope"));
    expect(err.code).toBe(ErrorCode.InvalidJson);
    expect(err.retryable).toBe(false);
  });

  it("refuses bytes that are not UTF-8 with invalid_json", () => {
    const err = decodeError(() =>
      decode(SubmitTaskRequest, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])),
    );
    expect(err.code).toBe(ErrorCode.InvalidJson);
  });

  it("refuses wrong types with validation_failed and issue paths", () => {
    const err = decodeError(() =>
      decode(
        SubmitTaskRequest,
        JSON.stringify({ type: "email", priority: "high", retry: { backoff: { baseMs: -1 } } }),
      ),
    );
    expect(err.code).toBe(ErrorCode.ValidationFailed);
    const paths = err.issues?.map((i) => i.path) ?? [];
    expect(paths).toContain("priority");
    expect(paths).toContain("retry.backoff.baseMs");
    for (const issue of err.issues ?? []) {
      expect(typeof issue.code).toBe("string");
      expect(issue.message.length).toBeGreaterThan(0);
    }
  });

  it("refuses unknown fields, including nested ones", () => {
    const err = decodeError(() =>
      decode(
        SubmitTaskRequest,
        JSON.stringify({ type: "email", colour: "red", resources: { gpu: 1 } }),
      ),
    );
    expect(err.code).toBe(ErrorCode.ValidationFailed);
    const codes = err.issues?.map((i) => `${i.code}@${i.path}`) ?? [];
    expect(codes).toContain("unrecognized_keys@");
    expect(codes).toContain("unrecognized_keys@resources");
  });

  it("refuses an invalid task type", () => {
    const err = decodeError(() => decode(SubmitTaskRequest, JSON.stringify({ type: "has space" })));
    expect(err.issues?.[0]?.path).toBe("type");
  });

  it("refuses oversize messages with payload_too_large", () => {
    const big = JSON.stringify({ type: "x", payload: "a".repeat(DEFAULT_MAX_REQUEST_BYTES) });
    expect(decodeError(() => decode(SubmitTaskRequest, big)).code).toBe(ErrorCode.PayloadTooLarge);
    expect(
      decodeError(() =>
        decode(SubmitTaskRequest, encode({ type: "x", payload: "abcdef" }), { maxBytes: 10 }),
      ).code,
    ).toBe(ErrorCode.PayloadTooLarge);
    // Multi-byte characters count in bytes, not UTF-16 units.
    expect(
      decodeError(() =>
        decode(SubmitTaskRequest, `{"type":"x","payload":"${"é".repeat(8)}"}`, { maxBytes: 36 }),
      ).code,
    ).toBe(ErrorCode.PayloadTooLarge);
  });

  it("refuses a wrong v with unsupported_version", () => {
    expect(
      decodeError(() => decode(SubmitTaskRequest, JSON.stringify({ v: 2, type: "x" }))).code,
    ).toBe(ErrorCode.UnsupportedVersion);
    expect(
      decodeError(() => decode(GetTaskRequest, JSON.stringify({ v: "1", id: "a" }))).code,
    ).toBe(ErrorCode.UnsupportedVersion);
    expect(decode(GetTaskRequest, JSON.stringify({ v: 1, id: "a" }))).toEqual({ v: 1, id: "a" });
  });

  it("fills defaults", () => {
    const req = decode(SubmitTaskRequest, JSON.stringify({ type: "email" }));
    expect(req).toEqual({
      type: "email",
      payload: null,
      priority: 0,
      resources: { cpu: 0, memoryMb: 0, slots: 1 },
      labels: {},
      timeoutMs: 60_000,
      retry: {
        maxAttempts: 3,
        backoff: { type: "exponential", baseMs: 1000, maxMs: 60_000, jitter: 0.2 },
      },
    });
    const partial = decode(
      SubmitTaskRequest,
      JSON.stringify({ type: "e", retry: { backoff: { type: "fixed" } }, resources: { cpu: 2 } }),
    );
    expect(partial.retry).toEqual({
      maxAttempts: 3,
      backoff: { type: "fixed", baseMs: 1000, maxMs: 60_000, jitter: 0.2 },
    });
    expect(partial.resources).toEqual({ cpu: 2, memoryMb: 0, slots: 1 });
    expect(decode(ListTasksRequest, "{}").limit).toBe(100);
  });

  it("accepts runAt as ISO string or epoch ms, delayMs alone, but not both", () => {
    expect(
      decode(SubmitTaskRequest, JSON.stringify({ type: "x", runAt: "2030-01-01T00:00:00Z" })).runAt,
    ).toBe("2030-01-01T00:00:00Z");
    expect(
      decode(SubmitTaskRequest, JSON.stringify({ type: "x", runAt: 1_900_000_000_000 })).runAt,
    ).toBe(1_900_000_000_000);
    expect(decode(SubmitTaskRequest, JSON.stringify({ type: "x", delayMs: 5 })).delayMs).toBe(5);
    const err = decodeError(() =>
      decode(SubmitTaskRequest, JSON.stringify({ type: "x", runAt: 1, delayMs: 5 })),
    );
    expect(err.code).toBe(ErrorCode.ValidationFailed);
    expect(err.issues?.map((i) => i.path)).toContain("delayMs");
    expect(
      decodeError(() => decode(SubmitTaskRequest, JSON.stringify({ type: "x", runAt: "tomorrow" })))
        .code,
    ).toBe(ErrorCode.ValidationFailed);
  });

  it("decodes a discriminated report and refuses an unknown kind", () => {
    const base = { v: 1, taskId: "t1", epoch: 2, workerId: "w1", at: 5 };
    expect(decode(Report, JSON.stringify({ ...base, kind: "succeeded" }))).toEqual({
      ...base,
      kind: "succeeded",
      result: null,
    });
    expect(
      decodeError(() => decode(Report, JSON.stringify({ ...base, kind: "exploded" }))).code,
    ).toBe(ErrorCode.ValidationFailed);
    expect(
      decodeError(() => decode(Report, JSON.stringify({ ...base, v: undefined, kind: "started" })))
        .code,
    ).toBe(ErrorCode.ValidationFailed);
  });

  it("safeDecode returns errors instead of throwing", () => {
    const bad = safeDecode(GetTaskRequest, "nope");
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.code).toBe(ErrorCode.InvalidJson);
    const good = safeDecode(GetTaskRequest, encode({ id: "abc" }));
    expect(good).toEqual({ ok: true, value: { id: "abc" } });
  });
});

describe("hostile input at the edge", () => {
  const nested = (levels: number): string =>
    `{"type":"echo","payload":${"[".repeat(levels - 1)}${"]".repeat(levels - 1)}}`;

  it("refuses nesting deeper than MAX_JSON_DEPTH with validation_failed, and takes it up to there", () => {
    expect(decode(SubmitTaskRequest, nested(MAX_JSON_DEPTH)).type).toBe("echo");
    const e = decodeError(() => decode(SubmitTaskRequest, nested(MAX_JSON_DEPTH + 1)));
    expect(e.code).toBe(ErrorCode.ValidationFailed);
    expect(e.message).toMatch(/nest deeper than 64 levels/);
    // 100,000 levels: refused, no stack overflow; brackets inside strings do not count.
    expect(decodeError(() => decode(SubmitTaskRequest, nested(100_000))).code).toBe(
      ErrorCode.ValidationFailed,
    );
    expect(
      decode(SubmitTaskRequest, `{"type":"echo","payload":"${"[".repeat(1_000)}"}`).payload,
    ).toHaveLength(1_000);
  });

  it("refuses a __proto__ key, written plainly or escaped, instead of dropping it", () => {
    for (const key of ["__proto__", "\\u005f\\u005fproto\\u005f\\u005f"]) {
      const e = decodeError(() =>
        decode(SubmitTaskRequest, `{"type":"echo","labels":{"${key}":"gpu-only"}}`),
      );
      expect(e.code).toBe(ErrorCode.ValidationFailed);
      expect(e.issues).toEqual([
        { path: "labels.__proto__", message: 'the key "__proto__" is not allowed', code: "custom" },
      ]);
    }
    // As a value it is just a string.
    expect(decode(SubmitTaskRequest, `{"type":"echo","payload":"__proto__"}`).payload).toBe(
      "__proto__",
    );
  });

  it("finds values nested too deep (a handler's result)", () => {
    expect(deeperThan({ a: [1, { b: 2 }] }, 3)).toBe(false);
    expect(deeperThan({ a: [1, { b: [] }] }, 3)).toBe(true);
    expect(deeperThan("x", 0)).toBe(false);
  });
});

describe("dueTime", () => {
  it("refuses a time more than a year ahead", () => {
    const now = Date.UTC(2026, 11, 2);
    expect(dueTime({ delayMs: MAX_DELAY_MS }, now)).toBe(now + MAX_DELAY_MS);
    for (const runAt of [
      now + MAX_DELAY_MS + 1,
      8_000_000_000_000_000,
      "+255000-01-01T00:00:00Z",
    ]) {
      const e = decodeError(() => dueTime({ runAt }, now));
      expect(e.code).toBe(ErrorCode.ValidationFailed);
      expect(e.message).toMatch(/more than a year ahead/);
    }
  });
});
