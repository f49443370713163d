/**
 * The dashboard's HTTP routes as pure decisions: which action a request asks for, how a query
 * string becomes a list request, and which HTTP status a Drover error code gets. The server
 * (server.ts) carries them out through the validated NATS API.
 */
import { isIP } from "node:net";
import type { ErrorCodeValue, TaskState } from "../protocol/index.ts";
import { DroverError, ErrorCode, TASK_STATES } from "../protocol/index.ts";

/** Static assets, by path, with their content types. */
export const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/assets/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/assets/app.css": { file: "app.css", type: "text/css; charset=utf-8" },
};

/** What one dashboard request asks for. */
export type Route =
  | { kind: "asset"; path: string }
  | { kind: "overview" }
  | { kind: "list"; query: URLSearchParams }
  | { kind: "task"; id: string }
  | { kind: "taskByKey"; idempotencyKey: string }
  | { kind: "events" }
  | { kind: "submit" }
  | { kind: "cancel"; id: string }
  | { kind: "retry"; id: string }
  | { kind: "drain"; workerId: string }
  | { kind: "methodNotAllowed"; allow: string }
  | { kind: "notFound" };

const ID = "([A-Za-z0-9_-]{1,128})";
const TASK = new RegExp(`^/api/tasks/${ID}$`);
const ACTION = new RegExp(`^/api/tasks/${ID}/(cancel|retry)$`);
const DRAIN = new RegExp(`^/api/workers/${ID}/drain$`);

/** Routes one request by method and path (query string apart). */
export function route(method: string, path: string, query: URLSearchParams): Route {
  const get = method === "GET" || method === "HEAD";
  const post = method === "POST";
  const only = (ok: boolean, r: Route, allow: string): Route =>
    ok ? r : { kind: "methodNotAllowed", allow };
  if (path in ASSETS) return only(get, { kind: "asset", path }, "GET, HEAD");
  if (path === "/api/overview") return only(get, { kind: "overview" }, "GET, HEAD");
  if (path === "/api/events") return only(get, { kind: "events" }, "GET");
  if (path === "/api/tasks") {
    if (post) return { kind: "submit" };
    if (!get) return { kind: "methodNotAllowed", allow: "GET, HEAD, POST" };
    const key = query.get("idempotencyKey");
    return key !== null ? { kind: "taskByKey", idempotencyKey: key } : { kind: "list", query };
  }
  let m = TASK.exec(path);
  if (m !== null) return only(get, { kind: "task", id: m[1]! }, "GET, HEAD");
  m = ACTION.exec(path);
  if (m !== null)
    return only(post, { kind: m[2] === "cancel" ? "cancel" : "retry", id: m[1]! }, "POST");
  m = DRAIN.exec(path);
  if (m !== null) return only(post, { kind: "drain", workerId: m[1]! }, "POST");
  return { kind: "notFound" };
}

/** Whether a route changes something (refused by a read-only dashboard). */
export function isAction(r: Route): boolean {
  return r.kind === "submit" || r.kind === "cancel" || r.kind === "retry" || r.kind === "drain";
}

/**
 * A list request from a query string: `state` (comma-separated), `type`, `limit`, `cursor`,
 * `since`, `until`. The API validates the values; only the shape is built here.
 * @throws DroverError `validation_failed` for an unknown state, a non-numeric number, or an
 * unknown parameter.
 */
export function listRequest(query: URLSearchParams): Record<string, unknown> {
  const req: Record<string, unknown> = {};
  for (const [name, value] of query) {
    if (value === "") continue;
    switch (name) {
      case "state": {
        const states = value.split(",");
        const bad = states.find((s) => !TASK_STATES.includes(s as TaskState));
        if (bad !== undefined)
          throw invalid(name, `unknown state '${bad}' (one of ${TASK_STATES.join(", ")})`);
        req.state = states;
        break;
      }
      case "type":
      case "cursor":
        req[name] = value;
        break;
      case "limit":
      case "since":
      case "until":
        if (!/^\d{1,15}$/.test(value))
          throw invalid(name, `must be a whole number, got '${value}'`);
        req[name] = Number(value);
        break;
      default:
        throw invalid(name, "unknown parameter (state, type, limit, cursor, since, until)");
    }
  }
  return req;
}

function invalid(path: string, message: string): DroverError {
  return new DroverError(ErrorCode.ValidationFailed, `${path}: ${message}`, {
    issues: [{ path, message, code: "invalid_value" }],
  });
}

/** The HTTP status of an error reply's code. */
export function httpStatus(code: ErrorCodeValue): number {
  switch (code) {
    case ErrorCode.ValidationFailed:
    case ErrorCode.InvalidJson:
    case ErrorCode.UnsupportedVersion:
      return 400;
    case ErrorCode.Forbidden:
      return 403;
    case ErrorCode.NotFound:
      return 404;
    case ErrorCode.Conflict:
    case ErrorCode.IllegalTransition:
      return 409;
    case ErrorCode.PayloadTooLarge:
      return 413;
    case ErrorCode.RateLimited:
      return 429;
    case ErrorCode.Unavailable:
    case ErrorCode.CapacityExhausted:
      return 503;
    case ErrorCode.Timeout:
      return 504;
    default:
      return 500;
  }
}

/**
 * Whether a request that changes something may come from this origin: browsers send `Origin`
 * on every POST, and a page of another site must not act through an operator's browser. The
 * JSON content type the server also requires makes a cross-site form post impossible.
 */
export function sameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/**
 * Whether the dashboard's API answers a request for `host` (the Host header): an IP address or
 * `localhost` always, a DNS name only when it is listed. A page of another site whose name an
 * attacker points at 127.0.0.1 (DNS rebinding) sends its own name, so it reads and acts on
 * nothing; a proxy that serves the dashboard under a name lists it.
 */
export function hostAllowed(host: string | undefined, names: readonly string[]): boolean {
  if (host === undefined || host === "") return false;
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.replace(/:\d+$/, "");
  const lower = name.toLowerCase();
  return isIP(name) !== 0 || lower === "localhost" || names.some((n) => n.toLowerCase() === lower);
}
