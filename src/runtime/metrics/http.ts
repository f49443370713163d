/**
 * The HTTP endpoints of a long-running role: `/metrics` (Prometheus text format), `/healthz`
 * (alive: the process answers and its NATS connection is not closed for good) and `/readyz`
 * (ready for its job: a replica serving the API, a worker taking assignments). Health and
 * readiness answer 200 or 503 with a small JSON body saying why. More routes (a scheduler
 * replica's dashboard) may be added by the role.
 */
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { collectDefaultMetrics } from "prom-client";
import type { Registry } from "prom-client";

/** A probe's answer: whether it passes, and why not. */
export interface Probe {
  ok: boolean;
  reason?: string;
}

/**
 * More HTTP routes, asked for every request the built-in endpoints do not answer: resolves
 * true when it answered.
 */
export type HttpRoutes = (
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
) => Promise<boolean>;

export interface MetricsServerOptions {
  registry: Registry;
  healthy(): Probe;
  ready(): Probe;
  routes?: HttpRoutes;
}

export class MetricsServer {
  readonly #o: MetricsServerOptions;
  #server: Server | null = null;
  #base: string | null = null;

  constructor(options: MetricsServerOptions) {
    this.#o = options;
    // The process's own series (CPU, memory, event-loop lag, GC) are added to the registry
    // once it is served, not by the replica's or worker's registry itself: each collection
    // starts an event-loop monitor that nothing stops, so a replica created and dropped in a
    // process (tests, an embedding) stayed in memory with its monitor ticking.
    if (options.registry.getSingleMetric("process_cpu_user_seconds_total") === undefined)
      collectDefaultMetrics({ register: options.registry });
  }

  /**
   * Listens on `host:port` (port 0: any free port); resolves with the URL of `/metrics`.
   * Rejects when the port is taken (`EADDRINUSE`) or cannot be opened.
   */
  async listen(port: number, host = "127.0.0.1"): Promise<string> {
    const server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.#server = server;
    const { port: bound } = server.address() as AddressInfo;
    const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
    this.#base = `http://${shown.includes(":") ? `[${shown}]` : shown}:${bound}`;
    return `${this.#base}/metrics`;
  }

  /** `http://host:port` once listening, else null. */
  get baseUrl(): string | null {
    return this.#base;
  }

  async close(): Promise<void> {
    const s = this.#server;
    this.#server = null;
    if (s === null) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const builtIn = path === "/metrics" || path === "/healthz" || path === "/readyz";
    if (builtIn && req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    try {
      if (!builtIn && this.#o.routes !== undefined && (await this.#o.routes(req, res, path))) {
        return;
      } else if (path === "/metrics") {
        const body = await this.#o.registry.metrics();
        res.writeHead(200, { "content-type": this.#o.registry.contentType }).end(body);
      } else if (path === "/healthz" || path === "/readyz") {
        const probe = path === "/healthz" ? this.#o.healthy() : this.#o.ready();
        res
          .writeHead(probe.ok ? 200 : 503, { "content-type": "application/json" })
          .end(JSON.stringify(probe.ok ? { ok: true } : probe));
      } else {
        res
          .writeHead(404, { "content-type": "text/plain" })
          .end("not found: try /metrics, /healthz or /readyz\n");
      }
    } catch (err) {
      if (res.headersSent) res.destroy();
      else res.writeHead(500, { "content-type": "text/plain" }).end(`${(err as Error).message}\n`);
    }
  }
}
