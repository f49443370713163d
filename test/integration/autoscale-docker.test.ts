/**
 * Autoscaling with the real Docker daemon: the leader's autoscaler and the Docker driver grow
 * a pool of worker containers (the local drover image, on the test's network) from 1 to 4 for
 * a burst of 300 one-second tasks on 4 slots each, and back to 1 once the queue is empty; the
 * leader is stopped in the middle and the new one continues from the containers that exist,
 * and the driver itself is replaced by a new one, which adopts the containers it finds.
 * Every task succeeds once: none fails, none runs twice (the drain grace outlasts the tasks).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Docker from "dockerode";
import { describe, expect, it } from "vitest";
import type { ScaleSample } from "../../src/cli/chart.ts";
import { renderChart } from "../../src/cli/chart.ts";
import { checkRecords, readAll, samplePool, submitBurst } from "../../src/cli/autoscale-run.ts";
import { DockerDriver } from "../../src/drivers/docker-driver.ts";
import examples from "../../src/examples/handlers.ts";
import { images } from "../fixtures/docker.ts";
import { startDrover, testLogger } from "../fixtures/drover.ts";
import { useNats } from "../fixtures/nats.ts";

const env = useNats();
const SCALE_DOWN_WINDOW_MS = 10_000;

describe("autoscaling with Docker", () => {
  it("grows the pool to 4 for a burst, shrinks it to 1 after, across a leader change, with every task run once", async () => {
    await using d = await startDrover({ servers: env.nats.servers, schedulers: 2 });
    const docker = new Docker();
    const options = {
      prefix: d.prefix,
      pool: "elastic",
      image: images.drover,
      network: env.nats.network.getName(),
      natsUrl: env.nats.internalServers.join(","),
      capacity: { cpu: 4, memoryMb: 4096, slots: 4 },
      labels: {},
      drainGraceMs: 20_000,
      log: testLogger(),
    };
    const first = new DockerDriver(docker, d.client, options);
    let driver = first;
    const samples: ScaleSample[] = [];
    const sampling = new AbortController();
    try {
      await d.client.setPool({
        pool: "elastic",
        template: { types: Object.keys(examples), capacity: { cpu: 4, memoryMb: 4096, slots: 4 } },
        scale: {
          min: 1,
          max: 4,
          scaleUpWindowMs: 2_000,
          scaleDownWindowMs: SCALE_DOWN_WINDOW_MS,
          maxStep: 4,
        },
      });
      driver.start();
      await d.waitFor(
        async () => (await d.client.pools()).find((p) => p.pool === "elastic")?.ready === 1,
        "the first worker container to register",
        90_000,
      );

      const startedAt = Date.now();
      const sampled = samplePool(d.client, "elastic", startedAt, sampling.signal, (s) =>
        samples.push(s),
      );
      const ids = await submitBurst(d.client, 300, 1_000);
      await d.waitFor(
        () => samples.some((s) => s.workers === 4),
        "the pool to reach 4 ready workers",
        60_000,
      );
      const reachedMax = samples.find((s) => s.workers === 4)!.t;

      // The leader goes in the middle of the burst; the next one continues from 4.
      const leader = d.leader()!;
      await leader.close();
      await d.waitFor(() => d.leader() !== undefined && d.leader() !== leader, "a new leader");
      const next = d.leader()!;
      await d.waitFor(
        async () =>
          (await d.client.pools()).find((p) => p.pool === "elastic")?.decision?.term === next.term,
        "the new leader's first decision",
      );
      const taken = (await d.client.pools()).find((p) => p.pool === "elastic")!.decision!;
      expect(taken.desired).toBe(4);

      // The driver restarts: the new one adopts the 4 containers (it creates none).
      await first.stop();
      driver = new DockerDriver(docker, d.client, options);
      driver.start();
      await driver.reconcile();
      expect((await driver.containers()).filter((c) => c.state === "running")).toHaveLength(4);

      for (const id of ids) await d.client.wait(id);
      const emptyAt = Date.now();
      await d.waitFor(
        async () => {
          const p = (await d.client.pools()).find((x) => x.pool === "elastic");
          return p?.decision?.desired === 1 && p.ready === 1 && p.draining === 0;
        },
        "the pool to shrink back to 1",
        SCALE_DOWN_WINDOW_MS + 60_000,
      );
      const backToMin = (Date.now() - emptyAt) / 1_000;
      await d.waitFor(
        async () => (await driver.containers()).length === 1,
        "the drained containers to be removed",
      );
      sampling.abort();
      await sampled;

      const check = checkRecords(await readAll(d.client, ids));
      const chart = join("test-results", "autoscale-docker.svg");
      mkdirSync("test-results", { recursive: true });
      writeFileSync(chart, renderChart(samples, "300 × 1 s tasks, min 1, max 4 × 4 slots"));
      console.log(
        `autoscale: max reached ${reachedMax.toFixed(1)} s after the first submit; back to 1 ` +
          `${backToMin.toFixed(1)} s after the queue emptied (window ${SCALE_DOWN_WINDOW_MS / 1_000} s); ` +
          `containers created ${first.stats.created + driver.stats.created}, stopped ${driver.stats.stopped}; chart ${chart}`,
      );
      expect(reachedMax).toBeLessThan(30);
      expect(backToMin).toBeLessThan(SCALE_DOWN_WINDOW_MS / 1_000 + 30);
      expect(check).toEqual({
        tasks: 300,
        succeeded: 300,
        failed: [],
        ranTwice: [],
        notOneCompletion: [],
      });
      expect(first.stats.created).toBe(4);
      expect(driver.stats.created).toBe(0);
      expect(driver.stats.stopped).toBe(3);
    } finally {
      sampling.abort();
      await first.stop();
      await driver.stop(true);
    }
  }, 240_000);
});
