/**
 * The web dashboard every scheduler replica serves beside `/metrics`: a page (plain HTML, CSS
 * and JavaScript, no build step, no CDN) and a small JSON API under `/api/` that asks the
 * Drover API over NATS like any client does, so every read and action is validated by the same
 * code as a `nats request` — and answered by whichever replica takes it.
 *
 * Actions (submit, cancel, retry, drain) are an admin's: anyone who can reach the port can take
 * them, so the port is bound to loopback unless told otherwise, and `readOnly` turns them off.
 * A page of another site cannot act through an operator's browser: actions need a JSON body
 * (which a cross-site form cannot send) and a same-origin `Origin` when one is sent.
 */
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { HealthReply, SubmitTaskRequestInput } from "../protocol/index.ts";
import {
  DroverError,
  ErrorCode,
  errorReply,
  TASK_STATES,
  TERMINAL_STATES,
} from "../protocol/index.ts";
import type { DroverClient } from "../runtime/index.ts";
import { LiveFeed } from "./live.ts";
import {
  ASSETS,
  hostAllowed,
  httpStatus,
  isAction,
  listRequest,
  route,
  sameOrigin,
} from "./routes.ts";

/** Largest request body the dashboard reads (the API has its own, smaller limit). */
const MAX_BODY_BYTES = 1_048_576;

export interface DashboardOptions {
  /** The client the dashboard asks through (the replica's own connection, plain subjects). */
  client: DroverClient;
  log: Logger;
  /** Refuse actions: a dashboard to look at only. @default false */
  readOnly?: boolean;
  /**
   * DNS names the API answers for besides IP addresses and `localhost` (a proxy's name).
   * @default none
   */
  hosts?: readonly string[];
}

export class Dashboard {
  readonly #o: DashboardOptions;
  readonly #assets = new Map<string, Buffer>();
  readonly #live: LiveFeed;
  /** The last collection of the replicas' health, and when it was asked for. */
  #replicaCache: { at: number; value: Promise<HealthReply[]> } | null = null;

  constructor(options: DashboardOptions) {
    this.#o = options;
    const dir = new URL("./assets/", import.meta.url);
    for (const [path, { file }] of Object.entries(ASSETS))
      this.#assets.set(path, readFileSync(new URL(file, dir)));
    this.#live = new LiveFeed((onEvent) => options.client.follow(onEvent));
  }

  /** Pages following live updates now. */
  get livePages(): number {
    return this.#live.pages;
  }

  /** Answers dashboard requests; resolves false for a path that is not the dashboard's. */
  readonly routes = async (
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
  ): Promise<boolean> => {
    const query = new URL(req.url ?? "/", "http://dashboard").searchParams;
    const r = route(req.method ?? "GET", path, query);
    if (r.kind === "notFound") {
      if (!path.startsWith("/api/")) return false;
      json(res, 404, errorReply(new DroverError(ErrorCode.NotFound, `no dashboard API ${path}`)));
      return true;
    }
    if (r.kind === "methodNotAllowed") {
      res.setHeader("allow", r.allow);
      json(
        res,
        405,
        errorReply(
          new DroverError(ErrorCode.ValidationFailed, `${req.method} not allowed on ${path}`),
        ),
      );
      return true;
    }
    try {
      if (path.startsWith("/api/") && !hostAllowed(req.headers.host, this.#o.hosts ?? []))
        throw new DroverError(
          ErrorCode.Forbidden,
          `host ${JSON.stringify(req.headers.host ?? "")} is not one this dashboard answers for (an IP address, localhost, or a name in --dashboard-hosts)`,
        );
      if (isAction(r)) this.#checkAction(req);
      await this.#serve(r, req, res, query);
    } catch (err) {
      if (!(err instanceof DroverError))
        this.#o.log.warn({ err, path }, "dashboard request failed");
      const body = errorReply(err);
      json(res, err instanceof DroverError ? httpStatus(err.code) : 500, body);
    }
    return true;
  };

  /**
   * Every replica's health. Collecting the answers takes a moment (until none came for 100 ms),
   * so a page's overview uses the last collection while a newer one is gathered, once a second
   * at most: the first overview waits, later ones do not.
   */
  #replicas(): Promise<HealthReply[]> {
    const now = Date.now();
    const c = this.#replicaCache;
    if (c !== null && now - c.at < 1_000) return c.value;
    const fresh = this.#o.client.replicas(1_000, 100).catch(() => c?.value ?? []);
    this.#replicaCache = { at: now, value: fresh };
    // The earlier answer while the new one is gathered.
    return c?.value ?? fresh;
  }

  /** Ends the live streams (the replica stops). */
  close(): void {
    this.#live.close();
  }

  #checkAction(req: IncomingMessage): void {
    if (this.#o.readOnly === true)
      throw new DroverError(
        ErrorCode.Forbidden,
        "this dashboard is read-only (the replica runs with --dashboard read-only)",
      );
    if (!sameOrigin(req.headers.origin, req.headers.host))
      throw new DroverError(ErrorCode.Forbidden, "cross-origin request refused");
    if (!(req.headers["content-type"] ?? "").startsWith("application/json"))
      throw new DroverError(
        ErrorCode.ValidationFailed,
        "send a JSON body (content-type: application/json)",
      );
  }

  async #serve(
    r: Exclude<ReturnType<typeof route>, { kind: "notFound" | "methodNotAllowed" }>,
    req: IncomingMessage,
    res: ServerResponse,
    query: URLSearchParams,
  ): Promise<void> {
    const c = this.#o.client;
    switch (r.kind) {
      case "asset": {
        const body = this.#assets.get(r.path)!;
        res.writeHead(200, {
          "content-type": ASSETS[r.path]!.type,
          "content-length": body.length,
          "cache-control": "no-cache",
          "x-content-type-options": "nosniff",
          ...(r.path === "/"
            ? {
                "content-security-policy":
                  "default-src 'self'; object-src 'none'; frame-ancestors 'none'",
              }
            : {}),
        });
        res.end(req.method === "HEAD" ? undefined : body);
        return;
      }
      case "overview": {
        const [replicas, workers, pools, schedules] = await Promise.all([
          this.#replicas(),
          c.workers(),
          c.pools().catch(() => []),
          c.schedules.list().catch(() => []),
        ]);
        json(res, 200, {
          ok: true,
          at: Date.now(),
          states: TASK_STATES,
          terminal: TERMINAL_STATES,
          replicas,
          workers,
          pools,
          schedules,
        });
        return;
      }
      case "list":
        json(res, 200, { ok: true, ...(await c.list(listRequest(query))) });
        return;
      case "task":
        json(res, 200, { ok: true, task: await c.get(r.id) });
        return;
      case "taskByKey":
        json(res, 200, { ok: true, task: await c.getByKey(r.idempotencyKey) });
        return;
      case "events":
        this.#live.open(res);
        return;
      case "submit": {
        const body = await readJson(req);
        json(res, 200, { ok: true, ...(await c.submit(body as SubmitTaskRequestInput)) });
        return;
      }
      case "cancel": {
        const { reason } = (await readJson(req)) as { reason?: unknown };
        if (reason !== undefined && typeof reason !== "string")
          throw new DroverError(ErrorCode.ValidationFailed, "reason must be a string");
        json(res, 200, { ok: true, task: await c.cancel(r.id, reason) });
        return;
      }
      case "retry":
        await readJson(req);
        json(res, 200, { ok: true, task: await c.retry(r.id) });
        return;
      case "drain": {
        const { graceMs } = (await readJson(req)) as { graceMs?: unknown };
        if (graceMs !== undefined && typeof graceMs !== "number")
          throw new DroverError(ErrorCode.ValidationFailed, "graceMs must be a number");
        json(res, 200, await c.drain(r.workerId, graceMs));
        return;
      }
    }
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(data),
    "cache-control": "no-store",
  });
  res.end(data);
}

/** Reads a JSON object body (empty: `{}`). */
async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      throw new DroverError(ErrorCode.PayloadTooLarge, `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new DroverError(ErrorCode.InvalidJson, `body is not JSON: ${(err as Error).message}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new DroverError(ErrorCode.ValidationFailed, "body must be a JSON object");
  return v as Record<string, unknown>;
}
