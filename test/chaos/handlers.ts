/**
 * The chaos suite's handler module, copied into the worker containers at /app/test/chaos/ (same relative imports).
 * Before it works, every execution records itself durably in the test's executions stream
 * (`<prefix>.chaos.exec.<taskId>`, de-duplicated per epoch and worker, so that one epoch run
 * by two workers would show as two), so the checker can prove
 * executions ≥ accepted completions.
 */
import { connectNats, defineHandlers, jetstreamClient } from "../../src/runtime/index.ts";
import type { JetStreamClient } from "@nats-io/jetstream";

const prefix = process.env.DROVER_PREFIX ?? "drover";
const workerId = process.env.DROVER_WORKER_ID ?? "unknown";
let js: Promise<JetStreamClient> | null = null;

function client(): Promise<JetStreamClient> {
  js ??= connectNats({
    servers: (process.env.DROVER_NATS_URL ?? "nats://127.0.0.1:4222").split(","),
    name: `chaos-${workerId}`,
  }).then(jetstreamClient);
  return js;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason as Error)), {
      once: true,
    });
  });
}

export default defineHandlers({
  work: async ({ taskId, attempt, epoch, payload, signal }) => {
    const body = JSON.stringify({ taskId, attempt, epoch, workerId, at: Date.now() });
    for (let i = 0; ; i++) {
      try {
        await (
          await client()
        ).publish(`${prefix}.chaos.exec.${taskId}`, body, {
          msgID: `${taskId}:${epoch}:${workerId}`,
        });
        break;
      } catch (err) {
        if (signal.aborted || i > 100) throw err;
        await sleep(100, signal);
      }
    }
    const ms =
      typeof payload === "object" &&
      payload !== null &&
      !Array.isArray(payload) &&
      typeof payload.ms === "number"
        ? payload.ms
        : 100;
    await sleep(ms, signal);
    return { attempt, workerId };
  },
});
