/**
 * `drover autoscale`: the Docker driver for one pool. Registers the pool's template and
 * policy (through the API), then keeps the pool's worker containers at the leader's desired
 * count until Ctrl-C, printing each change. Containers are left running on exit (a restarted
 * driver adopts them) unless `--remove-on-exit`.
 */
import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import type Docker from "dockerode";
import examples from "../examples/handlers.ts";
import type { DockerDriverOptions } from "../drivers/docker-driver.ts";
import { DockerDriver } from "../drivers/docker-driver.ts";
import type { SetPoolRequest } from "../protocol/index.ts";
import { DroverClient, workerCreds } from "../runtime/index.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";
import { readJson, WorkerSignerFile } from "./creds.ts";
import { intFlag } from "./flags.ts";
import { POOL_USAGE, poolOptions, poolRequest } from "./pools.ts";

const VERSION = "0.1.0";

export const autoscaleCommand: Command = {
  name: "autoscale",
  summary: "run a pool of worker containers that grows and shrinks with its demand (Docker)",
  usage: `drover autoscale [--pool elastic] ${POOL_USAGE.replace("--types a,b", "[--types a,b]").replace("--max N", "[--max 4]")} [--image drover/drover:${VERSION}] [--network bridge|auto] [--worker-nats URL] [--handlers PATH-IN-CONTAINER [--mount HOST-PATH:CONTAINER-PATH ...]] [--drain-grace-ms 30000] [--worker-signer FILE] [--remove-on-exit]`,
  options: {
    ...poolOptions,
    pool: { type: "string", default: "elastic" },
    image: { type: "string", default: `drover/drover:${VERSION}` },
    network: { type: "string", default: "bridge" },
    "worker-nats": { type: "string" },
    handlers: { type: "string" },
    mount: { type: "string", multiple: true },
    "drain-grace-ms": { type: "string" },
    "remove-on-exit": { type: "boolean", default: false },
    "worker-signer": { type: "string" },
  },
  async run({ config, values, log, signal }) {
    const pool = String(values.pool);
    if (values.handlers !== undefined && values.types === undefined)
      throw new UsageError("--handlers needs --types (the task types that module handles)");
    const req = poolRequest(pool, values, {
      types: Object.keys(examples),
      min: 1,
      max: 4,
    });
    // In JWT mode, each new container gets a NATS user of its own, named after its worker id.
    const signerFile = values["worker-signer"] as string | undefined;
    const signer =
      signerFile !== undefined ? readJson(resolve(signerFile), WorkerSignerFile) : undefined;
    const client = await DroverClient.connect(
      { servers: config.natsUrl, auth: config.auth },
      { prefix: config.prefix },
    );
    try {
      const image = String(values.image);
      const network = String(values.network);
      const driver = await startDockerPool(client, req, {
        prefix: config.prefix,
        image,
        network,
        natsUrl: (values["worker-nats"] as string | undefined) ?? config.natsUrl.join(","),
        ...(typeof values.handlers === "string" ? { handlers: values.handlers } : {}),
        mounts: mounts(values.mount as string[] | undefined),
        drainGraceMs: intFlag(values, "drain-grace-ms", 30_000),
        env: { DROVER_REPLICAS: String(config.replicas) },
        ...(signer !== undefined ? { credentials: (id: string) => workerCreds(signer, id) } : {}),
        // The CA this driver trusts, for the workers too.
        ...(config.auth.tlsCa !== undefined
          ? { tlsCa: readFileSync(config.auth.tlsCa, "utf8") }
          : {}),
        log,
      });
      console.log(
        `Autoscaling pool ${pool} (${req.scale.min}..${req.scale.max} workers of ${req.template.capacity.slots} slots, image ${image}, network ${network}). Ctrl-C stops.`,
      );
      let shown = "";
      const show = setInterval(() => {
        void driver.containers().then(
          (cs) => {
            const active = cs.filter((c) => c.state === "running" || c.state === "starting").length;
            const stopping = cs.filter((c) => c.state === "stopping").length;
            const line = `desired ${driver.stats.desired ?? "-"} (term ${driver.stats.term}), containers ${active} running, ${stopping} stopping`;
            if (line !== shown) console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
            shown = line;
          },
          () => undefined,
        );
      }, 1_000);
      await new Promise<void>((r) =>
        signal.aborted ? r() : signal.addEventListener("abort", () => r(), { once: true }),
      );
      clearInterval(show);
      await driver.stop(values["remove-on-exit"] === true);
    } finally {
      await client.close();
    }
    return 0;
  },
};

/**
 * Checks Docker, the image and the network, registers the pool's template and policy, and
 * starts a Docker driver for it.
 */
export async function startDockerPool(
  client: DroverClient,
  req: SetPoolRequest,
  o: Omit<DockerDriverOptions, "pool" | "capacity" | "labels">,
): Promise<DockerDriver> {
  // Loaded only here: every other command (a worker among them) starts without dockerode.
  const { default: DockerClient } = await import("dockerode");
  const docker = new DockerClient();
  try {
    await docker.ping();
  } catch (err) {
    throw new UsageError(
      `cannot reach Docker (${process.env.DOCKER_HOST ?? "/var/run/docker.sock"}): ${(err as Error).message} (run: npm run provision, or set DOCKER_HOST)`,
    );
  }
  await docker
    .getImage(o.image)
    .inspect()
    .catch(() => {
      throw new UsageError(`image ${o.image} not found (build it: npm run provision)`);
    });
  const network = o.network === "auto" ? await ownNetwork(docker) : (o.network ?? "bridge");
  await docker
    .getNetwork(network)
    .inspect()
    .catch(() => {
      throw new UsageError(`Docker network ${network} not found (docker network ls)`);
    });
  await client.setPool(req);
  const driver = new DockerDriver(docker, client, {
    ...o,
    network,
    pool: req.pool,
    capacity: req.template.capacity,
    labels: req.template.labels,
  });
  driver.start();
  return driver;
}

/**
 * `--network auto`: the network of the container this process runs in (its hostname is its
 * container id), so a driver started by Docker Compose puts workers beside NATS.
 */
async function ownNetwork(docker: Docker): Promise<string> {
  try {
    const info = await docker.getContainer(hostname()).inspect();
    const first = Object.keys(info.NetworkSettings.Networks)[0];
    if (first !== undefined) return first;
  } catch {
    // not in a container (or not one this daemon runs)
  }
  throw new UsageError("--network auto works only inside a container of this Docker daemon");
}

/** `--mount host:container` (repeatable): absolute host paths, checked to exist. */
function mounts(raw: string[] | undefined): string[] {
  return (raw ?? []).map((m) => {
    const i = m.indexOf(":");
    if (i <= 0 || i === m.length - 1)
      throw new UsageError(`--mount must be HOST-PATH:CONTAINER-PATH, got '${m}'`);
    const host = resolve(m.slice(0, i));
    if (!existsSync(host)) throw new UsageError(`--mount ${m}: ${host} does not exist`);
    return `${host}:${m.slice(i + 1)}`;
  });
}
