/**
 * The long-running roles: `drover scheduler` and `drover worker`.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { AdmissionLimits } from "../actors/index.ts";
import {
  checkLimits,
  DEFAULT_ADMISSION_LIMITS,
  isStrategyName,
  STRATEGY_NAMES,
} from "../actors/index.ts";
import { DEFAULT_POOL, PoolName, subjects } from "../protocol/index.ts";
import type { HandlerMap } from "../runtime/index.ts";
import { Dashboard } from "../dashboard/server.ts";
import {
  connectNats,
  DroverClient,
  jetstreamClient,
  SchedulerReplica,
  Worker,
  workerMetrics,
  workerResources,
} from "../runtime/index.ts";
import { resourceSettings } from "./config.ts";
import { applyHeapFlags } from "./heap-flags.ts";
import type { Command, CommandContext } from "./command.ts";
import { UsageError } from "./command.ts";
import { intFlag, labelsFlag, numFlag } from "./flags.ts";
import { DEFAULT_METRICS_PORT, METRICS_USAGE, metricsOptions, serveMetrics } from "./metrics.ts";

const until = (signal: AbortSignal): Promise<void> =>
  new Promise((r) =>
    signal.aborted ? r() : signal.addEventListener("abort", () => r(), { once: true }),
  );

export const schedulerCommand: Command = {
  name: "scheduler",
  summary: "run a scheduler replica (API, election; the leader assigns tasks)",
  usage: `drover scheduler [--strategy ${STRATEGY_NAMES.join("|")}] [--id ID] [--dashboard on|read-only|off] [--dashboard-hosts NAME,NAME] [--retention-ms 86400000] [--submitter-rate ${DEFAULT_ADMISSION_LIMITS.rate}] [--submitter-burst ${DEFAULT_ADMISSION_LIMITS.burst}] [--submitter-max-unfinished ${DEFAULT_ADMISSION_LIMITS.maxUnfinished}] ${METRICS_USAGE}`,
  options: {
    strategy: { type: "string" },
    id: { type: "string" },
    "retention-ms": { type: "string" },
    "submitter-rate": { type: "string" },
    "submitter-burst": { type: "string" },
    "submitter-max-unfinished": { type: "string" },
    dashboard: { type: "string" },
    "dashboard-hosts": { type: "string" },
    ...metricsOptions,
  },
  async run({ config, values, log, signal }: CommandContext) {
    const dashboardMode = dashboardFlag(values, process.env);
    // A heap sized for a long-lived mirror (may restart this process with V8 flags).
    applyHeapFlags();
    const strategy =
      (values.strategy as string | undefined) ?? process.env.DROVER_STRATEGY ?? "best-fit";
    if (!isStrategyName(strategy))
      throw new UsageError(
        `unknown --strategy '${strategy}' (one of: ${STRATEGY_NAMES.join(", ")})`,
      );
    const nc = await connectNats({
      servers: config.natsUrl,
      auth: config.auth,
      name: "drover-scheduler",
    });
    const replica = new SchedulerReplica(nc, log, {
      prefix: config.prefix,
      leaseThread: { servers: config.natsUrl, auth: config.auth },
      retentionMs: retentionFlag(values, config.retentionMs),
      admission: admissionFlags(values, process.env),
      strategy,
      ...(typeof values.id === "string" ? { replicaId: values.id } : {}),
      resources: resourceSettings(config),
    });
    // The dashboard asks the API on the plain subjects (an admin's), through this connection.
    const dashboard =
      dashboardMode === "off"
        ? null
        : new Dashboard({
            client: new DroverClient(nc, { prefix: config.prefix }),
            log,
            readOnly: dashboardMode === "read-only",
            hosts: (
              (values["dashboard-hosts"] as string | undefined) ??
              process.env.DROVER_DASHBOARD_HOSTS ??
              ""
            )
              .split(",")
              .map((h) => h.trim())
              .filter((h) => h !== ""),
          });
    // Served from before the start, so that probes say "starting" rather than nothing.
    const metrics = await serveMetrics(values, log, DEFAULT_METRICS_PORT, {
      registry: replica.metrics.registry,
      healthy: () => replica.healthy(),
      ready: () => replica.ready(),
      ...(dashboard !== null ? { routes: dashboard.routes } : {}),
    });
    if (dashboard !== null && metrics !== null)
      log.info({ url: `${metrics.baseUrl}/`, mode: dashboardMode }, "serving the dashboard");
    await replica.start();
    await until(signal);
    dashboard?.close();
    await replica.close();
    await nc.drain();
    await metrics?.close();
    return 0;
  },
};

/**
 * Each named submitter's limits, per replica: `--submitter-rate` (submits and retries per
 * second), `--submitter-burst` and `--submitter-max-unfinished` (0 turns a limit off), or
 * `DROVER_SUBMITTER_RATE`, `DROVER_SUBMITTER_BURST`, `DROVER_SUBMITTER_MAX_UNFINISHED`.
 */
export function admissionFlags(
  values: CommandContext["values"],
  env: NodeJS.ProcessEnv,
): AdmissionLimits {
  const v = {
    "submitter-rate": values["submitter-rate"] ?? env.DROVER_SUBMITTER_RATE,
    "submitter-burst": values["submitter-burst"] ?? env.DROVER_SUBMITTER_BURST,
    "submitter-max-unfinished":
      values["submitter-max-unfinished"] ?? env.DROVER_SUBMITTER_MAX_UNFINISHED,
  };
  const rate = numFlag(v, "submitter-rate", DEFAULT_ADMISSION_LIMITS.rate);
  const limits: AdmissionLimits = {
    rate,
    // Without a burst: the default one, or a second of the rate given.
    burst: intFlag(
      v,
      "submitter-burst",
      v["submitter-rate"] === undefined
        ? DEFAULT_ADMISSION_LIMITS.burst
        : Math.max(1, Math.ceil(rate)),
    ),
    maxUnfinished: intFlag(v, "submitter-max-unfinished", DEFAULT_ADMISSION_LIMITS.maxUnfinished),
  };
  const problem = checkLimits(limits);
  if (problem !== null) throw new UsageError(`submitter limits: ${problem}`);
  return limits;
}

/**
 * `--dashboard on|read-only|off` (or `DROVER_DASHBOARD`): the dashboard on the metrics port,
 * with actions, without them, or not at all. @default on
 */
export function dashboardFlag(
  values: CommandContext["values"],
  env: NodeJS.ProcessEnv,
): "on" | "read-only" | "off" {
  const raw = (values.dashboard as string | undefined) ?? env.DROVER_DASHBOARD ?? "on";
  if (raw === "on" || raw === "read-only" || raw === "off") return raw;
  throw new UsageError(`--dashboard must be on, read-only or off, got '${raw}'`);
}

/** `--retention-ms`: at least one second (NATS message TTLs count whole seconds). */
function retentionFlag(values: CommandContext["values"], def: number): number {
  const ms = intFlag(values, "retention-ms", def);
  if (ms < 1_000) throw new UsageError(`--retention-ms must be at least 1000, got ${ms}`);
  return ms;
}

/** Loads a handler module: its default export or its `handlers` export, an object of functions. */
export async function loadHandlers(spec: string | undefined): Promise<HandlerMap> {
  const url =
    spec === undefined
      ? new URL(
          `../examples/handlers${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`,
          import.meta.url,
        ).href
      : pathToFileURL(resolve(spec)).href;
  let mod: { default?: unknown; handlers?: unknown };
  try {
    mod = (await import(url)) as typeof mod;
  } catch (err) {
    throw new UsageError(
      `cannot load --handlers ${spec}: ${(err as Error).message.split("\n")[0]}`,
    );
  }
  const h = mod.default ?? mod.handlers;
  if (
    h === null ||
    typeof h !== "object" ||
    Object.keys(h).length === 0 ||
    !Object.values(h).every((f) => typeof f === "function")
  ) {
    throw new UsageError(
      `--handlers ${spec}: export default (or 'handlers') must be an object of functions keyed by task type`,
    );
  }
  return h as HandlerMap;
}

export const workerCommand: Command = {
  name: "worker",
  summary: "run a worker with task handlers (default: the example handlers)",
  usage: `drover worker [--handlers MODULE] [--id ID] [--pool NAME] [--cpu N] [--memory-mb N] [--slots N] [--label k=v ...] [--drain-grace-ms N] ${METRICS_USAGE}`,
  options: {
    ...metricsOptions,
    pool: { type: "string" },
    handlers: { type: "string" },
    id: { type: "string" },
    cpu: { type: "string" },
    "memory-mb": { type: "string" },
    slots: { type: "string" },
    label: { type: "string", multiple: true },
    "drain-grace-ms": { type: "string" },
  },
  async run({ config, values, log, signal }: CommandContext) {
    const handlers = await loadHandlers(
      (values.handlers as string | undefined) ?? process.env.DROVER_HANDLERS,
    );
    const capacity = {
      cpu: numFlag({ cpu: values.cpu ?? process.env.DROVER_CPU }, "cpu", 4),
      memoryMb: numFlag(
        { "memory-mb": values["memory-mb"] ?? process.env.DROVER_MEMORY_MB },
        "memory-mb",
        4096,
      ),
      slots: intFlag({ slots: values.slots ?? process.env.DROVER_SLOTS }, "slots", 8),
    };
    const labels = labelsFlag(values, "label", process.env.DROVER_LABELS);
    const pool = (values.pool as string | undefined) ?? process.env.DROVER_POOL ?? DEFAULT_POOL;
    const poolOk = PoolName.safeParse(pool);
    if (!poolOk.success)
      throw new UsageError(
        `--pool ${poolOk.error.issues[0]?.message ?? "is not valid"}: '${pool}'`,
      );
    const nc = await connectNats({
      servers: config.natsUrl,
      auth: config.auth,
      name: "drover-worker",
    });
    const buckets = await workerResources(nc, config.prefix, resourceSettings(config), log);
    const id = (values.id as string | undefined) ?? process.env.DROVER_WORKER_ID;
    const worker = new Worker(
      {
        nc,
        js: jetstreamClient(nc),
        workersKv: buckets.workers,
        subjects: subjects(config.prefix),
        log,
      },
      {
        ...(id !== undefined ? { id } : {}),
        handlers,
        capacity,
        labels,
        pool,
        heartbeatTtlMs: buckets.heartbeatTtlMs,
        drainGraceMs: intFlag(values, "drain-grace-ms", 30_000),
      },
    );
    const metrics = await serveMetrics(values, log, DEFAULT_METRICS_PORT + 1, {
      registry: workerMetrics(worker),
      healthy: () => worker.healthy(),
      ready: () => worker.ready(),
    });
    await worker.start();
    // Ctrl-C / SIGTERM, or a drain asked for through the API (the worker then stops itself).
    await Promise.race([until(signal), worker.closed]);
    await worker.drain();
    await nc.drain();
    await metrics?.close();
    return 0;
  },
};
