/**
 * The Docker driver: keeps one pool's worker containers at the count the leader's autoscaler
 * decided, through the Docker Engine API (dockerode). It reads decisions through the API
 * (`pools.list`), ignores any of an older term than one it has acted on, and every second:
 * removes exited containers, creates missing ones from the image with the pool's settings,
 * and stops surplus ones with SIGTERM, so their workers drain (the stop timeout is the drain
 * grace plus a margin). It touches only containers labelled as its own (`drover.autoscaler`
 * = `<prefix>/<pool>`), and adopts them after its own restart.
 */
import { randomBytes } from "node:crypto";
import type Docker from "dockerode";
import type { Logger } from "pino";
import type { Resources } from "../protocol/index.ts";
import type { DroverClient } from "../runtime/index.ts";
import type { ManagedContainer } from "./plan.ts";
import { planPool } from "./plan.ts";
import { tarArchive } from "./tar.ts";

/** The label that marks a driver's containers: `<prefix>/<pool>`. */
export const OWNER_LABEL = "drover.autoscaler";
/** Where a worker container finds its `.creds` file (see `credentials`). */
export const WORKER_CREDS_PATH = "/drover-creds/worker.creds";
/** Where a worker container finds the NATS CA (see `tlsCa`). */
export const WORKER_CA_PATH = "/drover-creds/ca.pem";

export interface DockerDriverOptions {
  prefix: string;
  pool: string;
  image: string;
  /** The Docker network the workers join (where NATS is reachable). @default "bridge" */
  network?: string;
  /** NATS URLs as the containers reach them. */
  natsUrl: string;
  capacity: Resources;
  labels: Record<string, string>;
  /** A handler module path inside the image; the example handlers when left out. */
  handlers?: string;
  /** Running tasks get this long to finish on scale-in. @default 30000 */
  drainGraceMs?: number;
  /** More environment for the workers (e.g. `DROVER_REPLICAS`). */
  env?: Record<string, string>;
  /**
   * A `.creds` file's text for each new worker (its NATS user, say one minted by a scoped
   * signing key for this worker id): put into the container at {@link WORKER_CREDS_PATH}
   * before it starts, and named by `NATS_CREDS`. Without it, workers get the driver's `env`.
   */
  credentials?: (workerId: string) => string;
  /**
   * CA certificates (PEM text) the NATS servers' certificates chain to: put into each new
   * container at {@link WORKER_CA_PATH} and named by `NATS_CA`.
   */
  tlsCa?: string;
  /** Read-only bind mounts into the workers, `host-path:container-path` (a handler module, say). */
  mounts?: string[];
  /** @default 1000 */
  intervalMs?: number;
  log: Logger;
}

/** What the driver has done, for logs, tests and charts. */
export interface DriverStats {
  created: number;
  stopped: number;
  removed: number;
  /** The desired count acted on last (null before the first decision). */
  desired: number | null;
  /** The highest leader term whose decision was acted on. */
  term: number;
}

export class DockerDriver {
  readonly stats: DriverStats = { created: 0, stopped: 0, removed: 0, desired: null, term: 0 };
  readonly #docker: Docker;
  readonly #client: DroverClient;
  readonly #o: DockerDriverOptions;
  readonly #owner: string;
  /** Containers being stopped (their stop and removal run in the background). */
  readonly #stopping = new Map<string, Promise<void>>();
  #timer: NodeJS.Timeout | null = null;
  #busy: Promise<void> | null = null;

  constructor(docker: Docker, client: DroverClient, options: DockerDriverOptions) {
    this.#docker = docker;
    this.#client = client;
    this.#o = options;
    this.#owner = `${options.prefix}/${options.pool}`;
  }

  /** Starts reconciling (first pass at once). */
  start(): void {
    this.#timer = setInterval(() => void this.reconcile(), this.#o.intervalMs ?? 1_000);
    void this.reconcile();
  }

  /**
   * Stops reconciling. With `removeWorkers`, also drains and removes every container of the
   * pool (they are otherwise left running, for the next driver to adopt).
   */
  async stop(removeWorkers = false): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#busy;
    if (removeWorkers)
      for (const c of await this.containers())
        if (c.state !== "exited" && !this.#stopping.has(c.id)) this.#stopContainer(c.id);
    await Promise.allSettled([...this.#stopping.values()]);
    if (removeWorkers)
      for (const c of await this.containers())
        await this.#docker
          .getContainer(c.id)
          .remove({ force: true })
          .catch(() => undefined);
  }

  /** The containers this driver owns, as the plan sees them. */
  async containers(): Promise<ManagedContainer[]> {
    const list = await this.#docker.listContainers({
      all: true,
      filters: { label: [`${OWNER_LABEL}=${this.#owner}`] },
    });
    return list.map((c) => ({
      id: c.Id,
      workerId: (c.Names[0] ?? c.Id).replace(/^\//, ""),
      state: this.#stopping.has(c.Id)
        ? "stopping"
        : c.State === "running" || c.State === "restarting"
          ? "running"
          : c.State === "created"
            ? "starting"
            : "exited",
      createdAt: c.Created * 1_000,
    }));
  }

  /** One pass: read the decision, compare with the containers, act (or the pass under way). */
  async reconcile(): Promise<void> {
    if (this.#busy !== null) return await this.#busy;
    this.#busy = this.#reconcile()
      .catch((err: unknown) =>
        this.#o.log.warn({ err: (err as Error).message, pool: this.#o.pool }, "driver pass failed"),
      )
      .finally(() => {
        this.#busy = null;
      });
    await this.#busy;
  }

  async #reconcile(): Promise<void> {
    const status = (await this.#client.pools()).find((p) => p.pool === this.#o.pool);
    const decision = status?.decision ?? null;
    if (decision !== null && decision.term >= this.stats.term) {
      this.stats.term = decision.term;
      this.stats.desired = decision.desired;
    } else if (decision !== null) {
      this.#o.log.warn(
        { pool: this.#o.pool, term: decision.term, acted: this.stats.term },
        "ignoring a decision of an older term",
      );
    }
    if (this.stats.desired === null) return;
    const workers = await this.#client.workers();
    const containers = await this.containers();
    const plan = planPool({
      desired: this.stats.desired,
      containers,
      runningTasks: new Map(workers.map((w) => [w.id, w.running.length])),
    });
    for (const id of plan.remove) {
      await this.#docker
        .getContainer(id)
        .remove({ force: true })
        .catch(() => undefined);
      this.stats.removed++;
    }
    for (let i = 0; i < plan.create; i++) await this.#create();
    for (const id of plan.stop) this.#stopContainer(id);
    if (plan.create > 0 || plan.stop.length > 0)
      this.#o.log.info(
        {
          pool: this.#o.pool,
          desired: this.stats.desired,
          term: this.stats.term,
          created: plan.create,
          stopping: plan.stop.length,
        },
        "scaling the pool's containers",
      );
  }

  async #create(): Promise<void> {
    const o = this.#o;
    const name = `${o.prefix}-${o.pool}-${randomBytes(4).toString("hex")}`;
    const grace = o.drainGraceMs ?? 30_000;
    const cmd = [
      "worker",
      "--id",
      name,
      "--pool",
      o.pool,
      "--cpu",
      String(o.capacity.cpu),
      "--memory-mb",
      String(o.capacity.memoryMb),
      "--slots",
      String(o.capacity.slots),
      "--drain-grace-ms",
      String(grace),
      ...Object.entries(o.labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
      ...(o.handlers !== undefined ? ["--handlers", o.handlers] : []),
    ];
    const env = {
      ...(o.credentials !== undefined ? { NATS_CREDS: WORKER_CREDS_PATH } : {}),
      ...(o.tlsCa !== undefined ? { NATS_CA: WORKER_CA_PATH } : {}),
      DROVER_NATS_URL: o.natsUrl,
      DROVER_PREFIX: o.prefix,
      // Also for handlers that want to know where they run.
      DROVER_WORKER_ID: name,
      DROVER_LOG_LEVEL: "info",
      ...o.env,
    };
    const container = await this.#docker.createContainer({
      Image: o.image,
      name,
      Cmd: cmd,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: { [OWNER_LABEL]: this.#owner, "drover.pool": o.pool },
      StopTimeout: Math.ceil(grace / 1_000) + 10,
      HostConfig: {
        NetworkMode: o.network ?? "bridge",
        ...(o.mounts !== undefined && o.mounts.length > 0
          ? { Binds: o.mounts.map((m) => `${m}:ro`) }
          : {}),
      },
    });
    // Files the worker needs before it starts, owned by the container's root user, gone with
    // the container: its own NATS user, the CA.
    const files = [
      ...(o.credentials !== undefined
        ? [
            {
              name: WORKER_CREDS_PATH.slice(1),
              data: Buffer.from(o.credentials(name)),
              mode: 0o400,
            },
          ]
        : []),
      ...(o.tlsCa !== undefined
        ? [{ name: WORKER_CA_PATH.slice(1), data: Buffer.from(o.tlsCa), mode: 0o444 }]
        : []),
    ];
    if (files.length > 0)
      await container.putArchive(tarArchive([{ name: "drover-creds/", mode: 0o755 }, ...files]), {
        path: "/",
      });
    await container.start();
    this.stats.created++;
  }

  /** SIGTERM (the worker drains), then removal once it has exited. */
  #stopContainer(id: string): void {
    const grace = this.#o.drainGraceMs ?? 30_000;
    const c = this.#docker.getContainer(id);
    const done = c
      .stop({ t: Math.ceil(grace / 1_000) + 10 })
      .catch((err: unknown) =>
        this.#o.log.warn({ err: (err as Error).message, id }, "stopping a worker container failed"),
      )
      .then(() => c.remove({ force: true }))
      .then(() => {
        this.stats.removed++;
      })
      .catch(() => undefined)
      .finally(() => this.#stopping.delete(id));
    this.#stopping.set(id, done);
    this.stats.stopped++;
  }
}
