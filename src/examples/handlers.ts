/**
 * Example task handlers, used by `drover up`, the walkthrough in the README and the tests.
 * A handler module exports its handlers as the default export (or as `handlers`).
 */
import { defineHandlers } from "../runtime/handler.ts";
import { NonRetryableError } from "../protocol/index.ts";
import type { JsonValue } from "../protocol/index.ts";

const obj = (p: JsonValue): Record<string, JsonValue> =>
  p !== null && typeof p === "object" && !Array.isArray(p) ? p : {};
const num = (v: JsonValue | undefined, def: number): number =>
  typeof v === "number" && Number.isFinite(v) ? v : def;

/** Resolves after `ms`, or rejects when `signal` aborts (so cancel/timeout stop it at once). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason as Error)), {
      once: true,
    });
  });
}

export default defineHandlers({
  /** Returns its payload. */
  echo: ({ payload }) => payload,

  /** `{ ms, steps? }`: sleeps `ms`, reporting progress `steps` times; honours the signal. */
  sleep: async ({ payload, signal, progress: report }) => {
    const p = obj(payload);
    const ms = num(p.ms, 1_000);
    const steps = Math.max(1, Math.floor(num(p.steps, 1)));
    for (let i = 1; i <= steps; i++) {
      await sleep(ms / steps, signal);
      if (steps > 1) report({ step: i, of: steps });
    }
    return { slept: ms };
  },

  /**
   * `{ times, fatal? }`: fails on attempts 1..times (throws), then succeeds. Counts by the
   * attempt number, so it behaves the same whichever worker runs the retry.
   * With `fatal: true` it throws a NonRetryableError instead.
   */
  fail: ({ payload, attempt }) => {
    const p = obj(payload);
    if (p.fatal === true)
      throw new NonRetryableError("fatal failure requested", { code: "bad_input" });
    if (attempt <= num(p.times, 1)) throw new Error(`failing on purpose (attempt ${attempt})`);
    return { attempt };
  },

  /** `{ ms }`: burns CPU for `ms` (checking the signal between slices). */
  "cpu-burn": async ({ payload, signal }) => {
    const until = Date.now() + num(obj(payload).ms, 100);
    let n = 0;
    while (Date.now() < until) {
      if (signal.aborted) throw signal.reason as Error;
      for (let i = 0; i < 100_000; i++) n = (n * 31 + i) % 1_000_003;
      await new Promise((r) => setImmediate(r));
    }
    return { n };
  },

  /** Does nothing: the benchmark's no-op task. */
  noop: () => null,
});
