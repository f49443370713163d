/**
 * A flood of submits from one client must not cost the leader its lease: the lease has its own
 * connection, and the API holds at most a bounded number of requests in flight, refusing the
 * excess at once with a retryable error instead of letting every request time out.
 */
import { execFile } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { subjects } from "../../src/protocol/index.ts";
import { startDrover } from "../fixtures/drover.ts";
import { useNats } from "../fixtures/nats.ts";

const env = useNats();
const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

describe("a flood of submits", () => {
  it("keeps the lease, answers every request (accepted or a retryable refusal) and loses nothing accepted", async () => {
    await using d = await startDrover({ servers: env.nats.servers, schedulers: 2 });
    const leader = d.leader();
    expect(leader).toBeDefined();
    const term = leader!.term;
    const subject = subjects(d.prefix).api.submit;
    const body = JSON.stringify({ type: "nohandler", payload: { pad: "x".repeat(200) } });
    const N = 12_000;
    // Everything at once from one connection of another process: more than both replicas
    // will queue.
    const { stdout } = await run(process.execPath, [
      join(root, "bench", "flood-client.ts"),
      env.nats.servers[0]!,
      subject,
      String(N),
      body,
    ]);
    const { accepted, refused } = JSON.parse(stdout) as {
      accepted: string[];
      refused: Record<string, number>;
    };
    // Refusals, if any, are the retryable back-pressure kind, never an internal error or a
    // request left unanswered.
    for (const code of Object.keys(refused)) expect(code).toBe("unavailable");
    expect(accepted.length).toBeGreaterThan(0);
    expect(accepted.length + (refused.unavailable ?? 0)).toBe(N);
    // The same replica still leads under the same term: the lease never lapsed.
    expect(d.leader()).toBe(leader);
    expect(leader!.term).toBe(term);
    // Every accepted task is durable and queued.
    await d.waitFor(
      async () => ((await d.client.health()).tasks.queued ?? 0) >= accepted.length,
      "the mirrors to hold every accepted task",
    );
    for (const id of accepted.slice(0, 50)) expect((await d.client.get(id)).state).toBe("queued");
  });

  it("a leader whose main thread is blocked for 2 s keeps its lease (kept by its lease thread)", async () => {
    await using d = await startDrover({ servers: env.nats.servers, schedulers: 2 });
    const leader = d.leader()!;
    const term = leader.term;
    // Both replicas share this process: a busy loop blocks both main threads, as a long
    // scheduling pass or a burst of work would block one replica's.
    const until = Date.now() + 2_000;
    while (Date.now() < until);
    // Give the other replica's election a chance to act on anything it saw meanwhile.
    await d.client.health();
    await new Promise((r) => setTimeout(r, 500));
    expect(d.leader()).toBe(leader);
    expect(leader.term).toBe(term);
  });
});
