/**
 * (f) A drover container started by startActor connects to a three-node cluster and reports
 * healthy; its streams and buckets exist at R3 afterwards.
 */
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startActor } from "../fixtures/actors.ts";
import { docker } from "../fixtures/docker.ts";
import { startNatsCluster } from "../fixtures/nats.ts";
import type { NatsClusterHandle } from "../fixtures/nats.ts";
import { uniquePrefix } from "../fixtures/prefix.ts";

describe("drover container", () => {
  let cluster: NatsClusterHandle;
  beforeAll(async () => {
    cluster = await startNatsCluster(3);
  });
  afterAll(async () => {
    await cluster?.[Symbol.asyncDispose]();
  });

  it("(f) connects to the cluster, sets up R3 resources and reports healthy", async () => {
    const prefix = uniquePrefix("health");
    await using actor = await startActor("health", [], {
      network: cluster.network,
      servers: cluster.internalServers,
      prefix,
      env: { DROVER_REPLICAS: "3" },
    });
    const exit = await docker("wait", actor.container.getId());
    const logs = await actor.logs();
    expect(exit).toBe("0");
    const line = logs.split("\n").find((l) => l.includes('"healthy":true'));
    expect(line).toBeDefined();
    const report = JSON.parse(line!) as {
      healthy: boolean;
      server: string;
      jetstream: boolean;
      prefix: string;
    };
    expect(report).toMatchObject({ healthy: true, jetstream: true, prefix });
    expect(cluster.names).toContain(report.server);

    const nc = await connect({ servers: cluster.servers() });
    try {
      const jsm = await jetstreamManager(nc);
      for (const stream of [
        `KV_${prefix}-tasks`,
        `KV_${prefix}-workers`,
        `KV_${prefix}-leader`,
        `${prefix.toUpperCase()}_REPORTS`,
      ]) {
        expect((await jsm.streams.info(stream)).config.num_replicas).toBe(3);
      }
    } finally {
      await nc.close();
    }
  });

  it("exits non-zero with a one-line error when NATS is unreachable", async () => {
    await using actor = await startActor("health", [], {
      network: cluster.network,
      servers: ["nats://nowhere:4222"],
      prefix: uniquePrefix("bad"),
      ready: /drover: /,
    });
    const exit = await docker("wait", actor.container.getId());
    expect(exit).toBe("1");
    expect(await actor.logs()).toMatch(/^drover: cannot connect to NATS at nats:\/\/nowhere:4222/m);
  });
});
