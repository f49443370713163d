/**
 * docker-compose.yml end to end, as `npm run cluster:up` runs it: 3 NATS nodes with TLS for
 * clients and routes and a NATS user per role (JWT mode, made by scripts/cluster-secrets.sh),
 * every stream and bucket R3, 2 schedulers and 3 workers from the local images, driven with the
 * real `nats` CLI as the submitter (and as admin to read the lease and the streams). Each run is
 * its own compose project (`-p drover<hex>`) with its own secrets on free loopback ports;
 * `down -v` removes its containers, network and volumes whatever happens.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsAuth } from "../../src/runtime/index.ts";
import { connectNats } from "../../src/runtime/index.ts";
import { expectDenied, failure } from "../fixtures/nats-process.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function succeeds(cmd: string, args: string[]): Promise<boolean> {
  try {
    await run(cmd, args, { timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

/** A follower answers too (one queue group): with the leader's id but `term: null`. */
interface Health {
  ok: boolean;
  replicaId: string;
  role: string;
  term: number | null;
  leaderId: string | null;
  workers: number;
}
type Leader = Health & { term: number; leaderId: string };
interface TaskSummary {
  id: string;
  state: string;
  payload: unknown;
  result?: unknown;
}

const project = `drover${randomBytes(4).toString("hex")}`;
let natsPort = 0;
/** Each scheduler's dashboard on the host. */
let dashboards: string[] = [];
/** Each node's published client port: n1, n2, n3. */
let nodePorts: number[] = [];
/** This run's secrets (scripts/cluster-secrets.sh): creds/, tls/, nats.conf. */
let secrets = "";
let env: NodeJS.ProcessEnv = process.env;
/** Set when neither `docker compose` nor `docker-compose` can be had on this machine. */
let noCompose: string | undefined;

/** `bash scripts/compose.sh -p <project> ...` from the repository root. */
async function compose(...args: string[]): Promise<string> {
  const { stdout, stderr } = await run("bash", ["scripts/compose.sh", "-p", project, ...args], {
    cwd: root,
    env,
    timeout: 120_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout + stderr;
}

/**
 * The real `nats` CLI against this project's three nodes (as the README shows: every node's
 * published port), over TLS, as `user` (a role's `.creds`).
 */
async function natsAs(user: "admin" | "submitter", ...args: string[]): Promise<string> {
  const { stdout } = await run(
    "nats",
    [
      "--server",
      nodePorts.map((p) => `tls://127.0.0.1:${p}`).join(","),
      "--tlsca",
      join(secrets, "tls", "ca.pem"),
      "--creds",
      join(secrets, "creds", `${user}.creds`),
      ...args,
    ],
    { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout;
}

/** The `nats` CLI as the submitter: the API on its own subjects (`drover.api.as.submitter.>`). */
const nats = (...args: string[]): Promise<string> => natsAs("submitter", ...args);

async function request<T>(subject: string, body: string): Promise<T> {
  return JSON.parse(await nats("request", subject, body, "--raw", "--timeout", "5s")) as T;
}

/** Polls `check` until it returns a value (not undefined), at most `timeoutMs`. */
async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const logs = await compose("logs", "--tail", "5").catch((e: Error) => e.message);
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}` +
          (last instanceof Error ? ` (last error: ${last.message.split("\n")[0]})` : "") +
          `\n${logs}`,
      );
    }
    await sleep(1_000);
  }
}

/** Submits `count` echo tasks with ONE `nats request --count` invocation; returns their ids. */
async function submitEcho(count: number, tag: string): Promise<string[]> {
  const out = await nats(
    "request",
    "drover.api.as.submitter.tasks.submit",
    `{"type":"echo","payload":{"tag":"${tag}","n":{{Count}}}}`,
    "--count",
    String(count),
    "--raw",
    "--timeout",
    "10s",
  );
  const replies = out
    .split("\n")
    .filter((l) => l.trim().startsWith("{"))
    .map((l) => JSON.parse(l) as { ok: boolean; id: string; duplicate: boolean });
  expect(replies).toHaveLength(count);
  expect(replies.every((r) => r.ok && !r.duplicate)).toBe(true);
  const ids = replies.map((r) => r.id);
  expect(new Set(ids).size).toBe(count);
  return ids;
}

/** Waits until every id is listed as `succeeded` (bounded) and returns those records. */
async function waitSucceeded(ids: string[], timeoutMs: number): Promise<TaskSummary[]> {
  let missing = ids.length;
  try {
    return await waitFor(`${ids.length} tasks to succeed`, timeoutMs, async () => {
      const { tasks } = await request<{ ok: boolean; tasks: TaskSummary[] }>(
        "drover.api.as.submitter.tasks.list",
        '{"state":"succeeded","limit":1000}',
      );
      const done = new Map(tasks.map((t) => [t.id, t]));
      const found = ids.flatMap((id) => done.get(id) ?? []);
      missing = ids.length - found.length;
      return missing === 0 ? found : undefined;
    });
  } catch (err) {
    throw new Error(`${missing} of ${ids.length} tasks not succeeded: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

async function health(): Promise<Health> {
  return await request<Health>("drover.api.as.submitter.health", "");
}

/** The leader's own health reply (asked until the leader, not a follower, answers). */
async function leaderHealth(what: string, ok: (h: Leader) => boolean): Promise<Leader> {
  return await waitFor(what, 30_000, async () => {
    const h = await health();
    if (h.role !== "leader" || h.term === null || h.leaderId !== h.replicaId) return;
    const l = { ...h, term: h.term, leaderId: h.leaderId };
    return ok(l) ? l : undefined;
  });
}

/** The lease key of the drover-leader bucket: `{ replicaId, term }` of the leader. */
/** The lease names its holder; the term (the create revision) is added by the first renewal. */
async function lease(): Promise<{ replicaId: string; term?: number }> {
  return JSON.parse(await natsAs("admin", "kv", "get", "drover-leader", "lease", "--raw")) as {
    replicaId: string;
    term?: number;
  };
}

beforeAll(async () => {
  try {
    await run("bash", ["scripts/provision.sh", "compose"], { cwd: root, timeout: 300_000 });
  } catch {
    // reported below if no compose CLI is there after all
  }
  if (
    !(await succeeds("docker", ["compose", "version"])) &&
    !(await succeeds("docker-compose", ["version"]))
  ) {
    noCompose =
      "neither `docker compose` nor `docker-compose` is installed, and `bash scripts/provision.sh compose` could not install one (it needs root)";
    return;
  }
  secrets = mkdtempSync(join(tmpdir(), "drover-compose-secrets-"));
  await run("bash", ["scripts/cluster-secrets.sh", secrets], { cwd: root, timeout: 120_000 });
  const ports = new Set<number>();
  while (ports.size < 6) ports.add(await freePort());
  const [p1, p2, p3, monitorPort, d1, d2] = [...ports] as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  dashboards = [`http://127.0.0.1:${d1}/`, `http://127.0.0.1:${d2}/`];
  natsPort = p1;
  nodePorts = [p1, p2, p3];
  env = {
    ...process.env,
    DROVER_NATS_PORT: String(p1),
    DROVER_NATS_PORT_2: String(p2),
    DROVER_NATS_PORT_3: String(p3),
    DROVER_NATS_MONITOR_PORT: String(monitorPort),
    DROVER_DASHBOARD_PORT: String(d1),
    DROVER_DASHBOARD_PORT_2: String(d2),
    DROVER_SECRETS_DIR: secrets,
  };
  // Returns once NATS is started and `setup` has created the R3 streams and buckets.
  await compose("up", "-d");
}, 150_000);

afterAll(async () => {
  if (noCompose === undefined) await compose("down", "-v", "--remove-orphans");
  if (secrets !== "") rmSync(secrets, { recursive: true, force: true });
}, 90_000);

describe("docker-compose.yml (npm run cluster:up)", () => {
  it("comes up with a leader, 3 workers and every stream and bucket R3", async (ctx) => {
    ctx.skip(noCompose !== undefined, noCompose);
    await waitFor("a leader and 3 workers", 90_000, async () => {
      const h = await health();
      if (h.leaderId === null || !/^scheduler-[12]$/.test(h.leaderId) || h.workers !== 3) return;
      const { workers } = await request<{ workers: { id: string; state: string }[] }>(
        "drover.api.as.submitter.workers.list",
        "",
      );
      return workers.filter((w) => w.state === "ready").length === 3 ? true : undefined;
    });
    const h = await leaderHealth("the leader's health reply", () => true);
    expect(h.term).toBeGreaterThan(0);
    expect(await lease()).toMatchObject({ replicaId: h.leaderId });
    const { workers } = await request<{ workers: { id: string }[] }>(
      "drover.api.as.submitter.workers.list",
      "",
    );
    expect(workers.map((w) => w.id).sort()).toEqual(["worker-1", "worker-2", "worker-3"]);

    for (const stream of [
      "KV_drover-tasks",
      "KV_drover-workers",
      "KV_drover-leader",
      "KV_drover-idempotency",
      "DROVER_REPORTS",
      "DROVER_EVENTS",
    ]) {
      const info = JSON.parse(await natsAs("admin", "stream", "info", stream, "--json")) as {
        config: { num_replicas: number };
        cluster?: { leader?: string; replicas?: unknown[] };
      };
      expect(info.config.num_replicas, stream).toBe(3);
      expect(info.cluster?.leader, stream).toMatch(/^n[123]$/);
      expect(info.cluster?.replicas, stream).toHaveLength(2);
    }
  }, 110_000);

  it("reports schedulers and workers healthy through the image's health check (/readyz)", async (ctx) => {
    ctx.skip(noCompose !== undefined, noCompose);
    for (const service of ["scheduler-1", "scheduler-2", "worker-1"]) {
      const id = (await compose("ps", "-q", service))
        .split("\n")
        .map((l) => l.trim())
        .find((l) => /^[0-9a-f]{12,}$/.test(l));
      expect(id, service).toBeDefined();
      await waitFor(`${service} to be healthy`, 60_000, async () => {
        const { stdout } = await run("docker", [
          "inspect",
          "--format",
          "{{.State.Health.Status}}",
          id!,
        ]);
        return stdout.trim() === "healthy" ? true : undefined;
      });
    }
  }, 200_000);

  it("runs 50 echo tasks submitted with one `nats request --count 50`", async (ctx) => {
    ctx.skip(noCompose !== undefined, noCompose);
    const ids = await submitEcho(50, "first");
    const done = await waitSucceeded(ids, 60_000);
    expect(done).toHaveLength(50);
    // echo returns its payload
    expect(done.every((t) => JSON.stringify(t.result) === JSON.stringify(t.payload))).toBe(true);
  }, 75_000);

  it("each scheduler serves the dashboard on loopback: as the secured scheduler user it reads the API and follows events", async (ctx) => {
    ctx.skip(noCompose !== undefined, noCompose);
    for (const url of dashboards) {
      const o = await waitFor(`${url} to answer`, 60_000, async () => {
        const res = await fetch(new URL("api/overview", url)).catch(() => null);
        return res?.ok === true
          ? ((await res.json()) as { replicas: { replicaId: string }[]; workers: unknown[] })
          : undefined;
      });
      expect(o.replicas.map((r) => r.replicaId)).toEqual(["scheduler-1", "scheduler-2"]);
      expect(o.workers).toHaveLength(3);
      expect((await fetch(url)).headers.get("content-type")).toMatch(/^text\/html/);
    }
    // The live stream carries a task's state changes (the scheduler user may follow events).
    const stop = new AbortController();
    const res = await fetch(new URL("api/events", dashboards[0]), {
      signal: AbortSignal.any([stop.signal, AbortSignal.timeout(30_000)]),
    });
    const reader = res.body!.getReader();
    const [id] = await submitEcho(1, "dashboard");
    let seen = "";
    try {
      while (!seen.includes(`"taskId":"${id}"`)) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += new TextDecoder().decode(value as Uint8Array);
      }
    } finally {
      stop.abort();
    }
    expect(seen).toContain(`"taskId":"${id}"`);
  }, 90_000);

  it("refuses connections without credentials or the cluster's CA, and a submitter's forgeries", async (ctx) => {
    ctx.skip(noCompose !== undefined, noCompose);
    const url = `tls://127.0.0.1:${natsPort}`;
    const ca = join(secrets, "tls", "ca.pem");
    const connect = (auth: NatsAuth): Promise<NatsConnection> =>
      connectNats({ servers: [url], name: "t", reconnectForever: false, auth });
    expect(String(await failure(connect({ tlsCa: ca })))).toMatch(/Authorization Violation/i);
    // Without the CA the server's certificate is not trusted; without TLS, the server refuses.
    expect(
      await failure(connect({ creds: join(secrets, "creds", "submitter.creds") })),
    ).not.toBeNull();
    expect(
      await failure(
        connectNats({
          servers: [`nats://127.0.0.1:${natsPort}`],
          name: "t",
          reconnectForever: false,
          auth: { creds: join(secrets, "creds", "submitter.creds") },
        }),
      ),
    ).not.toBeNull();
    const nc = await connect({ tlsCa: ca, creds: join(secrets, "creds", "submitter.creds") });
    try {
      const js = jetstream(nc);
      await expectDenied(js.publish("drover.reports.worker-1.t1", "{}"), "a forged report");
      await expectDenied(js.publish("$KV.drover-workers.worker-9", "{}"), "a fake heartbeat");
      await expectDenied(js.publish("$KV.drover-leader.lease", "{}"), "the lease");
    } finally {
      await nc.close();
    }
  }, 60_000);

  it("hands over when the leader's container is stopped, and keeps running tasks", async (ctx) => {
    ctx.skip(noCompose !== undefined, noCompose);
    const before = await leaderHealth("a leader", (h) => /^scheduler-[12]$/.test(h.leaderId));
    const leader = before.leaderId;
    const other = leader === "scheduler-1" ? "scheduler-2" : "scheduler-1";
    // The compose service is named like the scheduler's --id.
    await compose("stop", leader);
    const after = await leaderHealth(`${other} to lead`, (h) => h.leaderId === other);
    expect(after.term).toBeGreaterThan(before.term);
    expect(await lease()).toMatchObject({ replicaId: other });
    // Only the new leader is left to answer.
    expect(await health()).toMatchObject({ replicaId: other, role: "leader" });

    const ids = await submitEcho(10, "after-failover");
    expect(await waitSucceeded(ids, 30_000)).toHaveLength(10);
  }, 75_000);

  it("a client outside Docker given all three nodes keeps working while n1 is stopped", async (ctx) => {
    ctx.skip(noCompose !== undefined, noCompose);
    await compose("stop", "n1");
    try {
      // n1's port refuses now; the CLI (given n1, n2 and n3) connects to another node.
      expect(
        await failure(
          connectNats({
            servers: [`tls://127.0.0.1:${natsPort}`],
            name: "t",
            reconnectForever: false,
            auth: {
              tlsCa: join(secrets, "tls", "ca.pem"),
              creds: join(secrets, "creds", "submitter.creds"),
            },
          }),
        ),
      ).not.toBeNull();
      // Streams whose leader was n1 elect another first: a submit succeeds once they have.
      await waitFor("a submit without n1", 60_000, async () =>
        (await submitEcho(1, "probe-without-n1")).length === 1 ? true : undefined,
      );
      const ids = await submitEcho(10, "without-n1");
      expect(await waitSucceeded(ids, 60_000)).toHaveLength(10);
    } finally {
      await compose("start", "n1");
    }
  }, 120_000);
  it("grows the optional autoscaled pool (docker-compose.autoscale.yml) and drains it on stop", async (ctx) => {
    ctx.skip(noCompose !== undefined, noCompose);
    const files = ["-f", "docker-compose.yml", "-f", "docker-compose.autoscale.yml"];
    await compose(...files, "up", "-d", "autoscaler");
    interface Pool {
      pool: string;
      ready: number;
      decision: { desired: number } | null;
    }
    const elastic = async (): Promise<Pool | undefined> =>
      (await request<{ pools: Pool[] }>("drover.api.as.submitter.pools.list", "")).pools.find(
        (p) => p.pool === "elastic",
      );
    await waitFor("the pool's first worker container", 90_000, async () =>
      (await elastic())?.ready === 1 ? true : undefined,
    );
    // More than the 3 fixed workers' 24 slots: the rest waits, and the pool grows.
    const ids = (
      await nats(
        "request",
        "drover.api.as.submitter.tasks.submit",
        `{"type":"sleep","payload":{"ms":3000,"n":{{Count}}}}`,
        "--count",
        "100",
        "--raw",
        "--timeout",
        "10s",
      )
    )
      .split("\n")
      .filter((l) => l.trim().startsWith("{"))
      .map((l) => (JSON.parse(l) as { id: string }).id);
    expect(ids).toHaveLength(100);
    const grown = await waitFor("the pool to grow", 60_000, async () => {
      const p = await elastic();
      return p !== undefined && p.ready >= 2 ? p : undefined;
    });
    expect(grown.decision!.desired).toBeGreaterThanOrEqual(2);
    await waitSucceeded(ids, 120_000);
    // Stopping the driver drains and removes its containers.
    await compose(...files, "stop", "autoscaler");
    const left = await run("docker", [
      "ps",
      "-aq",
      "--filter",
      "label=drover.autoscaler=drover/elastic",
    ]);
    expect(left.stdout.trim()).toBe("");
  }, 300_000);
});
