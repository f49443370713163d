/**
 * One BullMQ worker process for `bench/bullmq-bench.ts`: a `Worker` with the given concurrency
 * running a no-op processor that returns the time it started (epoch ms, sub-millisecond), so
 * the parent can measure submit→start the way Drover's bench does. When the parent sends
 * "stop", it closes the worker and answers with how many times it ran each job id, which is
 * the worker side of the exactly-once check.
 *
 *   node bench/bullmq-worker.ts <redis-port> <queue-name> <concurrency>
 */
import { Worker } from "bullmq";

const [port, queueName, concurrency] = process.argv.slice(2);
if (port === undefined || queueName === undefined || concurrency === undefined) {
  console.error("usage: node bench/bullmq-worker.ts <redis-port> <queue-name> <concurrency>");
  process.exit(2);
}
// Its own clock helper: this process loads BullMQ only, so its CPU and memory are BullMQ's.
const now = (): number => performance.timeOrigin + performance.now();
const runs = new Map<string, number>();

const worker = new Worker(
  queueName,
  async (job) => {
    const startedAt = now();
    const id = job.id ?? "?";
    runs.set(id, (runs.get(id) ?? 0) + 1);
    return Promise.resolve({ startedAt });
  },
  {
    connection: { host: "127.0.0.1", port: Number(port) },
    concurrency: Number(concurrency),
  },
);
worker.on("error", (err) => console.error(`bullmq worker: ${err.message}`));
await worker.waitUntilReady();
process.send?.({ kind: "ready" });

process.on("message", (m: unknown) => {
  if (m !== "stop") return;
  void worker.close().then(() => {
    process.send?.({ kind: "runs", runs: [...runs] }, () => process.exit(0));
  });
});
process.on("disconnect", () => process.exit(0));
