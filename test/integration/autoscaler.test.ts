/**
 * The leader's autoscaler on a real nats-server, without Docker: pools set through the API,
 * decisions recorded under the leader's term and published on `<prefix>.events.scale`, up on a
 * burst after the scale-up window, down to min after the scale-down window, continued by a new
 * leader from what exists, and a deposed leader's decision never written over a newer one.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { root } from "../../src/cli/local.ts";
import type { ScaleDecision } from "../../src/protocol/index.ts";
import { DroverError, ErrorCode, subjects } from "../../src/protocol/index.ts";
import { ensureResources } from "../../src/runtime/index.ts";
import { PoolStore } from "../../src/runtime/pool-store.ts";
import examples from "../../src/examples/handlers.ts";
import { startDrover, testLogger } from "../fixtures/drover.ts";
import { useNats } from "../fixtures/nats.ts";
import { metric, parseMetrics } from "../fixtures/prometheus.ts";

const env = useNats();
const run = promisify(execFile);

describe("autoscaler (leader)", () => {
  it("scales a pool up on a burst and back to min, records why under its term, and a new leader continues", async () => {
    await using d = await startDrover({ servers: env.nats.servers, schedulers: 2 });
    const decisions: ScaleDecision[] = [];
    const sub = env.nc.subscribe(subjects(d.prefix).event("scale"), {
      callback: (err, m) => {
        if (err === null) decisions.push(m.json<ScaleDecision>());
      },
    });
    try {
      // Bad input is refused with the reason, and changes nothing.
      const bad = await d.client
        .setPool({
          pool: "p",
          template: { types: ["sleep"], capacity: { slots: 2 } },
          scale: { min: 3, max: 2 },
        })
        .catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(DroverError);
      expect((bad as DroverError).code).toBe(ErrorCode.ValidationFailed);
      expect((bad as DroverError).message).toMatch(/min must not exceed max/);
      expect(await d.client.pools()).toEqual([]);

      await d.client.setPool({
        pool: "p",
        template: { types: ["sleep"], capacity: { cpu: 1, memoryMb: 512, slots: 2 } },
        scale: { min: 1, max: 3, scaleUpWindowMs: 1_000, scaleDownWindowMs: 3_000, maxStep: 2 },
      });
      const leader = d.leader()!;
      const first = await waitDecision(d, (x) => x.desired === 1);
      expect(first.term).toBe(leader.term);
      expect(first.reason).toMatch(new RegExp(`^term ${leader.term}: `));

      // A burst nobody can run yet: 10 tasks, 2 slots per worker → 7 at 80%, capped at 3,
      // reached in steps of 2 only after the scale-up window.
      const ids = await Promise.all(
        Array.from({ length: 10 }, () =>
          d.client.submit({ type: "sleep", payload: { ms: 60_000 } }),
        ),
      );
      const up = await waitDecision(d, (x) => x.desired === 3);
      expect(up).toMatchObject({ previous: 1, term: leader.term, recommended: 7 });
      expect(up.demand).toMatchObject({ queuedTasks: 10, waiting: 10, ready: 0 });
      expect(up.reason).toMatch(/^scale up 1 → 3: 10 queued \(10 fit no live worker\)/);
      const text = await leader.metrics.registry.metrics();
      expect(metric(parseMetrics(text), "drover_pool_desired_workers", { pool: "p" })).toBe(3);
      expect(metric(parseMetrics(text), "drover_pool_waiting_tasks", { pool: "p" })).toBe(10);

      // A worker of the pool joins; the work is cancelled: back to min after the down window.
      await d.addWorker({
        id: "p1",
        handlers: examples,
        capacity: { cpu: 1, memoryMb: 512, slots: 2 },
        pool: "p",
      });
      await Promise.all(ids.map(({ id }) => d.client.cancel(id)));
      const cancelledAt = Date.now();
      // Straight from 3 to 1, unless a once-a-second tick sampled the moment when only the two
      // tasks running on p1 (its two slots: 2 workers at 80%) were left to cancel; then 3 → 2
      // first, and 2 → 1 once that sample is older than the down window.
      const down = await waitDecision(d, (x) => x.desired === 1 && x.previous > 1);
      expect(down.at - cancelledAt).toBeGreaterThanOrEqual(3_000 - 1_000);
      expect(down.reason).toMatch(/^scale down [23] → 1/);
      const [status] = await d.client.pools();
      expect(status).toMatchObject({ pool: "p", ready: 1, draining: 0 });
      expect(status!.decision).toMatchObject({ desired: 1, term: leader.term });
      await waitFor(
        () => decisions.some((x) => x.desired === 3) && decisions.some((x) => x.previous === 3),
      );
      // `drover pools` shows the pool, its count and why.
      const { stdout } = await run(process.execPath, [join(root, "bin", "drover.js"), "pools"], {
        env: {
          ...process.env,
          DROVER_NATS_URL: env.nats.servers.map((s) => `nats://${s}`).join(","),
          DROVER_PREFIX: d.prefix,
        },
      });
      expect(stdout).toMatch(/^p: 1 ready, 0 draining; desired 1 \(term \d+, \d+s ago\)$/m);
      expect(stdout).toMatch(/^ {2}scale down [23] → 1: /m);
      expect(stdout).toMatch(/^ {2}policy: min 1, max 3, target 80%, up window 1000 ms/m);

      // The leader goes: the new one records under its term, from what exists (1 worker).
      await leader.close();
      await d.waitFor(() => d.leader() !== undefined && d.leader() !== leader, "a new leader");
      const next = d.leader()!;
      const again = await waitDecision(d, (x) => x.term === next.term);
      expect(again.desired).toBe(1);

      // The deposed leader's term cannot overwrite the newer decision.
      const { pools } = await ensureResources(env.nc, d.prefix, {});
      const stale = new PoolStore(pools, testLogger());
      expect(await stale.writeDecision({ ...again, term: leader.term!, desired: 3 })).toBe(false);
      expect((await d.client.pools())[0]!.decision).toMatchObject({ desired: 1, term: next.term });
    } finally {
      sub.unsubscribe();
    }
  });
});

async function waitFor(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The recorded decision of pool `p` once `ok` holds for it. */
async function waitDecision(
  d: Awaited<ReturnType<typeof startDrover>>,
  ok: (x: ScaleDecision) => boolean,
): Promise<ScaleDecision> {
  let found: ScaleDecision | null = null;
  await d.waitFor(async () => {
    const x = (await d.client.pools()).find((p) => p.pool === "p")?.decision ?? null;
    if (x !== null && ok(x)) found = x;
    return found !== null;
  }, "a scale decision");
  return found!;
}
