/**
 * A production-like cluster for the chaos suite: three NATS nodes (every stream and bucket
 * R3), scheduler and worker actors as containers from the local drover image, and the
 * operations that break them (SIGKILL, pause, network cut, restart).
 */
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { KvWatchInclude, Kvm } from "@nats-io/kv";
import type { KV } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { resourceNames, TERMINAL_STATES } from "../../src/protocol/index.ts";
import type { TaskRecord, TaskState } from "../../src/protocol/index.ts";
import { DroverClient, ensureResources } from "../../src/runtime/index.ts";
import { startActor } from "../fixtures/actors.ts";
import type { ActorHandle } from "../fixtures/actors.ts";
import { docker } from "../fixtures/docker.ts";
import { startNatsCluster } from "../fixtures/nats.ts";
import type { NatsClusterHandle } from "../fixtures/nats.ts";
import { waitFor } from "../fixtures/wait.ts";
import { uniquePrefix } from "../fixtures/prefix.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface Actor {
  id: string;
  role: "scheduler" | "worker";
  handle: ActorHandle;
}

export interface ChaosOptions {
  schedulers?: number;
  workers?: number;
  slots?: number;
}

/**
 * The test harness failed, not the system under test: a docker command erred (the engine
 * could not freeze a container, say). Scenarios run once more on a fresh cluster after one;
 * a broken invariant or a step that hangs is never this.
 */
export class HarnessError extends Error {}

/** Runs a docker command for a fault; its failure is the harness's, not Drover's. */
async function inject(...args: string[]): Promise<void> {
  try {
    await docker(...args);
  } catch (err) {
    throw new HarnessError(`docker ${args[0]} failed: ${(err as Error).message}`);
  }
}

export class ChaosCluster implements AsyncDisposable {
  /**
   * Client-visible unavailability: the longest time one submit took to be accepted when it
   * needed more than one try (a refusal or a timeout, then a retry), and how many did.
   */
  longestSubmitWaitMs = 0;
  retriedSubmits = 0;
  /** Clusters not yet disposed: a test that times out never reaches its `await using` cleanup. */
  static readonly live = new Set<ChaosCluster>();
  readonly prefix = uniquePrefix("chaos");
  readonly actors = new Map<string, Actor>();
  nats!: NatsClusterHandle;
  nc!: NatsConnection;
  client!: DroverClient;
  /** Live view of every task's state, from a KV watch in the test process. */
  readonly states = new Map<string, TaskState>();
  readonly #waiters = new Set<() => void>();
  #tasksKv: KV | null = null;
  #lastWatchEventAt = Date.now();

  async start(o: ChaosOptions = {}): Promise<this> {
    ChaosCluster.live.add(this);
    this.nats = await startNatsCluster(3);
    this.nc = await connect({
      servers: this.nats.servers(),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    await retry(() => ensureResources(this.nc, this.prefix, { replicas: 3 }));
    const P = this.prefix.toUpperCase();
    await retry(async () => {
      const jsm = await jetstreamManager(this.nc);
      await jsm.streams.add({
        name: `${P}_CHAOS`,
        subjects: [`${this.prefix}.chaos.>`],
        num_replicas: 3,
        duplicate_window: 120_000_000_000,
      });
    });
    // The client's default request timeout (5 s): a request in flight to a replica or a node
    // that dies is answered by no one, and waits this long before its retry.
    this.client = new DroverClient(this.nc, { prefix: this.prefix });
    await this.#watchTasks();
    const scheds = Array.from({ length: o.schedulers ?? 2 }, (_, i) => `s${i + 1}`);
    const workers = Array.from({ length: o.workers ?? 3 }, (_, i) => `w${i + 1}`);
    await Promise.all(scheds.map((id) => this.#startActor(id, "scheduler", ["--id", id])));
    await Promise.all(
      workers.map((id) =>
        this.#startActor(id, "worker", [
          "--id",
          id,
          "--handlers",
          "/app/test/chaos/handlers.ts",
          "--slots",
          String(o.slots ?? 32),
        ]),
      ),
    );
    await this.waitFor(
      async () =>
        (await this.leader()).leaderId !== null &&
        (await this.client.workers()).length === workers.length,
      "a leader and every worker",
      60_000,
    );
    return this;
  }

  async #startActor(id: string, role: "scheduler" | "worker", args: string[]): Promise<void> {
    const handle = await startActor(role, args, {
      network: this.nats.network,
      servers: this.nats.internalServers,
      prefix: this.prefix,
      env: { DROVER_REPLICAS: "3", DROVER_WORKER_ID: id },
      ready: /"msg":"ready"/,
      copy:
        role === "worker"
          ? [
              {
                source: join(root, "test", "chaos", "handlers.ts"),
                target: "/app/test/chaos/handlers.ts",
              },
            ]
          : [],
    });
    this.actors.set(id, { id, role, handle });
  }

  async #watchTasks(): Promise<void> {
    const kv = await new Kvm(this.nc).open(resourceNames(this.prefix).buckets.tasks);
    this.#tasksKv = kv;
    const watch = await kv.watch({ include: KvWatchInclude.UpdatesOnly });
    void (async () => {
      for await (const e of watch) {
        this.#lastWatchEventAt = Date.now();
        if (e.operation !== "PUT") continue;
        this.states.set(e.key, e.json<TaskRecord>().state);
        for (const w of this.#waiters) w();
      }
    })();
  }

  /**
   * Reads the records of up to 512 of `ids` that the watch still shows unfinished, when the
   * watch has been quiet for two seconds: a watch whose server died can miss writes made
   * while it moved (seen once), and a task whose last write it missed would look stuck.
   */
  async #readBack(ids: string[]): Promise<void> {
    const kv = this.#tasksKv;
    if (kv === null || Date.now() - this.#lastWatchEventAt < 2_000) return;
    const open = this.open(ids).slice(0, 512);
    for (let i = 0; i < open.length; i += 64)
      await Promise.all(
        open.slice(i, i + 64).map(async (id) => {
          const e = await kv.get(id).catch(() => null);
          if (e?.operation === "PUT") this.states.set(id, e.json<TaskRecord>().state);
        }),
      );
    for (const w of this.#waiters) w();
  }

  actor(id: string): Actor {
    const a = this.actors.get(id);
    if (a === undefined) throw new Error(`no actor ${id}`);
    return a;
  }

  /**
   * The NATS node (index into `nats.names`) that leads each of these streams now: a fault
   * aimed at a stream's leader makes its writes wait for an election.
   */
  async streamLeaders(streams: string[]): Promise<Map<string, number>> {
    const jsm = await jetstreamManager(this.nc);
    const out = new Map<string, number>();
    for (const name of streams) {
      // Under load a JetStream API request can time out: asked again for up to 15 s.
      const leader = await retry(async () => {
        const l = (await jsm.streams.info(name)).cluster?.leader ?? "";
        if (!this.nats.names.includes(l)) throw new Error(`stream ${name} has no leader yet`);
        return l;
      });
      out.set(name, this.nats.names.indexOf(leader));
    }
    return out;
  }

  /** The current leader as the API reports it (asks until some replica answers). */
  async leader(): Promise<{ leaderId: string | null; term: number | null }> {
    const reply = await this.nc.request(this.client.subjects.api.health, "{}", { timeout: 2_000 });
    const h = JSON.parse(reply.string()) as {
      leaderId: string | null;
      term: number | null;
      role: string;
      replicaId: string;
    };
    return { leaderId: h.leaderId, term: h.role === "leader" ? h.term : null };
  }

  /** Asks until a replica that *is* the leader answers (queue groups pick any replica). */
  async leaderInfo(timeoutMs = 20_000): Promise<{ leaderId: string; term: number }> {
    let found: { leaderId: string; term: number } | null = null;
    await this.waitFor(
      async () => {
        const reply = await this.nc.request(this.client.subjects.api.health, "{}", {
          timeout: 1_000,
        });
        const h = JSON.parse(reply.string()) as {
          leaderId: string | null;
          term: number | null;
          role: string;
          replicaId: string;
        };
        if (h.role === "leader" && h.term !== null) found = { leaderId: h.replicaId, term: h.term };
        return found !== null;
      },
      "the leader to answer",
      timeoutMs,
    );
    return found!;
  }

  /**
   * Submits up to `n` chaos tasks (`work`, `ms()` each) with 64 requests in flight, and fewer
   * once `stop(submittedSoFar)` says so; returns their ids.
   */
  async submit(
    n: number,
    ms: () => number,
    stop: (submitted: number) => boolean = () => false,
  ): Promise<string[]> {
    const ids: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < n && !stop(ids.length) && ChaosCluster.live.has(this)) {
          // A submit that times out during a fault may still have been accepted: retrying it
          // with the same idempotency key returns the first task instead of making a second.
          const idempotencyKey = `${this.prefix}-${next++}`;
          const payload = { ms: ms() };
          let tries = 0;
          const sentAt = performance.now();
          // Gives up at once when the cluster is gone (a scenario that failed or was re-run).
          const { id } = await retry(async () => {
            try {
              tries++;
              return await this.client.submit({
                type: "work",
                payload,
                idempotencyKey,
                retry: { maxAttempts: 5, backoff: { type: "fixed", baseMs: 200 } },
              });
            } catch (err) {
              if (!ChaosCluster.live.has(this)) throw new RetryStop(String(err));
              if (tries === 3 || tries % 10 === 0)
                console.error(`chaos: submit ${idempotencyKey}, try ${tries}: ${String(err)}`);
              throw err;
            }
          });
          ids.push(id);
          // What a client saw: how long this submit took to be accepted, through its retries.
          if (tries > 1) {
            this.retriedSubmits++;
            this.longestSubmitWaitMs = Math.max(
              this.longestSubmitWaitMs,
              Math.round(performance.now() - sentAt),
            );
          }
        }
      }),
    );
    return ids;
  }

  /** The ids among `ids` not yet terminal (a task with no record seen yet counts as queued). */
  open(ids: Iterable<string>): string[] {
    return [...ids].filter((id) => !TERMINAL_STATES.includes(this.states.get(id) ?? "queued"));
  }

  /** Tasks seen so far that are not yet terminal. */
  unfinished(): number {
    return this.open(this.states.keys()).length;
  }

  /**
   * Resolves as soon as `check()` holds: at once, or at the KV update (pushed by the watch)
   * after which it does. Rejects with `failure()` after `timeoutMs`.
   */
  async until(check: () => boolean, failure: () => string, timeoutMs: number): Promise<void> {
    if (check()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(test);
        reject(new Error(failure()));
      }, timeoutMs);
      const test = (): void => {
        if (!check()) return;
        clearTimeout(timer);
        this.#waiters.delete(test);
        resolve();
      };
      this.#waiters.add(test);
    });
  }

  /**
   * Resolves when every id is terminal, as the watch shows it or, once the watch is quiet,
   * as the records read back say. The default leaves room inside the suite's test timeout, so
   * a stuck task fails here, naming itself.
   */
  async allTerminal(ids: string[], timeoutMs = 120_000): Promise<void> {
    const readBack = setInterval(() => void this.#readBack(ids), 1_000);
    try {
      await this.#allTerminal(ids, timeoutMs);
    } finally {
      clearInterval(readBack);
    }
  }

  async #allTerminal(ids: string[], timeoutMs: number): Promise<void> {
    await this.until(
      () => this.open(ids).length === 0,
      () => {
        const stuck = this.open(ids);
        return `${stuck.length} of ${ids.length} tasks not terminal after ${timeoutMs} ms, e.g. ${stuck
          .slice(0, 5)
          .map((id) => `${id} (${this.states.get(id) ?? "no record seen"})`)
          .join(", ")}`;
      },
      timeoutMs,
    );
  }

  async waitFor(
    check: () => boolean | Promise<boolean>,
    what: string,
    timeoutMs = 30_000,
  ): Promise<void> {
    await waitFor(check, what, timeoutMs, 100);
  }

  // --- faults -----------------------------------------------------------------------

  async kill(id: string): Promise<number> {
    const at = Date.now();
    await inject("kill", "--signal", "KILL", this.actor(id).handle.container.getId());
    return at;
  }
  async pause(id: string): Promise<void> {
    await inject("pause", this.actor(id).handle.container.getId());
  }
  async unpause(id: string): Promise<void> {
    await inject("unpause", this.actor(id).handle.container.getId());
  }
  async cut(id: string): Promise<number> {
    const at = Date.now();
    await inject(
      "network",
      "disconnect",
      this.nats.network.getName(),
      this.actor(id).handle.container.getId(),
    );
    return at;
  }
  async heal(id: string): Promise<void> {
    await inject(
      "network",
      "connect",
      this.nats.network.getName(),
      this.actor(id).handle.container.getId(),
    );
  }
  /** Restarts every NATS node at once (SIGTERM, 5 s grace, start). */
  async restartNats(): Promise<void> {
    await Promise.all(this.nats.nodes.map((n) => inject("restart", "--time", "5", n.getId())));
  }
  /** Starts a stopped or killed actor again and waits for its next "ready" line. */
  async revive(id: string): Promise<void> {
    const c = this.actor(id).handle.container.getId();
    const before = await readyCount(c);
    await inject("start", c);
    await this.waitFor(
      async () => (await readyCount(c)) > before,
      `${id} to be ready again`,
      60_000,
    );
  }
  /** Graceful restart: SIGTERM (a worker drains, a leader hands over), then start. */
  async restart(id: string): Promise<void> {
    await inject("stop", "--time", "40", this.actor(id).handle.container.getId());
    await this.revive(id);
  }

  /**
   * Writes what a failed scenario needs for a post-mortem into `dir`: every actor's log,
   * the records of the tasks not yet terminal, the workers and the health of each replica.
   */
  async dumpDiagnostics(dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    await Promise.allSettled(
      [...this.actors.values()].map(async (a) =>
        writeFileSync(join(dir, `${a.id}.log`), await containerLogs(a.handle.container.getId())),
      ),
    );
    const open = this.open(this.states.keys());
    const records = await Promise.allSettled(open.slice(0, 200).map((id) => this.client.get(id)));
    const lines = records.map((r, i) =>
      JSON.stringify(r.status === "fulfilled" ? r.value : { id: open[i], error: String(r.reason) }),
    );
    writeFileSync(join(dir, "open-tasks.jsonl"), `${lines.join("\n")}\n`);
    const workers = await this.client.workers().catch((e: unknown) => String(e));
    const health = await this.client.health().catch((e: unknown) => String(e));
    writeFileSync(
      join(dir, "cluster.json"),
      JSON.stringify({ openTasks: open.length, workers, health }, null, 2),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!ChaosCluster.live.delete(this)) return;
    await Promise.allSettled([...this.actors.values()].map((a) => a.handle[Symbol.asyncDispose]()));
    await this.nc?.close().catch(() => undefined);
    await this.nats?.[Symbol.asyncDispose]();
  }
}

/** A container's whole output (pino logs to stderr; docker keeps both). */
function containerLogs(containerId: string): Promise<string> {
  return new Promise<string>((done) =>
    execFile("docker", ["logs", containerId], { maxBuffer: 256 * 1024 * 1024 }, (_err, out, err) =>
      done(`${out}${err}`),
    ),
  );
}

/** How many "ready" lines the actor has logged. */
async function readyCount(containerId: string): Promise<number> {
  return (await containerLogs(containerId)).split('"msg":"ready"').length - 1;
}

/** Thrown by a `retry` callback that must not be tried again. */
export class RetryStop extends Error {}

export async function retry<T>(fn: () => Promise<T>, attempts = 60): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || err instanceof RetryStop) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export async function startChaosCluster(o: ChaosOptions = {}): Promise<ChaosCluster> {
  const c = new ChaosCluster();
  try {
    return await c.start(o);
  } catch (err) {
    await c[Symbol.asyncDispose]();
    throw err;
  }
}
