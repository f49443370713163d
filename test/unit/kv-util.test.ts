import { JetStreamApiError } from "@nats-io/jetstream";
import { JetStreamStatusError } from "@nats-io/jetstream/internal";
import {
  ClosedConnectionError,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import {
  isNotFound,
  isRevisionConflict,
  isStoreFull,
  isTimeout,
  isTransient,
} from "../../src/runtime/kv-util.ts";
import { ensureStream } from "../../src/runtime/resources.ts";
import type { JetStreamManager } from "@nats-io/jetstream";

/** The error nats.js throws for a JetStream API error reply. */
const apiError = (description: string, err_code: number, code = 400): JetStreamApiError =>
  new JetStreamApiError({ code, err_code, description });

describe("NATS error classification (by class and code, never by message)", () => {
  it("a compare-and-set refusal is a conflict, never transient, whatever revision it names", () => {
    for (const rev of [1, 503, 2503, 15030, 1503]) {
      const err = apiError(`wrong last sequence: ${rev}`, 10071);
      expect(isRevisionConflict(err)).toBe(true);
      expect(isTransient(err)).toBe(false);
    }
    // Message text alone means nothing.
    expect(isTransient(new Error("wrong last sequence: 2503"))).toBe(false);
    expect(isRevisionConflict(new Error("wrong last sequence: 7"))).toBe(false);
    expect(isTransient(new Error("timeout"))).toBe(false);
  });

  it("a timeout is told apart from other failures, also when wrapped", () => {
    expect(isTimeout(new TimeoutError())).toBe(true);
    expect(isTimeout(new RequestError("request failed", { cause: new TimeoutError() }))).toBe(true);
    expect(isTimeout(new NoRespondersError("x"))).toBe(false);
    expect(isTimeout(new Error("timeout"))).toBe(false);
  });

  it("timeouts, no responders, lost connections and an unavailable JetStream are transient", () => {
    for (const err of [
      new TimeoutError(),
      new NoRespondersError("drover.api.tasks.submit"),
      new RequestError("request failed", { cause: new NoRespondersError("x") }),
      new ClosedConnectionError(),
      apiError("JetStream cluster not available", 10008, 503),
      new JetStreamStatusError("no responders", 503),
      new JetStreamStatusError("request timeout", 408),
    ])
      expect(isTransient(err), err.message).toBe(true);
  });

  it("a full store is neither transient nor a conflict; other API errors are not transient", () => {
    for (const code of [10077, 10023, 10047]) {
      const err = apiError("maximum bytes exceeded", code, 503);
      expect(isStoreFull(err)).toBe(true);
      expect(isTransient(err)).toBe(false);
    }
    expect(isStoreFull(new Error("maximum bytes exceeded"))).toBe(false);
    expect(isTransient(apiError("stream not found", 10059, 404))).toBe(false);
    expect(isTransient(apiError("maximum payload exceeded", 10054))).toBe(false);
  });

  it("ensureStream creates a stream only when it is not found, and passes on anything else", async () => {
    const calls: string[] = [];
    const jsm = (infoError: Error): JetStreamManager =>
      ({
        streams: {
          info: () => Promise.reject(infoError),
          add: () => {
            calls.push("add");
            return Promise.resolve({});
          },
        },
      }) as unknown as JetStreamManager;
    expect(isNotFound(apiError("stream not found", 10059, 404))).toBe(true);
    await ensureStream(jsm(apiError("stream not found", 10059, 404)), { name: "S" });
    expect(calls).toEqual(["add"]);
    await expect(ensureStream(jsm(new TimeoutError()), { name: "S" })).rejects.toBeInstanceOf(
      TimeoutError,
    );
    await expect(
      ensureStream(jsm(apiError("authorization violation", 10000, 403)), { name: "S" }),
    ).rejects.toBeInstanceOf(JetStreamApiError);
    expect(calls).toEqual(["add"]);
  });
});
