import type { ServerResponse } from "node:http";
import { afterEach, describe, expect, it, vi } from "vitest";
import { FLUSH_MS, liveEvent, LiveFeed, MAX_BATCH } from "../../src/dashboard/live.ts";
import {
  hostAllowed,
  httpStatus,
  isAction,
  listRequest,
  route,
  sameOrigin,
} from "../../src/dashboard/routes.ts";
import { DroverError, ErrorCode } from "../../src/protocol/index.ts";

const q = (s = ""): URLSearchParams => new URLSearchParams(s);

describe("dashboard routes", () => {
  it("routes pages, reads and actions by method and path", () => {
    expect(route("GET", "/", q())).toEqual({ kind: "asset", path: "/" });
    expect(route("HEAD", "/assets/app.js", q())).toEqual({ kind: "asset", path: "/assets/app.js" });
    expect(route("GET", "/api/overview", q()).kind).toBe("overview");
    expect(route("GET", "/api/tasks", q("state=queued")).kind).toBe("list");
    expect(route("GET", "/api/tasks", q("idempotencyKey=k1"))).toEqual({
      kind: "taskByKey",
      idempotencyKey: "k1",
    });
    expect(route("GET", "/api/tasks/abc_1", q())).toEqual({ kind: "task", id: "abc_1" });
    expect(route("POST", "/api/tasks", q()).kind).toBe("submit");
    expect(route("POST", "/api/tasks/abc/cancel", q())).toEqual({ kind: "cancel", id: "abc" });
    expect(route("POST", "/api/tasks/abc/retry", q())).toEqual({ kind: "retry", id: "abc" });
    expect(route("POST", "/api/workers/w-1/drain", q())).toEqual({
      kind: "drain",
      workerId: "w-1",
    });
    expect(route("GET", "/api/events", q()).kind).toBe("events");
  });

  it("refuses the wrong method, and knows nothing of other paths (ids that are not tokens included)", () => {
    expect(route("GET", "/api/tasks/abc/cancel", q())).toEqual({
      kind: "methodNotAllowed",
      allow: "POST",
    });
    expect(route("DELETE", "/api/tasks", q()).kind).toBe("methodNotAllowed");
    expect(route("POST", "/", q()).kind).toBe("methodNotAllowed");
    expect(route("GET", "/api/tasks/a.b", q()).kind).toBe("notFound");
    expect(route("GET", "/api/tasks/%3E", q()).kind).toBe("notFound");
    expect(route("GET", "/secret", q()).kind).toBe("notFound");
  });

  it("marks actions, so that a read-only dashboard refuses them", () => {
    expect(isAction(route("POST", "/api/tasks", q()))).toBe(true);
    expect(isAction(route("POST", "/api/workers/w/drain", q()))).toBe(true);
    expect(isAction(route("GET", "/api/tasks", q()))).toBe(false);
  });

  it("builds a list request from a query string, and refuses what the API would not take", () => {
    expect(listRequest(q("state=queued,running&type=echo&limit=50&cursor=abc&since="))).toEqual({
      state: ["queued", "running"],
      type: "echo",
      limit: 50,
      cursor: "abc",
    });
    const bad = (s: string): string => {
      try {
        listRequest(q(s));
      } catch (err) {
        expect(err).toBeInstanceOf(DroverError);
        return (err as DroverError).message;
      }
      throw new Error(`accepted ${s}`);
    };
    expect(bad("state=bogus")).toMatch(/unknown state 'bogus'/);
    expect(bad("limit=ten")).toMatch(/whole number/);
    expect(bad("sort=id")).toMatch(/unknown parameter/);
  });

  it("maps error codes to HTTP statuses", () => {
    expect(httpStatus(ErrorCode.ValidationFailed)).toBe(400);
    expect(httpStatus(ErrorCode.NotFound)).toBe(404);
    expect(httpStatus(ErrorCode.Forbidden)).toBe(403);
    expect(httpStatus(ErrorCode.IllegalTransition)).toBe(409);
    expect(httpStatus(ErrorCode.RateLimited)).toBe(429);
    expect(httpStatus(ErrorCode.Unavailable)).toBe(503);
    expect(httpStatus(ErrorCode.Internal)).toBe(500);
  });

  it("answers for IP addresses, localhost and listed names only (no DNS rebinding)", () => {
    expect(hostAllowed("127.0.0.1:9464", [])).toBe(true);
    expect(hostAllowed("[::1]:9464", [])).toBe(true);
    expect(hostAllowed("localhost:9464", [])).toBe(true);
    expect(hostAllowed("10.0.0.7", [])).toBe(true);
    expect(hostAllowed("evil.example:9464", [])).toBe(false);
    expect(hostAllowed("dash.example.com", ["Dash.example.com"])).toBe(true);
    expect(hostAllowed(undefined, [])).toBe(false);
  });

  it("lets actions come from the dashboard's own origin only", () => {
    expect(sameOrigin(undefined, "127.0.0.1:9464")).toBe(true);
    expect(sameOrigin("http://127.0.0.1:9464", "127.0.0.1:9464")).toBe(true);
    expect(sameOrigin("http://evil.example", "127.0.0.1:9464")).toBe(false);
    expect(sameOrigin("null", "127.0.0.1:9464")).toBe(false);
  });
});

const transition = (taskId: string) => ({
  v: 1,
  kind: "task",
  taskId,
  type: "echo",
  from: "queued",
  to: "assigned",
  event: "ASSIGN",
  epoch: 1,
  term: 1,
  attempt: 1,
  workerId: "w1",
  at: 1,
});

/** A response that records what is written to it. */
function fakeResponse(): ServerResponse & { chunks: string[]; close(): void } {
  const listeners: (() => void)[] = [];
  const r = {
    chunks: [] as string[],
    writeHead: () => r,
    write: (c: string) => r.chunks.push(c) > 0,
    end: () => undefined,
    once: (_: string, f: () => void) => listeners.push(f),
    close: () => listeners.forEach((f) => f()),
  };
  return r as unknown as ServerResponse & { chunks: string[]; close(): void };
}

describe("live feed", () => {
  afterEach(() => vi.useRealTimers());

  it("passes task events on without their version, names other kinds only, drops malformed ones", () => {
    const { v: _v, ...rest } = transition("t1");
    expect(liveEvent("drover.events.task", transition("t1"))).toEqual(rest);
    expect(liveEvent("drover.events.scale", { kind: "scale", secret: 1 })).toEqual({
      kind: "scale",
      subject: "drover.events.scale",
    });
    expect(liveEvent("drover.events.task", { kind: "task", taskId: "x" })).toBeNull();
    expect(liveEvent("drover.events.x", "not an object")).toBeNull();
  });

  it("follows NATS only while a page is open, batches events and counts what a batch cannot hold", () => {
    vi.useFakeTimers();
    let emit: ((s: string, b: unknown) => void) | null = null;
    let follows = 0;
    let unfollows = 0;
    const feed = new LiveFeed((onEvent) => {
      follows++;
      emit = onEvent;
      return () => {
        unfollows++;
        emit = null;
      };
    });
    expect(follows).toBe(0);
    const page = fakeResponse();
    feed.open(page);
    expect(follows).toBe(1);
    expect(page.chunks).toHaveLength(1); // the hello
    for (let i = 0; i < MAX_BATCH + 5; i++) emit!("drover.events.task", transition(`t${i}`));
    vi.advanceTimersByTime(FLUSH_MS - 1);
    expect(page.chunks).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(page.chunks).toHaveLength(2);
    const batch = JSON.parse(page.chunks[1]!.replace(/^data: /, "")) as {
      events: unknown[];
      missed: number;
    };
    expect(batch.events).toHaveLength(MAX_BATCH);
    expect(batch.missed).toBe(5);
    page.close();
    expect(unfollows).toBe(1);
    expect(feed.pages).toBe(0);
  });
});
