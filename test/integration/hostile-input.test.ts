/**
 * Hostile input that used to starve or mislead a cluster (regressions): deep nesting, a
 * `__proto__` label, delays beyond what Node's timers hold, a handler's result nested too deep.
 * Each is refused with `validation_failed` and creates nothing, or handled as documented.
 */
import { describe, expect, it } from "vitest";
import type { JsonValue } from "../../src/protocol/index.ts";
import { DroverError, ErrorCode, subjects } from "../../src/protocol/index.ts";
import { startDrover } from "../fixtures/drover.ts";
import { useNats } from "../fixtures/nats.ts";

const env = useNats();
const DAY = 86_400_000;

describe("hostile input", () => {
  it("refuses deep nesting, __proto__ keys and far-future times; long delays wait; deep results fail the task", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    await d.addWorker({
      id: "w1",
      handlers: {
        echo: ({ payload }) => payload,
        deep: () => JSON.parse(`${"[".repeat(100)}${"]".repeat(100)}`) as JsonValue,
      },
    });
    const api = subjects(d.prefix).api;
    const raw = async (
      subject: string,
      body: string,
    ): Promise<{ ok: boolean; error?: { code: string; message: string } }> =>
      (await env.nc.request(subject, body, { timeout: 10_000 })).json();

    const deep = `{"type":"echo","payload":${"[".repeat(3_000)}${"]".repeat(3_000)}}`;
    for (const [subject, body] of [
      [api.submit, deep],
      [api.workers, `{"v":${"[".repeat(3_000)}${"]".repeat(3_000)}}`],
      [api.health, `{"v":${"[".repeat(3_000)}${"]".repeat(3_000)}}`],
      [api.submit, `{"type":"echo","labels":{"__proto__":"gpu-only"}}`],
      [api.submit, `{"type":"echo","runAt":8000000000000000}`],
    ] as const) {
      const reply = await raw(subject, body);
      expect(reply.ok, body.slice(0, 60)).toBe(false);
      expect(reply.error?.code, body.slice(0, 60)).toBe(ErrorCode.ValidationFailed);
    }
    expect((await d.client.list()).tasks).toEqual([]);

    // 30 days: past Node's 24.8-day timer limit. It waits (while a later task runs).
    const { id: later } = await d.client.submit({ type: "echo", delayMs: 30 * DAY });
    const { id: now } = await d.client.submit({ type: "echo", payload: 1 });
    expect((await d.client.wait(now)).state).toBe("succeeded");
    await d.waitFor(async () => (await d.client.health()).tasks.succeeded === 1, "the echo");
    expect((await d.client.get(later)).state).toBe("delayed");

    const { id: deepResult } = await d.client.submit({ type: "deep" });
    const failed = await d.client.wait(deepResult);
    expect(failed.state).toBe("failed");
    expect(failed.error).toMatchObject({ code: "result_too_deep", retryable: false });
    expect(failed.attempt).toBe(1);
    // From the TS client too: a computed `__proto__` key is an own property, sent and refused.
    const e = await d.client
      .submit({ type: "echo", labels: { ["__proto__"]: "x" } })
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DroverError);
    expect((e as DroverError).code).toBe(ErrorCode.ValidationFailed);
  });
});
