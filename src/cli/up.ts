import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdirSync, openSync } from "node:fs";
import { join, resolve } from "node:path";
import { isStrategyName } from "../actors/index.ts";
import { DroverError, ErrorCode } from "../protocol/index.ts";
import { authEnv, connectNats, DroverClient, ensureResources } from "../runtime/index.ts";
import type { DockerDriver } from "../drivers/docker-driver.ts";
import examples from "../examples/handlers.ts";
import { startDockerPool } from "./autoscale.ts";
import { runAutoscaleDemo } from "./autoscale-demo.ts";
import { intFlag, positiveIntFlag } from "./flags.ts";
import { poolOptions, poolRequest } from "./pools.ts";
import { resourceSettings } from "./config.ts";
import type { Command, CommandContext } from "./command.ts";
import { UsageError } from "./command.ts";
import {
  freePort,
  mainScript,
  portFree,
  root,
  startNatsServer,
  stopChildren,
  waitForCluster,
  waitForHttp,
} from "./local.ts";
import { DEFAULT_METRICS_PORT, metricsPort } from "./metrics.ts";

/** The local autoscaled pool's defaults: 4-slot workers that react within seconds. */
const AUTOSCALE_DEFAULTS = { slots: 4, upWindowMs: 2_000, downWindowMs: 15_000 };

/** Waits until `pool` has `n` ready workers (the driver's first containers registered). */
async function waitForPool(
  client: DroverClient,
  pool: string,
  n: number,
  signal: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!signal.aborted) {
    const p = (await client.pools().catch(() => [])).find((x) => x.pool === pool);
    if ((p?.ready ?? 0) >= n) return;
    if (Date.now() > deadline)
      throw new DroverError(
        ErrorCode.Unavailable,
        `pool ${pool}: ${n} worker containers did not register in 120 s (see: docker ps -a; docker logs <container>)`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * One metrics port per role: `base`, `base + 1`, … (a port taken is an error when the base was
 * asked for, else replaced by a free one); null when metrics are off.
 */
async function metricsPorts(values: CommandContext["values"], n: number): Promise<number[] | null> {
  const where = metricsPort(values, DEFAULT_METRICS_PORT);
  if (where === null) return null;
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const want = where.port === 0 ? 0 : where.port + i;
    if (want !== 0 && want <= 65535 && (await portFree(want))) ports.push(want);
    else if (where.explicit && want !== 0)
      throw new UsageError(
        `--metrics-port ${where.port}: port ${want} is taken (roles use ${where.port}..${where.port + n - 1}; choose another base, 0 for free ports, or off)`,
      );
    else ports.push(await freePort());
  }
  return ports;
}

/** The local nats-server's default monitoring port (nats.conf's `http`). */
const DEFAULT_MONITOR_PORT = 8222;

/**
 * The local nats-server's monitoring port: the one asked for (0: a free one; taken: an error),
 * else 8222 when free, else a free one — so that a second `drover up` does not fail on it.
 */
async function monitorPort(values: CommandContext["values"]): Promise<number> {
  const raw = values["monitor-port"];
  if (raw === undefined)
    return (await portFree(DEFAULT_MONITOR_PORT)) ? DEFAULT_MONITOR_PORT : await freePort();
  const n = Number(raw);
  if (!/^\d+$/.test(String(raw)) || n > 65535)
    throw new UsageError(`--monitor-port must be 0..65535, got ${String(raw)}`);
  if (n === 0) return await freePort();
  if (!(await portFree(n)))
    throw new UsageError(
      `--monitor-port ${n}: the port is taken (choose another, or 0 for a free one)`,
    );
  return n;
}

/**
 * `drover up`: the embedded default. Starts a local nats-server with JetStream from
 * `nats.conf`, then scheduler and worker processes on it (2 and 2 by default, with the example
 * handlers); waits until a leader is elected and every worker has registered; keeps running
 * until Ctrl-C, then drains and stops what it started.
 */
export const upCommand: Command = {
  name: "up",
  summary: "run Drover locally: a nats-server, schedulers and workers on this machine",
  usage:
    "drover up [--schedulers 2] [--workers 2] [--strategy best-fit] [--port 4222] [--monitor-port 8222] [--metrics-port 9464|off] [--data-dir .drover/nats] [--log-dir .drover/logs] [--no-nats]\n" +
    `          [--autoscale [--min 1] [--max 4] [--slots 4] [--up-window-ms 2000] [--down-window-ms 15000] [--max-step 4] [--image drover/drover:0.1.0] [--demo N [--task-ms 1000] [--chart .drover/autoscale.svg]]]`,
  options: {
    schedulers: { type: "string", default: "2" },
    workers: { type: "string" },
    strategy: { type: "string", default: "best-fit" },
    "log-dir": { type: "string", default: ".drover/logs" },
    port: { type: "string", default: "4222" },
    "monitor-port": { type: "string" },
    "metrics-port": { type: "string" },
    "data-dir": { type: "string", default: ".drover/nats" },
    "no-nats": { type: "boolean", default: false },
    autoscale: { type: "boolean", default: false },
    ...poolOptions,
    image: { type: "string", default: "drover/drover:0.1.0" },
    demo: { type: "string" },
    "task-ms": { type: "string" },
    chart: { type: "string", default: ".drover/autoscale.svg" },
  },
  async run({ config, values, log, signal }) {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new UsageError(`--port must be 1..65535, got ${String(values.port)}`);
    const url = `nats://127.0.0.1:${port}`;
    const schedulers = intFlag(values, "schedulers", 2);
    const autoscale = values.autoscale === true;
    // An autoscaled pool brings its own workers: no fixed ones unless asked for.
    const workers = intFlag(values, "workers", autoscale ? 0 : 2);
    if (values.demo !== undefined && !autoscale) throw new UsageError("--demo needs --autoscale");
    const demo = values.demo === undefined ? null : positiveIntFlag(values, "demo", 1);
    const pool = autoscale
      ? poolRequest("elastic", values, {
          types: Object.keys(examples),
          min: 1,
          max: 4,
          ...AUTOSCALE_DEFAULTS,
        })
      : null;
    if (schedulers < 1) throw new UsageError("--schedulers must be at least 1");
    if (!isStrategyName(String(values.strategy)))
      throw new UsageError(`unknown --strategy '${String(values.strategy)}'`);
    if (values["no-nats"] === true && values["monitor-port"] !== undefined)
      throw new UsageError("--monitor-port is the local nats-server's: not with --no-nats");
    const children: ChildProcess[] = [];
    let monitor: string | null = null;
    let server: ChildProcess | null = null;
    let driver: DockerDriver | null = null;
    // Roles drain first (workers finish or hand back their tasks through NATS), then NATS stops.
    let stopping = false;
    const stopAll = async (): Promise<void> => {
      stopping = true;
      await stopChildren(children.filter((c) => c !== server));
      if (server !== null) await stopChildren([server]);
    };
    try {
      if (values["no-nats"] !== true) {
        const dataDir = resolve(String(values["data-dir"]));
        mkdirSync(dataDir, { recursive: true });
        const mport = await monitorPort(values);
        const nats = await startNatsServer(
          ["-c", join(root, "nats.conf"), "-p", String(port), "-m", String(mport), "-sd", dataDir],
          url,
          signal,
        );
        server = nats.proc;
        children.push(nats.proc);
        monitor = `http://127.0.0.1:${mport}`;
        log.info({ url, monitor, dataDir }, "nats-server is up");
      }
      // With --no-nats the server is the user's own, which may want credentials.
      const auth = values["no-nats"] === true ? config.auth : {};
      const nc = await connectNats({ servers: [url], name: "drover-up", auth });
      try {
        await ensureResources(nc, config.prefix, resourceSettings(config, 1));
        const logDir = resolve(String(values["log-dir"]));
        mkdirSync(logDir, { recursive: true });
        const env = {
          ...process.env,
          ...authEnv(auth),
          DROVER_NATS_URL: url,
          DROVER_PREFIX: config.prefix,
          DROVER_LOG_LEVEL: config.logLevel,
        };
        const roles: [string, string[]][] = [
          ...Array.from({ length: schedulers }, (_, i): [string, string[]] => [
            `scheduler-${i + 1}`,
            ["scheduler", "--id", `scheduler-${i + 1}`, "--strategy", String(values.strategy)],
          ]),
          ...Array.from({ length: workers }, (_, i): [string, string[]] => [
            `worker-${i + 1}`,
            ["worker", "--id", `worker-${i + 1}`],
          ]),
        ];
        const metrics = await metricsPorts(values, roles.length);
        const urls: Record<string, string> = {};
        roles.forEach(([name, args], i) => {
          const port = metrics?.[i];
          args.push("--metrics-port", port === undefined ? "off" : String(port));
          if (port !== undefined) urls[name] = `http://127.0.0.1:${port}/metrics`;
        });
        // Every replica serves the dashboard; the banner shows the first one's.
        const dashboard = metrics?.[0] !== undefined ? `http://127.0.0.1:${metrics[0]}/` : null;
        for (const [name, args] of roles) {
          const out = openSync(join(logDir, `${name}.log`), "a");
          const child = spawn(process.execPath, [...process.execArgv, mainScript, ...args], {
            env,
            stdio: ["ignore", out, out],
          });
          children.push(child);
          child.once("exit", (code, sig) => {
            if (signal.aborted || stopping) return;
            // A worker drained through the API stops on its own, with status 0.
            if (code === 0) log.info({ role: name }, `${name} stopped`);
            else
              log.error(
                { role: name, code, sig },
                `${name} exited; see ${join(logDir, `${name}.log`)}`,
              );
          });
        }
        const client = new DroverClient(nc, { prefix: config.prefix, timeoutMs: 5_000 });
        await waitForCluster(client, workers, signal);
        await waitForHttp(
          Object.values(urls).map((u) => u.replace(/\/metrics$/, "/healthz")),
          signal,
        );
        if (pool !== null) {
          // Worker containers on the host's network reach this nats-server on loopback; their
          // metrics take free ports (they share the host's).
          driver = await startDockerPool(client, pool, {
            prefix: config.prefix,
            image: String(values.image),
            network: "host",
            natsUrl: url,
            drainGraceMs: 30_000,
            env: { DROVER_METRICS_PORT: "0", DROVER_LOG_LEVEL: config.logLevel },
            log,
          });
          await waitForPool(client, pool.pool, pool.scale.min, signal);
        }
        console.log(
          JSON.stringify({
            healthy: true,
            nats: url,
            ...(monitor !== null ? { natsMonitor: monitor } : {}),
            prefix: config.prefix,
            schedulers,
            workers,
            metrics: urls,
            ...(dashboard !== null ? { dashboard } : {}),
          }),
        );
        console.log(
          `Drover is up: ${schedulers} schedulers and ${workers} workers on ${url} (logs in ${logDir}).`,
        );
        if (dashboard !== null) console.log(`Dashboard: ${dashboard}`);
        if (monitor !== null) console.log(`NATS monitoring: ${monitor}`);
        for (const [name, u] of Object.entries(urls)) console.log(`Metrics of ${name}: ${u}`);
        console.log(
          `Try:  nats --server ${url} request ${config.prefix}.api.tasks.submit '{"type":"echo","payload":{"hello":"world"}}'`,
        );
        console.log(`  or: drover submit sleep '{"ms":2000,"steps":4}' --wait`);
        if (pool !== null)
          console.log(
            `Autoscaled pool ${pool.pool}: ${pool.scale.min}..${pool.scale.max} worker containers of ${pool.template.capacity.slots} slots (${String(values.image)}, host network); watch it with: drover pools`,
          );
        if (pool !== null && demo !== null)
          return await runAutoscaleDemo(client, pool, {
            tasks: demo,
            taskMs: intFlag(values, "task-ms", 1_000),
            chart: resolve(String(values.chart)),
            signal,
          });
        console.log("Press Ctrl-C to stop.");
        await new Promise<void>((done) =>
          signal.aborted ? done() : signal.addEventListener("abort", () => done(), { once: true }),
        );
        return 0;
      } finally {
        // Worker containers drain while NATS and the schedulers still run.
        await driver?.stop(true);
        await nc.close();
      }
    } finally {
      await stopAll();
    }
  },
};
