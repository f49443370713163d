/**
 * Live updates for the dashboard's pages: the cluster's events (`<prefix>.events.>`), sent to
 * every open page as Server-Sent Events. One NATS subscription serves all pages, and only while
 * at least one is open. Events are sent in batches (at most one every {@link FLUSH_MS}), and a
 * batch keeps at most {@link MAX_BATCH} of them: under a heavy load the page is told how many
 * it missed and reloads what it shows, rather than the replica queueing without bound.
 */
import type { ServerResponse } from "node:http";
import { TaskTransitionEvent } from "../protocol/index.ts";

/** How often batches go out. */
export const FLUSH_MS = 250;
/** Events per batch; more are counted as `missed`. */
export const MAX_BATCH = 200;
/** A comment line this often keeps idle connections (and proxies) open. */
const KEEPALIVE_MS = 15_000;

/** An event as the page gets it: a task's state change, or another kind by name only. */
export type LiveEvent =
  ({ kind: "task" } & Omit<TaskTransitionEvent, "kind" | "v">) | { kind: string; subject: string };

/** Turns one event from NATS into what pages get; null for a malformed task event. */
export function liveEvent(subject: string, body: unknown): LiveEvent | null {
  const kind =
    body !== null &&
    typeof body === "object" &&
    typeof (body as { kind?: unknown }).kind === "string"
      ? (body as { kind: string }).kind
      : null;
  if (kind === "task") {
    const parsed = TaskTransitionEvent.safeParse(body);
    if (!parsed.success) return null;
    const { v: _v, ...rest } = parsed.data;
    return rest;
  }
  return kind === null ? null : { kind: kind.slice(0, 64), subject };
}

export class LiveFeed {
  readonly #follow: (onEvent: (subject: string, body: unknown) => void) => () => void;
  readonly #pages = new Set<ServerResponse>();
  #unfollow: (() => void) | null = null;
  #batch: LiveEvent[] = [];
  #missed = 0;
  #flushTimer: NodeJS.Timeout | null = null;
  #keepAlive: NodeJS.Timeout | null = null;

  /** `follow` subscribes to the events and returns a function that unsubscribes. */
  constructor(follow: (onEvent: (subject: string, body: unknown) => void) => () => void) {
    this.#follow = follow;
  }

  /** Pages connected now. */
  get pages(): number {
    return this.#pages.size;
  }

  /** Streams events to `res` until the page goes away. */
  open(res: ServerResponse): void {
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
      connection: "keep-alive",
    });
    // The page knows it is live once this arrives.
    res.write(`retry: 2000\ndata: ${JSON.stringify({ events: [], missed: 0 })}\n\n`);
    this.#pages.add(res);
    res.once("close", () => this.#leave(res));
    if (this.#unfollow === null) {
      this.#unfollow = this.#follow((subject, body) => this.#take(subject, body));
      this.#keepAlive = setInterval(() => {
        for (const p of this.#pages) p.write(": keep-alive\n\n");
      }, KEEPALIVE_MS);
    }
  }

  /** Ends every stream (the replica stops). */
  close(): void {
    for (const p of [...this.#pages]) p.end();
    this.#stop();
  }

  #leave(res: ServerResponse): void {
    this.#pages.delete(res);
    if (this.#pages.size === 0) this.#stop();
  }

  #stop(): void {
    this.#pages.clear();
    this.#unfollow?.();
    this.#unfollow = null;
    if (this.#keepAlive !== null) clearInterval(this.#keepAlive);
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    this.#keepAlive = null;
    this.#flushTimer = null;
    this.#batch = [];
    this.#missed = 0;
  }

  #take(subject: string, body: unknown): void {
    const e = liveEvent(subject, body);
    if (e === null) return;
    if (this.#batch.length < MAX_BATCH) this.#batch.push(e);
    else this.#missed++;
    this.#flushTimer ??= setTimeout(() => this.#flush(), FLUSH_MS);
  }

  #flush(): void {
    this.#flushTimer = null;
    const data = `data: ${JSON.stringify({ events: this.#batch, missed: this.#missed })}\n\n`;
    this.#batch = [];
    this.#missed = 0;
    for (const p of this.#pages) p.write(data);
  }
}
