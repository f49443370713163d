import { describe, it, expect } from "vitest";
import type * as ErrorsModule from "../../../src/protocol/errors.ts";
import { z } from "zod";
import {
  DroverError,
  ErrorCode,
  ErrorReply,
  NonRetryableError,
  errorReply,
  okReply,
} from "../../../src/protocol/index.ts";

describe("errorReply", () => {
  it("keeps a DroverError's code, message and issues", () => {
    const issues = [{ path: "type", message: "bad", code: "invalid_type" }];
    const reply = errorReply(
      new DroverError(ErrorCode.ValidationFailed, "validation failed", { issues }),
    );
    expect(reply).toEqual({
      ok: false,
      error: { code: "validation_failed", message: "validation failed", issues },
    });
    expect(ErrorReply.parse(reply)).toEqual(reply);
  });

  it("maps zod errors to validation_failed", () => {
    const r = z.strictObject({ a: z.number() }).safeParse({ a: "x" });
    expect(r.success).toBe(false);
    if (!r.success)
      expect(errorReply(r.error).error).toMatchObject({
        code: "validation_failed",
        issues: [{ path: "a" }],
      });
  });

  it("maps unknown errors to internal with a short message", () => {
    const reply = errorReply(new Error("x".repeat(10_000)));
    expect(reply.error.code).toBe("internal");
    expect(reply.error.message.length).toBeLessThanOrEqual(200);
    expect(errorReply("boom").error).toEqual({ code: "internal", message: "boom" });
    expect(errorReply(42).error.code).toBe("internal");
    expect(errorReply(new NonRetryableError("nope")).error.code).toBe("internal");
  });

  it("DroverError carries retryable and cause", () => {
    const cause = new Error("root");
    const e = new DroverError(ErrorCode.Unavailable, "no leader", { retryable: true, cause });
    expect(e.retryable).toBe(true);
    expect(e.cause).toBe(cause);
    expect(e).toBeInstanceOf(Error);
    expect(new NonRetryableError("bad input").code).toBe("non_retryable");
  });

  it("a NonRetryableError from another copy of the module is one too (instanceof)", async () => {
    // A second copy of errors.ts, as a handler importing the npm package beside a checkout has.
    const spec = new URL("../../../src/protocol/errors.ts?copy", import.meta.url).href;
    const copy = (await import(/* @vite-ignore */ spec)) as typeof ErrorsModule;
    expect(copy.NonRetryableError).not.toBe(NonRetryableError);
    const foreign = new copy.NonRetryableError("from the package");
    expect(foreign instanceof NonRetryableError).toBe(true);
    expect(new NonRetryableError("x") instanceof copy.NonRetryableError).toBe(true);
    class Custom extends NonRetryableError {}
    expect(new Custom("sub") instanceof NonRetryableError).toBe(true);
    expect(new Error("plain") instanceof NonRetryableError).toBe(false);
    expect((null as unknown) instanceof NonRetryableError).toBe(false);
  });

  it("okReply adds ok: true", () => {
    expect(okReply({ id: "a", duplicate: false })).toEqual({ ok: true, id: "a", duplicate: false });
  });
});
