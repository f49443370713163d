/**
 * Batch submit (`tasks.submit-many`, `DroverClient.submitMany`) against the real server: each
 * task is what a submit of it alone would be, in the request's order; an invalid task refuses
 * the whole request and creates nothing; a named submitter's limits take a batch whole.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Kvm } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import { DroverError, resourceNames, subjects } from "../../src/protocol/index.ts";
import { DroverClient } from "../../src/runtime/index.ts";
import examples from "../../src/examples/handlers.ts";
import { startDrover } from "../fixtures/drover.ts";
import { useNats } from "../fixtures/nats.ts";

const env = useNats();
const run = promisify(execFile);
const bin = join(resolve(dirname(fileURLToPath(import.meta.url)), "..", ".."), "bin", "drover.js");

async function recordCount(prefix: string): Promise<number> {
  const kv = await new Kvm(env.nc).open(resourceNames(prefix).buckets.tasks);
  return (await kv.status()).values;
}

/** The refusal a rejected promise carries. */
async function refusal(p: Promise<unknown>): Promise<DroverError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof DroverError) return err;
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("batch submit", () => {
  it("2,500 tasks in three requests: one result each, in order, and every one runs once", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    await d.addWorker({
      id: "w1",
      handlers: examples,
      capacity: { cpu: 1, memoryMb: 1024, slots: 64 },
    });
    const tasks = Array.from({ length: 2_500 }, (_, i) => ({ type: "echo", payload: i }));
    const results = await d.client.submitMany(tasks);
    expect(results).toHaveLength(2_500);
    const ids = results.map((r) => (r.ok ? r.id : r.error.message));
    expect(results.every((r) => r.ok && !r.duplicate)).toBe(true);
    expect(new Set(ids).size).toBe(2_500);
    // Result i is task i: its record holds payload i.
    for (const i of [0, 999, 1_000, 1_999, 2_000, 2_499])
      expect((await d.client.get(ids[i]!)).payload).toBe(i);
    const done = await Promise.all(
      ids.map((id) => d.client.wait(id, { signal: AbortSignal.timeout(60_000) })),
    );
    expect(done.every((r) => r.state === "succeeded")).toBe(true);
    expect(done.map((r) => r.result)).toEqual(tasks.map((t) => t.payload));
    expect(await recordCount(d.prefix)).toBe(2_500);
  }, 120_000);

  it("idempotency keys hold within a batch and across batches", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    const first = await d.client.submitMany([
      { type: "nohandler", idempotencyKey: "a" },
      { type: "nohandler", idempotencyKey: "b" },
      { type: "nohandler", idempotencyKey: "a" },
    ]);
    const ok = first.map((r) => (r.ok ? r : null));
    expect(ok.every((r) => r !== null)).toBe(true);
    expect(ok[0]!.id).toBe(ok[2]!.id);
    expect(ok.filter((r) => r!.duplicate)).toHaveLength(1);
    const again = await d.client.submitMany([{ type: "nohandler", idempotencyKey: "b" }]);
    expect(again[0]).toEqual({ ok: true, id: ok[1]!.id, duplicate: true });
    expect(await recordCount(d.prefix)).toBe(2);
  });

  it("one invalid task refuses the whole request, naming it, and nothing is created", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    const err = await refusal(
      d.client.submitMany([
        { type: "nohandler" },
        { type: "nohandler", priority: 5_000 },
        { type: "nohandler" },
      ]),
    );
    expect(err.code).toBe("validation_failed");
    expect(err.issues?.map((i) => i.path)).toEqual(["tasks.1.priority"]);
    // On the wire, as the nats CLI would send them: an empty batch, one over the limit.
    const s = subjects(d.prefix);
    for (const tasks of [[], Array.from({ length: 1_001 }, () => ({ type: "x" }))]) {
      const reply = (
        await env.nc.request(s.api.submitMany, JSON.stringify({ tasks }), { timeout: 10_000 })
      ).json<{ ok: boolean; error: { code: string; issues: { path: string }[] } }>();
      expect(reply.ok).toBe(false);
      expect(reply.error.code).toBe("validation_failed");
      expect(reply.error.issues.map((i) => i.path)).toEqual(["tasks"]);
    }
    expect(await recordCount(d.prefix)).toBe(0);
  });

  it("a named submitter's limits take a batch whole: too big never, over the rate later", async () => {
    await using d = await startDrover({
      servers: env.nats.servers,
      admission: { rate: 1, burst: 10, maxUnfinished: 0 },
    });
    const alice = new DroverClient(d.client.nc, {
      prefix: d.prefix,
      submitter: "alice",
      timeoutMs: 15_000,
    });
    const batch = (n: number): { type: string }[] =>
      Array.from({ length: n }, () => ({ type: "nohandler" }));
    const tooBig = await refusal(alice.submitMany(batch(11)));
    expect(tooBig.code).toBe("validation_failed");
    expect(tooBig.message).toMatch(/burst of 10/);
    expect(tooBig.retryable).toBe(false);
    expect(await alice.submitMany(batch(10))).toHaveLength(10);
    const tooSoon = await refusal(alice.submitMany(batch(5)));
    expect(tooSoon.code).toBe("rate_limited");
    expect(tooSoon.retryable).toBe(true);
    // All or none: the refused batch took no tokens and created nothing.
    expect(await recordCount(d.prefix)).toBe(10);
    const listed = (await d.client.list({ limit: 100 })).tasks.map((t) => t.submitter);
    expect(listed).toEqual(Array.from({ length: 10 }, () => "alice"));
  });

  it("drover submit-many: a file of JSON lines, one line out per task, in order", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    const dir = mkdtempSync(join(tmpdir(), "drover-many-"));
    try {
      const file = join(dir, "tasks.jsonl");
      writeFileSync(
        file,
        [
          '{"type":"nohandler","payload":1}',
          "",
          '{"type":"nohandler","payload":2,"idempotencyKey":"k"}',
          '{"type":"nohandler","payload":3,"idempotencyKey":"k"}',
        ].join("\n"),
      );
      const cli = { ...process.env, DROVER_NATS_URL: env.nats.servers[0], DROVER_PREFIX: d.prefix };
      const { stdout } = await run(process.execPath, [bin, "submit-many", file, "--json"], {
        env: cli,
        timeout: 30_000,
      });
      const results = JSON.parse(stdout) as { ok: boolean; id: string; duplicate: boolean }[];
      expect(results.map((r) => [r.ok, r.duplicate])).toEqual([
        [true, false],
        [true, false],
        [true, true],
      ]);
      expect(results[2]!.id).toBe(results[1]!.id);
      expect((await d.client.get(results[0]!.id)).payload).toBe(1);
      // Without --json: the ids, one a line, the duplicate said so.
      writeFileSync(file, '{"type":"nohandler","idempotencyKey":"k"}\n');
      const plain = await run(process.execPath, [bin, "submit-many", file], { env: cli });
      expect(plain.stdout.trim()).toBe(`${results[1]!.id} (duplicate of an earlier submit)`);
      expect(await recordCount(d.prefix)).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
