import { describe, expect, it } from "vitest";
import { isRevisionConflict, isTransient } from "../../src/runtime/kv-util.ts";

/** Errors shaped like the ones nats.js throws (message, and `code` / `api_error` where set). */
const apiError = (message: string, err_code: number): Error =>
  Object.assign(new Error(message), { api_error: { err_code, code: 400, description: message } });

describe("KV error classification", () => {
  it("a compare-and-set refusal is a conflict, never transient, whatever revision it names", () => {
    for (const rev of [1, 503, 2503, 15030, 1503]) {
      const err = apiError(`wrong last sequence: ${rev}`, 10071);
      expect(isRevisionConflict(err)).toBe(true);
      expect(isTransient(err)).toBe(false);
    }
    expect(isTransient(new Error("wrong last sequence: 2503"))).toBe(false);
  });

  it("timeouts, no responders, lost connections and leader elections are transient", () => {
    for (const message of [
      "TIMEOUT",
      "timeout",
      "no responders",
      "503 no responders available",
      "closed connection",
      "disconnect",
      "JetStream cluster leadership transfer in progress",
      "JetStream system temporarily unavailable",
    ])
      expect(isTransient(new Error(message)), message).toBe(true);
    expect(isTransient(Object.assign(new Error("status"), { code: 503 }))).toBe(true);
  });

  it("other API errors are not transient", () => {
    expect(isTransient(apiError("stream not found", 10059))).toBe(false);
    expect(isTransient(apiError("maximum payload exceeded", 10054))).toBe(false);
  });
});
