/**
 * The scheduling core end to end on a real nats-server: submit (nats CLI and TS client),
 * placement, retries with backoff, timeouts, cancel, delays, leader handover, worker loss,
 * fencing of stale reports and validation at the edge.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { TaskRecord } from "../../src/protocol/index.ts";
import { resourceNames, subjects } from "../../src/protocol/index.ts";
import type { HandlerMap } from "../../src/runtime/index.ts";
import examples from "../../src/examples/handlers.ts";
import { startDrover } from "../fixtures/drover.ts";
import { useNats } from "../fixtures/nats.ts";

const run = promisify(execFile);

const env = useNats();

const servers = (): string[] => env.nats.servers;
const url = (): string => `nats://${env.nats.servers[0]}`;

async function countTasks(prefix: string): Promise<number> {
  const kv = await new Kvm(env.nc).open(resourceNames(prefix).buckets.tasks);
  return (await kv.status()).values;
}

function succeededTransitions(t: TaskRecord): number {
  return t.history.filter((h) => h.to === "succeeded").length;
}

describe("submission and completion", () => {
  it("1,000 tasks from the nats CLI and the TS client all succeed with exactly one accepted completion", async () => {
    await using d = await startDrover({ servers: servers() });
    await d.addWorker({
      id: "w1",
      handlers: examples,
      capacity: { cpu: 8, memoryMb: 8192, slots: 16 },
    });
    await d.addWorker({
      id: "w2",
      handlers: examples,
      capacity: { cpu: 8, memoryMb: 8192, slots: 16 },
    });
    const ids = new Set<string>();
    // 500 through the real nats CLI: one request per task, each answered with the task id.
    const { stdout } = await run(
      "nats",
      [
        "--server",
        url(),
        "request",
        subjects(d.prefix).api.submit,
        '{"type":"echo","payload":{"n":{{Count}}},"idempotencyKey":"cli-{{Count}}"}',
        "--count",
        "500",
        "--raw",
        "--timeout",
        "10s",
      ],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    for (const line of stdout.split("\n").filter((l) => l.trim().startsWith("{"))) {
      const reply = JSON.parse(line) as { ok: boolean; id: string };
      expect(reply.ok).toBe(true);
      ids.add(reply.id);
    }
    expect(ids.size).toBe(500);
    // 500 through the TypeScript client, 50 in flight.
    for (let i = 0; i < 10; i++) {
      const batch = await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          d.client.submit({ type: "echo", payload: { n: 500 + i * 50 + j } }),
        ),
      );
      for (const b of batch) ids.add(b.id);
    }
    expect(ids.size).toBe(1_000);
    const finals = await Promise.all([...ids].map((id) => d.client.wait(id)));
    expect(finals.filter((t) => t.state !== "succeeded")).toEqual([]);
    expect(finals.map(succeededTransitions).every((n) => n === 1)).toBe(true);
    // The leader counts a completion once its write is acknowledged, which can be a moment
    // after the record's change reached this test's watch.
    const stats = d.leader()!.scheduler!.stats;
    await d.waitFor(
      () => stats.acceptedCompletions >= 1_000,
      "the leader to count every completion",
    );
    expect(stats.acceptedCompletions).toBe(1_000);
    expect(await countTasks(d.prefix)).toBe(1_000);
    // Payloads arrived intact (echo returns the payload).
    const sample = finals.find((t) => (t.payload as { n: number }).n === 7)!;
    expect(sample.result).toEqual({ n: 7 });
  });

  it("a second submit with the same idempotencyKey returns the first id and creates nothing", async () => {
    await using d = await startDrover({ servers: servers() });
    const a = await d.client.submit({ type: "echo", idempotencyKey: "order-42" });
    const b = await d.client.submit({
      type: "echo",
      payload: { other: true },
      idempotencyKey: "order-42",
    });
    expect(a.duplicate).toBe(false);
    expect(b).toEqual({ id: a.id, duplicate: true });
    expect(await countTasks(d.prefix)).toBe(1);
  });
});

describe("placement", () => {
  it("serves higher priority first and FIFO within a priority", async () => {
    await using d = await startDrover({ servers: servers() });
    const order: number[] = [];
    const handlers: HandlerMap = {
      job: ({ payload }) => void order.push((payload as { n: number }).n),
    };
    // Queue everything before any worker exists, then one single-slot worker drains it.
    const specs = [
      { n: 1, priority: 0 },
      { n: 2, priority: 5 },
      { n: 3, priority: 0 },
      { n: 4, priority: 5 },
      { n: 5, priority: 10 },
    ];
    const ids: string[] = [];
    for (const s of specs)
      ids.push(
        (await d.client.submit({ type: "job", payload: { n: s.n }, priority: s.priority })).id,
      );
    await d.addWorker({ id: "solo", handlers, capacity: { cpu: 1, memoryMb: 1, slots: 1 } });
    await Promise.all(ids.map((id) => d.client.wait(id)));
    expect(order).toEqual([5, 2, 4, 1, 3]);
  });

  it("keeps a task that fits no worker queued and says why; it runs once a fitting worker joins", async () => {
    await using d = await startDrover({ servers: servers() });
    await d.addWorker({
      id: "small",
      handlers: examples,
      capacity: { cpu: 1, memoryMb: 512, slots: 4 },
    });
    const { id } = await d.client.submit({
      type: "echo",
      resources: { cpu: 4, slots: 1 },
      labels: { gpu: "true" },
    });
    await d.waitFor(
      async () => (await d.client.get(id)).placement?.reason !== undefined,
      "a placement explanation",
    );
    const queued = await d.client.get(id);
    expect(queued.state).toBe("queued");
    expect(queued.placement?.workerId).toBeNull();
    expect(queued.placement?.reason).toMatch(/labels|capacity/);
    expect(queued.placement?.candidates.map((c) => c.workerId)).toEqual(["small"]);
    await d.addWorker({
      id: "big",
      handlers: examples,
      capacity: { cpu: 8, memoryMb: 8192, slots: 4 },
      labels: { gpu: "true" },
    });
    const done = await d.client.wait(id);
    expect(done.state).toBe("succeeded");
    expect(done.placement?.workerId).toBe("big");
    expect(done.placement?.strategy).toBe("best-fit");
  });
});

describe("retries, timeouts, cancel, delay", () => {
  it("retries with backoff, then succeeds; exhausting attempts moves a task to dead, and retry re-runs it", async () => {
    await using d = await startDrover({ servers: servers() });
    await d.addWorker({ id: "w", handlers: examples });
    const { id } = await d.client.submit({
      type: "fail",
      payload: { times: 2 },
      retry: { maxAttempts: 3, backoff: { type: "fixed", baseMs: 400, jitter: 0 } },
    });
    const seen: TaskRecord[] = [];
    const done = await d.client.wait(id, { onUpdate: (t) => seen.push(t) });
    expect(done.state).toBe("succeeded");
    expect(done.attempt).toBe(3);
    expect(done.failures).toBe(2);
    const retrying = seen.filter((t) => t.state === "retrying");
    expect(retrying.length).toBeGreaterThanOrEqual(2);
    for (const r of retrying) expect(r.nextRunAt! - r.updatedAt).toBe(400);
    // The next attempt started no earlier than its backoff allowed.
    const starts = done.history.filter((h) => h.to === "assigned").map((h) => h.at);
    const fails = done.history.filter((h) => h.to === "retrying").map((h) => h.at);
    expect(starts[1]! - fails[0]!).toBeGreaterThanOrEqual(400);

    const dead = await d.client.submit({
      type: "fail",
      payload: { times: 99 },
      retry: { maxAttempts: 2, backoff: { type: "fixed", baseMs: 50, jitter: 0 } },
    });
    const deadRec = await d.client.wait(dead.id);
    expect(deadRec.state).toBe("dead");
    expect(deadRec.failures).toBe(2);
    // Lists come from a replica's mirror, which may be a moment behind the watch `wait` used.
    await d.waitFor(
      async () => (await d.client.list({ state: "dead" })).tasks.map((t) => t.id).includes(dead.id),
      "the dead task to be listed",
    );
    const again = await d.client.retry(dead.id);
    expect(again.state).toBe("queued");
    expect((await d.client.wait(dead.id)).state).toBe("dead"); // still failing: attempts 3..4
    expect((await d.client.get(dead.id)).attempt).toBe(4);

    const fatal = await d.client.submit({
      type: "fail",
      payload: { fatal: true },
      retry: { maxAttempts: 5 },
    });
    const fatalRec = await d.client.wait(fatal.id);
    expect(fatalRec.state).toBe("failed");
    expect(fatalRec.attempt).toBe(1);
    expect(fatalRec.error).toMatchObject({ code: "bad_input", retryable: false });
  });

  it("a timeout aborts the handler and the task ends timed_out", async () => {
    await using d = await startDrover({ servers: servers() });
    let abortedWith: unknown = null;
    const handlers: HandlerMap = {
      slow: ({ signal }) =>
        new Promise((_, reject) => {
          signal.addEventListener("abort", () => {
            abortedWith = signal.reason;
            reject(signal.reason as Error);
          });
        }),
    };
    await d.addWorker({ id: "w", handlers });
    const { id } = await d.client.submit({
      type: "slow",
      timeoutMs: 300,
      retry: { maxAttempts: 1 },
    });
    const rec = await d.client.wait(id);
    expect(rec.state).toBe("timed_out");
    expect(abortedWith).toMatchObject({ code: "timeout" });
    expect(rec.finishedAt! - rec.assignedAt!).toBeGreaterThanOrEqual(300);
  });

  it("cancels a queued task and a running one (whose handler sees its signal abort)", async () => {
    await using d = await startDrover({ servers: servers() });
    const queued = await d.client.submit({ type: "nobody-runs-this" });
    expect((await d.client.cancel(queued.id, "not needed")).state).toBe("cancelled");
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    let aborted = false;
    const handlers: HandlerMap = {
      wait: ({ signal }) =>
        new Promise((_, reject) => {
          started();
          signal.addEventListener("abort", () => {
            aborted = true;
            reject(signal.reason as Error);
          });
        }),
    };
    await d.addWorker({ id: "w", handlers });
    const { id } = await d.client.submit({ type: "wait", timeoutMs: 60_000 });
    await running;
    await d.waitFor(async () => (await d.client.get(id)).state === "running", "the task to run");
    const rec = await d.client.cancel(id);
    expect(rec.state).toBe("cancelled");
    await d.waitFor(() => aborted, "the handler's signal to abort");
    await d.waitFor(() => d.workers[0]!.runningCount === 0, "the slot to be freed");
    // Cancelling again is an illegal transition with a structured error.
    await expect(d.client.cancel(id)).rejects.toMatchObject({ code: "illegal_transition" });
    expect((await d.client.get(id)).state).toBe("cancelled");
  });

  it("runs a delayed task within 500 ms of its time", async () => {
    await using d = await startDrover({ servers: servers() });
    await d.addWorker({ id: "w", handlers: examples });
    const { id } = await d.client.submit({ type: "echo", delayMs: 1_500 });
    const before = await d.client.get(id);
    expect(before.state).toBe("delayed");
    const rec = await d.client.wait(id);
    expect(rec.state).toBe("succeeded");
    // Quick handlers report only their result: the run began at assignment.
    const late = (rec.startedAt ?? rec.assignedAt!) - rec.runAt!;
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late).toBeLessThanOrEqual(500);
  });
});

describe("failover and fencing", () => {
  it("a leader stopped gracefully hands over; work goes on under a higher term", async () => {
    await using d = await startDrover({ servers: servers(), schedulers: 2 });
    await d.addWorker({ id: "w", handlers: examples });
    const first = d.leader()!;
    const term1 = first.term!;
    const before = await d.client.submit({ type: "echo", payload: 1 });
    expect((await d.client.wait(before.id)).state).toBe("succeeded");
    const stoppedAt = Date.now();
    await first.close();
    await d.waitFor(() => d.leader() !== undefined && d.leader() !== first, "the follower to lead");
    const handoverMs = Date.now() - stoppedAt;
    const second = d.leader()!;
    expect(second.term!).toBeGreaterThan(term1);
    // Only the new leader is left to answer the health API.
    expect(await d.client.health()).toMatchObject({
      ok: true,
      replicaId: second.replicaId,
      role: "leader",
      term: second.term,
      leaderId: second.replicaId,
      workers: 1,
    });
    // The lease is deleted on stop, so a follower takes over without waiting for its TTL
    // (1.5 s); the design goal for any failover is 2 s.
    expect(handoverMs).toBeLessThan(2_000);
    const after = await d.client.submit({ type: "echo", payload: 2 });
    const rec = await d.client.wait(after.id);
    expect(rec.state).toBe("succeeded");
    expect(rec.term).toBe(second.term);
  });

  it("a new leader restores every non-terminal task: in-flight, delayed and retrying work finishes after failover", async () => {
    await using d = await startDrover({ servers: servers(), schedulers: 2 });
    await d.addWorker({
      id: "w1",
      handlers: examples,
      capacity: { cpu: 4, memoryMb: 4096, slots: 8 },
    });
    await d.addWorker({
      id: "w2",
      handlers: examples,
      capacity: { cpu: 4, memoryMb: 4096, slots: 8 },
    });
    const first = d.leader()!;
    const delayed = await d.client.submit({ type: "echo", payload: "later", delayMs: 2_000 });
    const retrying = await d.client.submit({
      type: "fail",
      payload: { times: 1 },
      retry: { maxAttempts: 2, backoff: { type: "fixed", baseMs: 1_500, jitter: 0 } },
    });
    const busy = await Promise.all(
      Array.from({ length: 100 }, (_, n) =>
        d.client.submit({ type: "sleep", payload: { ms: 50 + (n % 5) * 50 } }),
      ),
    );
    await d.waitFor(
      async () => (await d.client.get(retrying.id)).state === "retrying",
      "the failing task to wait for its retry",
    );
    await first.close();
    await d.waitFor(() => d.leader() !== undefined, "a new leader");
    const all = await Promise.all([delayed, retrying, ...busy].map(({ id }) => d.client.wait(id)));
    expect(all.filter((t) => t.state !== "succeeded").map((t) => `${t.id}:${t.state}`)).toEqual([]);
    expect(all.every((t) => t.history.filter((h) => h.to === "succeeded").length === 1)).toBe(true);
    const late = all[0]!;
    expect((late.startedAt ?? late.assignedAt!) - late.runAt!).toBeLessThanOrEqual(500);
    expect(late.term).toBe(d.leader()!.term);
    expect(all[1]!.attempt).toBe(2);
  });

  it("a worker process killed with SIGKILL has its tasks completed elsewhere", async () => {
    await using d = await startDrover({ servers: servers() });
    const victim = await d.spawnWorker("victim", ["--slots", "4"]);
    const ids = await Promise.all(
      Array.from({ length: 4 }, (_, n) =>
        d.client.submit({ type: "sleep", payload: { ms: 5_000, n } }),
      ),
    );
    await d.waitFor(
      async () => (await d.client.list({ state: "running" })).tasks.length === 4,
      "4 tasks running on the victim",
    );
    // Frozen first, so it cannot finish them however long the survivor takes to start on a
    // loaded machine (a CI run once took longer than the tasks' 5 s); it is dead from here.
    const killedAt = Date.now();
    victim.kill("SIGSTOP");
    await d.spawnWorker("survivor", ["--slots", "4"]);
    victim.kill("SIGKILL");
    const finals = await Promise.all(ids.map(({ id }) => d.client.wait(id)));
    for (const t of finals) {
      expect(t.state).toBe("succeeded");
      // The record names the worker that ran the accepted attempt.
      expect(t.workerId).toBe("survivor");
      // Attempt 2 normally. On a loaded machine the survivor may hand a task back once more
      // (an assignment it answered too late, or a heartbeat late enough to fence itself) and
      // run it at attempt 3: recovery, not loss. The history says which, should this fail.
      expect(t.attempt, JSON.stringify(t.history)).toBeGreaterThanOrEqual(2);
      expect(t.attempt, JSON.stringify(t.history)).toBeLessThanOrEqual(3);
      expect(t.history.some((h) => h.event === "WORKER_LOST")).toBe(true);
      expect(t.placement?.workerId).toBe("survivor");
    }
    const requeuedAt = Math.max(
      ...finals.map((t) => t.history.find((h) => h.event === "WORKER_LOST")!.at),
    );
    expect(requeuedAt - killedAt).toBeLessThan(2_000 + d.heartbeatTtlMs);
  });

  it("refuses and counts a late result from an old epoch", async () => {
    await using d = await startDrover({ servers: servers() });
    await d.addWorker({ id: "w", handlers: examples });
    const { id } = await d.client.submit({ type: "echo", payload: "x" });
    const rec = await d.client.wait(id);
    const js = jetstream(env.nc);
    const stale = {
      v: 1,
      kind: "succeeded",
      taskId: id,
      epoch: rec.epoch - 1,
      workerId: "ghost",
      at: Date.now(),
      result: "late",
    };
    await js.publish(subjects(d.prefix).report("ghost", id), JSON.stringify(stale));
    await d.waitFor(
      async () => (await d.client.get(id)).refusedReports === 1,
      "the stale report to be counted",
    );
    const after = await d.client.get(id);
    expect(after.result).toBe("x");
    expect(after.state).toBe("succeeded");
    const stats = d.leader()!.scheduler!.stats;
    await d.waitFor(() => stats.refusedReports >= 1, "the leader to count the refusal");
    expect(stats.refusedReports).toBe(1);
  });

  it("refuses and counts a completion of the current epoch from a worker that does not hold the task; the real result lands", async () => {
    await using d = await startDrover({ servers: servers() });
    await d.addWorker({ id: "w", handlers: examples });
    const { id } = await d.client.submit({ type: "sleep", payload: { ms: 1_500 } });
    await d.waitFor(
      async () => (await d.client.get(id)).state === "running",
      "the task to run on the real worker",
    );
    const running = await d.client.get(id);
    const forged = {
      v: 1,
      kind: "succeeded",
      taskId: id,
      epoch: running.epoch,
      workerId: "mallory",
      at: Date.now(),
      result: { forged: true },
    };
    const js = jetstream(env.nc);
    const s = subjects(d.prefix);
    // On mallory's own subject (what permissions let mallory publish): the record refuses it.
    await js.publish(s.report("mallory", id), JSON.stringify(forged));
    // On the real worker's subject, still naming mallory: refused before it reaches the task.
    // Same de-duplication id as the real worker's completion would have without its worker
    // id in it: the real one must still land.
    await js.publish(s.report("w", id), JSON.stringify(forged), {
      msgID: `${id}:${running.epoch}:succeeded`,
    });
    const stats = d.leader()!.scheduler!.stats;
    await d.waitFor(
      async () => (await d.client.get(id)).refusedReports === 1 && stats.refusedReports === 2,
      "both forged reports to be counted",
    );
    expect((await d.client.get(id)).state).toBe("running");
    const done = await d.client.wait(id);
    expect(done.state).toBe("succeeded");
    expect(done.result).not.toEqual({ forged: true });
    expect(done.history.filter((h) => h.to === "succeeded")).toHaveLength(1);
    expect(stats.refusedReports).toBe(2);
    expect(stats.legacyReports).toBe(0);
  });

  it("accepts a report on the legacy subject from the worker that holds the task (a worker of an earlier version)", async () => {
    await using d = await startDrover({ servers: servers() });
    await d.addWorker({ id: "w", handlers: examples });
    const { id } = await d.client.submit({ type: "sleep", payload: { ms: 1_500 } });
    await d.waitFor(
      async () => (await d.client.get(id)).state === "running",
      "the task to run on the worker",
    );
    const running = await d.client.get(id);
    // What a worker before per-worker report subjects publishes for this task.
    const old = {
      v: 1,
      kind: "succeeded",
      taskId: id,
      epoch: running.epoch,
      workerId: "w",
      at: Date.now(),
      result: { from: "legacy subject" },
    };
    await jetstream(env.nc).publish(subjects(d.prefix).legacyReport(id), JSON.stringify(old));
    const done = await d.client.wait(id);
    expect(done.state).toBe("succeeded");
    expect(done.result).toEqual({ from: "legacy subject" });
    const stats = d.leader()!.scheduler!.stats;
    expect(stats.legacyReports).toBe(1);
    expect(done.history.filter((h) => h.to === "succeeded")).toHaveLength(1);
  });

  it("flags a heartbeat that lists another worker's task, and leaves the task to its worker", async () => {
    await using d = await startDrover({ servers: servers() });
    await d.addWorker({ id: "w", handlers: examples });
    const { id } = await d.client.submit({ type: "sleep", payload: { ms: 1_000 } });
    await d.waitFor(
      async () => (await d.client.get(id)).state === "running",
      "the task to run on the worker",
    );
    const { epoch } = await d.client.get(id);
    const workers = await new Kvm(env.nc).open(resourceNames(d.prefix).buckets.workers);
    const now = Date.now();
    await workers.put(
      "mallory",
      JSON.stringify({
        v: 1,
        id: "mallory",
        types: ["nothing"],
        capacity: { cpu: 1, memoryMb: 1, slots: 1 },
        state: "ready",
        startedAt: now,
        heartbeatAt: now,
        running: [{ taskId: id, epoch }],
        hostname: "h",
        pid: 1,
        version: "0",
      }),
    );
    const stats = d.leader()!.scheduler!.stats;
    await d.waitFor(() => stats.foreignTasks === 1, "the foreign entry to be flagged");
    const done = await d.client.wait(id);
    expect(done.state).toBe("succeeded");
    expect(done.attempt).toBe(1);
    expect(stats.foreignTasks).toBe(1);
  });
});

describe("validation at the edge", () => {
  it("answers malformed JSON, wrong types, unknown fields and oversized payloads with structured errors and creates nothing", async () => {
    await using d = await startDrover({ servers: servers() });
    const submit = subjects(d.prefix).api.submit;
    const ask = async (
      body: string,
    ): Promise<{
      ok: boolean;
      error: { code: string; message: string; issues?: { path: string }[] };
    }> => JSON.parse((await env.nc.request(submit, body, { timeout: 5_000 })).string()) as never;

    const bad = await ask("{not json");
    expect(bad).toMatchObject({ ok: false, error: { code: "invalid_json" } });
    const types = await ask(JSON.stringify({ type: 42, priority: "high" }));
    expect(types.error.code).toBe("validation_failed");
    expect(types.error.issues!.map((i) => i.path).sort()).toEqual(["priority", "type"]);
    const unknown = await ask(JSON.stringify({ type: "echo", colour: "red" }));
    expect(unknown.error.code).toBe("validation_failed");
    expect(unknown.error.message).toMatch(/colour/);
    const big = await ask(JSON.stringify({ type: "echo", payload: "x".repeat(300_000) }));
    expect(big.error.code).toBe("payload_too_large");
    const version = await ask(JSON.stringify({ v: 2, type: "echo" }));
    expect(version.error.code).toBe("unsupported_version");
    const missing = JSON.parse(
      (await env.nc.request(subjects(d.prefix).api.get, JSON.stringify({ id: "nope" }))).string(),
    ) as { error: { code: string } };
    expect(missing.error.code).toBe("not_found");
    expect(await countTasks(d.prefix)).toBe(0);
  });
});
