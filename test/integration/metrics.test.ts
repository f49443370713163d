/**
 * Prometheus metrics and probes of scheduler replicas and workers on a real nats-server:
 * every series the docs name moves with what the cluster does (tasks by state and type,
 * queued tasks that fit no worker by why, per-worker load, leader term, assignments, finished
 * tasks, latency histograms, worker-loss detection and requeue).
 */
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/cli/local.ts";
import { MetricsServer, workerMetrics } from "../../src/runtime/index.ts";
import type { SchedulerReplica } from "../../src/runtime/index.ts";
import { startDrover } from "../fixtures/drover.ts";
import { startNats } from "../fixtures/nats.ts";
import type { NatsHandle } from "../fixtures/nats.ts";
import { metric, scrape } from "../fixtures/prometheus.ts";

let nats: NatsHandle;
beforeAll(async () => {
  nats = await startNats();
});
afterAll(async () => {
  await nats?.[Symbol.asyncDispose]();
});

async function serve(replica: SchedulerReplica): Promise<{ url: string; server: MetricsServer }> {
  const server = new MetricsServer({
    registry: replica.metrics.registry,
    healthy: () => replica.healthy(),
    ready: () => replica.ready(),
  });
  return { url: await server.listen(0), server };
}

describe("metrics", () => {
  it("scheduler replicas and workers export live values at /metrics, and probes at /healthz and /readyz", async () => {
    await using d = await startDrover({ servers: nats.servers, schedulers: 2 });
    const leader = d.leader()!;
    const follower = d.replicas.find((r) => r !== leader)!;
    const L = await serve(leader);
    const F = await serve(follower);
    const worker = await d.addWorker({
      id: "steady",
      handlers: {
        echo: ({ payload }) => payload,
        sleep: () => "not here",
        fail: () => {
          throw new Error("always fails");
        },
      },
      capacity: { cpu: 2, memoryMb: 512, slots: 3 },
      pool: "small",
    });
    const wServer = new MetricsServer({
      registry: workerMetrics(worker),
      healthy: () => worker.healthy(),
      ready: () => worker.ready(),
    });
    const wUrl = await wServer.listen(0);
    try {
      // Tasks that succeed: finished, assignment and latency series count them.
      const ids = await Promise.all(
        Array.from({ length: 5 }, (_, i) => d.client.submit({ type: "echo", payload: i })),
      );
      for (const { id } of ids) expect((await d.client.wait(id)).state).toBe("succeeded");
      const l = await scrape(L.url);
      expect(metric(l, "drover_replica_leader")).toBe(1);
      expect(metric(await scrape(F.url), "drover_replica_leader")).toBe(0);
      expect(metric(l, "drover_leader_term")).toBe(leader.term);
      expect(metric(l, "drover_leader_changes_total")).toBe(1);
      expect(metric(l, "drover_assignments_total")).toBe(5);
      expect(metric(l, "drover_completions_accepted_total")).toBe(5);
      expect(metric(l, "drover_tasks_finished_total", { state: "succeeded", type: "echo" })).toBe(
        5,
      );
      expect(metric(l, "drover_task_submit_to_start_seconds_count", { type: "echo" })).toBe(5);
      expect(
        metric(l, "drover_task_submit_to_done_seconds_count", { state: "succeeded", type: "echo" }),
      ).toBe(5);
      expect(metric(l, "drover_workers", { pool: "small", state: "ready" })).toBe(1);
      const w = await scrape(wUrl);
      expect(metric(w, "drover_worker_succeeded_total", { worker: "steady", pool: "small" })).toBe(
        5,
      );
      expect(metric(w, "drover_worker_capacity", { resource: "slots" })).toBe(3);
      expect(metric(w, "drover_worker_free_slots")).toBe(3);
      expect(metric(w, "process_cpu_seconds_total")).toBeGreaterThan(0);

      // A task no worker runs: counted as queued on every replica, and by why on the leader.
      const { id: stuck } = await d.client.submit({ type: "nope" });
      await d.waitFor(
        async () =>
          metric(await scrape(L.url), "drover_queued_no_fit", { reason: "type" }) === 1 &&
          metric(await scrape(F.url), "drover_tasks", { state: "queued", type: "nope" }) === 1,
        "the leader to count the task that fits no worker",
      );

      // A worker process killed while it runs a task: detection and requeue are measured,
      // and the requeued task (labelled for the dead worker only) waits with reason "labels".
      const port = await freePort();
      const victim = await d.spawnWorker("victim", [
        "--label",
        "zone=victim",
        "--metrics-port",
        String(port),
      ]);
      const { id: held } = await d.client.submit({
        type: "sleep",
        payload: { ms: 60_000 },
        labels: { zone: "victim" },
        timeoutMs: 120_000,
      });
      await d.waitFor(
        async () =>
          metric(
            await scrape(`http://127.0.0.1:${port}/metrics`),
            "drover_worker_running_tasks",
          ) === 1,
        "the victim to run the task",
      );
      expect(metric(await scrape(L.url), "drover_worker_tasks", { worker: "victim" })).toBe(1);
      victim.kill("SIGKILL");
      await once(victim, "exit");
      await d.waitFor(async () => {
        const s = await scrape(L.url);
        return (
          metric(s, "drover_worker_loss_detection_seconds_count") === 1 &&
          metric(s, "drover_task_requeue_seconds_count") === 1 &&
          metric(s, "drover_queued_no_fit", { reason: "labels" }) === 1
        );
      }, "the leader to measure the loss and requeue the task");
      const s = await scrape(L.url);
      expect(metric(s, "drover_workers_lost_total")).toBe(1);
      expect(metric(s, "drover_tasks_requeued_total")).toBe(1);
      // Detected from the last heartbeat within a few TTLs (1.2 s each).
      expect(metric(s, "drover_worker_loss_detection_seconds_sum")).toBeLessThan(10);

      // Retries by policy (written by the leader), dead tasks, and a cancel and a retry asked
      // for by a user (written by the replica that took the request).
      const { id: failing } = await d.client.submit({
        type: "fail",
        retry: { maxAttempts: 2, backoff: { type: "fixed", baseMs: 10 } },
      });
      expect((await d.client.wait(failing)).state).toBe("dead");
      await d.client.cancel(stuck);
      await d.client.cancel(held);
      await d.client.retry(failing);
      const both = [await scrape(L.url), await scrape(F.url)];
      const sum = (name: string, labels: Record<string, string>): number =>
        both.reduce((n, x) => n + (metric(x, name, labels) ?? 0), 0);
      expect(sum("drover_tasks_finished_total", { state: "cancelled" })).toBe(2);
      expect(sum("drover_tasks_finished_total", { state: "dead", type: "fail" })).toBe(1);
      expect(sum("drover_task_retries_total", { by: "policy", type: "fail" })).toBe(1);
      expect(sum("drover_task_retries_total", { by: "user", type: "fail" })).toBe(1);

      // Probes.
      const probe = async (url: string): Promise<number> => (await fetch(url)).status;
      const base = (u: string): string => u.replace(/\/metrics$/, "");
      expect(await probe(`${base(L.url)}/healthz`)).toBe(200);
      expect(await probe(`${base(F.url)}/readyz`)).toBe(200);
      expect(await probe(`${base(wUrl)}/readyz`)).toBe(200);
      expect(await probe(`${base(L.url)}/nope`)).toBe(404);
      const draining = worker.drain();
      const res = await fetch(`${base(wUrl)}/readyz`);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { reason: string }).reason).toMatch(/draining|stopp/);
      await draining;
      await follower.close();
      expect(await probe(`${base(F.url)}/readyz`)).toBe(503);
    } finally {
      await Promise.all([L.server.close(), F.server.close(), wServer.close()]);
    }
  });
});
