/**
 * `--metrics-port` / `--metrics-host` of the long-running roles: where `/metrics`, `/healthz`
 * and `/readyz` are served.
 */
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { HttpRoutes, Probe } from "../runtime/index.ts";
import { MetricsServer } from "../runtime/index.ts";
import type { CommandContext } from "./command.ts";
import { UsageError } from "./command.ts";

/** The default port of a scheduler replica's metrics; a worker's is the next one. */
export const DEFAULT_METRICS_PORT = 9464;

/** The flags every long-running role takes. */
export const metricsOptions = {
  "metrics-port": { type: "string" },
  "metrics-host": { type: "string" },
} as const;

export const METRICS_USAGE = "[--metrics-port N|0|off] [--metrics-host 127.0.0.1]";

/**
 * Where to serve: the flag, else `DROVER_METRICS_PORT`, else `def`. `off` serves nothing; 0
 * takes any free port. `explicit` says whether the port was asked for (a taken default port
 * falls back to a free one; a taken port that was asked for is an error).
 */
export function metricsPort(
  values: CommandContext["values"],
  def: number,
): { port: number; explicit: boolean } | null {
  const raw = (values["metrics-port"] as string | undefined) ?? process.env.DROVER_METRICS_PORT;
  if (raw === undefined || raw === "") return { port: def, explicit: false };
  if (raw === "off") return null;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535)
    throw new UsageError(`--metrics-port must be 0..65535 or 'off', got '${raw}'`);
  return { port, explicit: true };
}

/** Starts the metrics server of a role as the flags say; null when it is off. */
export async function serveMetrics(
  values: CommandContext["values"],
  log: Logger,
  defaultPort: number,
  endpoints: { registry: Registry; healthy(): Probe; ready(): Probe; routes?: HttpRoutes },
): Promise<MetricsServer | null> {
  const where = metricsPort(values, defaultPort);
  if (where === null) return null;
  const host =
    (values["metrics-host"] as string | undefined) ??
    process.env.DROVER_METRICS_HOST ??
    "127.0.0.1";
  const server = new MetricsServer(endpoints);
  let url: string;
  try {
    url = await server.listen(where.port, host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EADDRINUSE" || where.explicit)
      throw new UsageError(
        `cannot serve metrics on ${host}:${where.port}: ${(err as Error).message} (choose another with --metrics-port, 0 for any free port, or off)`,
      );
    url = await server.listen(0, host);
    log.warn({ port: where.port, url }, "default metrics port taken; serving on a free port");
  }
  log.info({ url }, "serving /metrics, /healthz and /readyz");
  return server;
}
