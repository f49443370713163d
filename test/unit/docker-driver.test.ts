/**
 * The Docker driver's own decisions, with a fake engine and a fake API (the real daemon is
 * exercised by test/integration/autoscale-docker.test.ts and the chaos suite): it acts on the
 * newest term's decision and ignores an older term's, creates labelled workers with the pool's
 * settings, and stops the surplus with a stop timeout longer than the drain grace.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import {
  DockerDriver,
  OWNER_LABEL,
  WORKER_CA_PATH,
  WORKER_CREDS_PATH,
} from "../../src/drivers/docker-driver.ts";
import type { PoolStatus, WorkerView } from "../../src/protocol/index.ts";
import type { DroverClient } from "../../src/runtime/index.ts";
import { poolRequest } from "../../src/cli/pools.ts";
import { UsageError } from "../../src/cli/command.ts";

interface FakeContainer {
  Id: string;
  Names: string[];
  State: string;
  Created: number;
  Labels: Record<string, string>;
  spec: Record<string, unknown>;
  stoppedWith?: number;
  /** What putArchive received, and whether the container had started by then. */
  archives: { tar: Buffer; path: string; started: boolean }[];
  started: boolean;
}

function fakeDocker(): { docker: Docker; containers: FakeContainer[] } {
  const containers: FakeContainer[] = [];
  let n = 0;
  const handle = (id: string): unknown => ({
    start: () => {
      containers.find((x) => x.Id === id)!.started = true;
      return Promise.resolve();
    },
    putArchive: (tar: Buffer, o: { path: string }) => {
      const c = containers.find((x) => x.Id === id)!;
      c.archives.push({ tar, path: o.path, started: c.started });
      return Promise.resolve();
    },
    stop: (o: { t: number }) => {
      const c = containers.find((x) => x.Id === id)!;
      c.stoppedWith = o.t;
      c.State = "exited";
      return Promise.resolve();
    },
    remove: () => {
      containers.splice(
        containers.findIndex((x) => x.Id === id),
        1,
      );
      return Promise.resolve();
    },
  });
  const docker = {
    listContainers: (o: { filters: { label: string[] } }) =>
      Promise.resolve(
        containers.filter((c) =>
          o.filters.label.every((l) => {
            const [k, v] = l.split("=");
            return c.Labels[k!] === v;
          }),
        ),
      ),
    createContainer: (spec: Record<string, unknown>) => {
      const id = `c${++n}`;
      containers.push({
        Id: id,
        Names: [`/${String(spec.name)}`],
        State: "running",
        Created: n,
        Labels: spec.Labels as Record<string, string>,
        spec,
        archives: [],
        started: false,
      });
      return Promise.resolve(handle(id));
    },
    getContainer: (id: string) => handle(id),
  } as unknown as Docker;
  return { docker, containers };
}

function fakeClient(decision: () => PoolStatus["decision"]): DroverClient {
  return {
    pools: () =>
      Promise.resolve([{ pool: "p", policy: null, ready: 0, draining: 0, decision: decision() }]),
    workers: () => Promise.resolve([] as WorkerView[]),
  } as unknown as DroverClient;
}

const decision = (term: number, desired: number): PoolStatus["decision"] => ({
  v: 1,
  kind: "scale",
  pool: "p",
  term,
  desired,
  previous: 0,
  recommended: desired,
  reason: "test",
  demand: {
    ready: 0,
    draining: 0,
    capacity: { cpu: 0, memoryMb: 0, slots: 0 },
    used: { cpu: 0, memoryMb: 0, slots: 0 },
    queuedTasks: 0,
    queued: { cpu: 0, memoryMb: 0, slots: 0 },
    waiting: 0,
    workersAtFullUse: 0,
  },
  at: 0,
});

describe("DockerDriver", () => {
  it("follows the newest term, ignores an older one, and scales in with a stop timeout beyond the drain grace", async () => {
    const { docker, containers } = fakeDocker();
    let current = decision(5, 3);
    const driver = new DockerDriver(
      docker,
      fakeClient(() => current),
      {
        prefix: "x",
        pool: "p",
        image: "drover/drover:test",
        network: "net",
        natsUrl: "nats://n:4222",
        capacity: { cpu: 2, memoryMb: 1024, slots: 4 },
        labels: { zone: "a" },
        drainGraceMs: 20_000,
        log: pino({ level: "silent" }),
      },
    );
    await driver.reconcile();
    expect(containers).toHaveLength(3);
    const spec = containers[0]!.spec;
    expect(spec.Image).toBe("drover/drover:test");
    expect(spec.Labels).toEqual({ [OWNER_LABEL]: "x/p", "drover.pool": "p" });
    expect(spec.Cmd).toEqual(
      expect.arrayContaining(["worker", "--pool", "p", "--slots", "4", "--label", "zone=a"]),
    );
    expect(spec.Env).toEqual(
      expect.arrayContaining(["DROVER_PREFIX=x", "DROVER_NATS_URL=nats://n:4222"]),
    );
    expect((spec.HostConfig as { NetworkMode: string }).NetworkMode).toBe("net");

    // A deposed leader's decision (older term) changes nothing.
    current = decision(4, 1);
    await driver.reconcile();
    expect(containers.filter((c) => c.State === "running")).toHaveLength(3);
    expect(driver.stats).toMatchObject({ desired: 3, term: 5 });

    // The current leader's scale-in: SIGTERM with grace + 10 s, then removal.
    current = decision(6, 1);
    await driver.reconcile();
    await driver.stop();
    expect(containers).toHaveLength(1);
    expect(driver.stats).toMatchObject({ desired: 1, term: 6, stopped: 2 });
  });
});

describe("pool flags", () => {
  it("gives each new worker its own credentials and the CA, inside the container before it starts", async () => {
    const { docker, containers } = fakeDocker();
    const driver = new DockerDriver(
      docker,
      fakeClient(() => decision(1, 2)),
      {
        prefix: "x",
        pool: "p",
        image: "i",
        natsUrl: "nats://n:4222",
        capacity: { cpu: 1, memoryMb: 1, slots: 1 },
        labels: {},
        credentials: (id) => `creds of ${id}`,
        tlsCa: "the CA",
        log: pino({ level: "silent" }),
      },
    );
    await driver.reconcile();
    expect(containers).toHaveLength(2);
    for (const c of containers) {
      const id = (c.spec.Cmd as string[])[(c.spec.Cmd as string[]).indexOf("--id") + 1]!;
      expect(c.spec.Env).toContain(`NATS_CREDS=${WORKER_CREDS_PATH}`);
      expect(c.spec.Env).toContain(`NATS_CA=${WORKER_CA_PATH}`);
      expect(c.archives).toHaveLength(1);
      const [a] = c.archives;
      expect(a!.started).toBe(false);
      expect(a!.path).toBe("/");
      const dir = mkdtempSync(join(tmpdir(), "drover-tar-"));
      try {
        execFileSync("tar", ["-xf", "-", "-C", dir], { input: a!.tar });
        const file = join(dir, WORKER_CREDS_PATH);
        expect(readFileSync(file, "utf8")).toBe(`creds of ${id}`);
        expect(statSync(file).mode & 0o777).toBe(0o400);
        expect(readFileSync(join(dir, WORKER_CA_PATH), "utf8")).toBe("the CA");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it("refuse a policy the API would refuse, in one line", () => {
    expect(() => poolRequest("p", { types: "a", min: "3", max: "2" })).toThrow(UsageError);
    expect(() => poolRequest("p", { types: "a", min: "3", max: "2" })).toThrow(
      /min must not exceed max/,
    );
    expect(() => poolRequest("p", { max: "2" })).toThrow(/--types is required/);
    expect(() => poolRequest("bad pool", { types: "a", max: "2" })).toThrow(/pool/);
    expect(poolRequest("p", { types: "a,b", max: "2", target: "0.5" }).scale).toMatchObject({
      max: 2,
      targetUtilisation: 0.5,
      min: 0,
    });
  });
});
