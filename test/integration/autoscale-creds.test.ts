/**
 * Workers created on the fly get NATS users of their own: a NATS server in JWT mode (the
 * roles of `drover creds --jwt`, in a container), a scheduler with the scheduler's user, and
 * the Docker driver with the worker signer. Each container it starts gets a `.creds` minted for
 * its own worker id and runs tasks, with nothing about the new worker configured on the server
 * (that such a user cannot speak for another worker: nats-roles-jwt.test.ts).
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { GenericContainer, Network, Wait } from "testcontainers";
import type { StartedNetwork, StartedTestContainer } from "testcontainers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopChildren, waitForCluster } from "../../src/cli/local.ts";
import { DockerDriver } from "../../src/drivers/docker-driver.ts";
import examples from "../../src/examples/handlers.ts";
import {
  DroverClient,
  newOperatorSeeds,
  operatorServerConfig,
  roleCreds,
  workerCreds,
  workerSigner,
} from "../../src/runtime/index.ts";
import { images } from "../fixtures/docker.ts";
import { testLogger } from "../fixtures/drover.ts";
import { drover, droverProcess } from "../fixtures/nats-process.ts";

const prefix = "autocreds";
const seeds = newOperatorSeeds();
let dir = "";
let network: StartedNetwork;
let nats: StartedTestContainer;
let url = "";
const procs: ChildProcess[] = [];
const file = (role: "admin" | "scheduler" | "submitter"): string => join(dir, `${role}.creds`);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "drover-autocreds-"));
  for (const role of ["admin", "scheduler", "submitter"] as const)
    writeFileSync(file(role), roleCreds(seeds, role, prefix), { mode: 0o600 });
  network = await new Network().start();
  nats = await new GenericContainer(images.nats)
    .withNetwork(network)
    .withNetworkAliases("nats")
    .withExposedPorts(4222)
    .withCopyContentToContainer([
      {
        content: `listen: "0.0.0.0:4222"\njetstream { store_dir: "/data" }\n${operatorServerConfig(seeds, prefix)}`,
        target: "/nats.conf",
      },
    ])
    .withCommand(["-c", "/nats.conf"])
    .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
    .withStartupTimeout(60_000)
    .start();
  url = `nats://${nats.getHost()}:${nats.getMappedPort(4222)}`;
  const init = await drover(["init", "--nats", url, "--prefix", prefix, "--creds", file("admin")]);
  expect(init.code, init.out).toBe(0);
  procs.push(
    droverProcess(["scheduler", "--metrics-port", "off", "--creds", file("scheduler")], {
      DROVER_NATS_URL: url,
      DROVER_PREFIX: prefix,
    }),
  );
}, 120_000);

afterAll(async () => {
  await stopChildren(procs);
  await nats?.stop();
  await network?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("autoscaled workers in JWT mode", () => {
  it("each container gets a user of its own, minted for its worker id, and runs tasks", async () => {
    const admin = await DroverClient.connect(
      { servers: [url], auth: { creds: file("admin") } },
      { prefix, timeoutMs: 10_000 },
    );
    const submitter = await DroverClient.connect(
      { servers: [url], auth: { creds: file("submitter") } },
      { prefix, timeoutMs: 10_000 },
    );
    const signer = workerSigner(seeds);
    const minted: string[] = [];
    const driver = new DockerDriver(new Docker(), admin, {
      prefix,
      pool: "elastic",
      image: images.drover,
      network: network.getName(),
      natsUrl: "nats://nats:4222",
      capacity: { cpu: 2, memoryMb: 1024, slots: 2 },
      labels: {},
      drainGraceMs: 2_000,
      credentials: (id) => {
        minted.push(id);
        return workerCreds(signer, id);
      },
      log: testLogger(),
    });
    try {
      await waitForCluster(admin, 0, AbortSignal.timeout(60_000));
      await admin.setPool({
        pool: "elastic",
        template: { types: Object.keys(examples), capacity: { cpu: 2, memoryMb: 1024, slots: 2 } },
        scale: { min: 2, max: 2 },
      });
      driver.start();
      await waitForCluster(admin, 2, AbortSignal.timeout(120_000), 90_000);
      const workers = (await admin.workers()).map((w) => w.id).sort();
      expect(workers).toEqual([...minted].sort());
      const ids = await Promise.all(
        Array.from({ length: 6 }, (_, i) => submitter.submit({ type: "echo", payload: i })),
      );
      const done = await Promise.all(
        ids.map(({ id }) => submitter.wait(id, { signal: AbortSignal.timeout(30_000) })),
      );
      expect(done.map((t) => t.state)).toEqual(Array(6).fill("succeeded"));
      for (const t of done) expect(minted).toContain(t.placement?.workerId);
    } finally {
      await driver.stop(true);
      await admin.close();
      await submitter.close();
    }
  }, 180_000);
});
