/**
 * The scale benchmark's listing phase: with the backlog in place, pages of `tasks.list` as a
 * user would ask for them (the first page, pages after a cursor, a type nothing has, which
 * scans every task, and a window of creation times), timed from request to reply, and the
 * schedulers' RSS before and after, which must not grow with what was listed. With a
 * dashboard URL, the same through the dashboard's HTTP API (what its page asks for), and the
 * page itself.
 */
import type { DroverClient, ListOptions } from "../../runtime/index.ts";
import { summarize } from "./stats.ts";
import type { Role } from "./support.ts";
import { BACKLOG_TYPE, now, readRssBytes, round1, roundSummary } from "./support.ts";

/** Page size of every request. */
export const LIST_PAGE = 100;

export interface ListingFigures {
  /** Round trip of one page, by kind of request. */
  pages: Record<string, { count: number; median: number; max: number }>;
  /** The same through a replica's dashboard (HTTP request → full JSON body); empty without one. */
  dashboard: Record<string, { count: number; median: number; max: number }>;
  /** Requests sent in all. */
  requests: number;
  /** RSS after the listing minus before, by scheduler (null when unreadable). */
  rssGrowthBytes: Record<string, number | null>;
}

export async function measureListing(o: {
  client: DroverClient;
  schedulers: readonly Role[];
  /** A creation-time window inside the backlog (epoch ms). */
  window: { since: number; until: number };
  /** A scheduler replica's dashboard (`http://host:port/`), to time as well. */
  dashboard?: string;
  signal: AbortSignal;
}): Promise<ListingFigures> {
  const rssBefore = o.schedulers.map((r) => readRssBytes(r.proc.pid));
  const pages: Record<string, number[]> = {};
  let requests = 0;
  const timed = async (
    kind: string,
    options: ListOptions,
  ): Promise<Awaited<ReturnType<DroverClient["list"]>>> => {
    const at = now();
    const page = await o.client.list({ limit: LIST_PAGE, ...options });
    (pages[kind] ??= []).push(now() - at);
    requests++;
    return page;
  };
  // The first request reads records nats-server has not touched since the fill (its block
  // cache is cold), so it is reported on its own.
  await timed("the first request after the fill", { state: "queued", type: BACKLOG_TYPE });
  for (let i = 0; i < 10 && !o.signal.aborted; i++)
    await timed("first page of the queued backlog", { state: "queued", type: BACKLOG_TYPE });
  let cursor: string | null = null;
  for (let i = 0; i < 20 && !o.signal.aborted; i++) {
    const page = await timed("next page after a cursor", {
      state: "queued",
      ...(cursor !== null ? { cursor } : {}),
    });
    cursor = page.nextCursor;
  }
  for (let i = 0; i < 5 && !o.signal.aborted; i++)
    await timed("a type nothing has (scans every task)", { type: "no-task-has-this-type" });
  for (let i = 0; i < 5 && !o.signal.aborted; i++)
    await timed("a window of creation times", o.window);
  const dashboard = o.dashboard !== undefined ? await timeDashboard(o.dashboard, o.signal) : {};
  const rssAfter = o.schedulers.map((r) => readRssBytes(r.proc.pid));
  return {
    pages: Object.fromEntries(
      Object.entries(pages).map(([kind, ms]) => [kind, roundSummary(summarize(ms))]),
    ),
    dashboard: Object.fromEntries(
      Object.entries(dashboard).map(([kind, ms]) => [kind, roundSummary(summarize(ms))]),
    ),
    requests,
    rssGrowthBytes: Object.fromEntries(
      o.schedulers.map((r, i) => {
        const a = rssBefore[i];
        const b = rssAfter[i];
        return [r.name, a != null && b != null ? round1(b - a) : null];
      }),
    ),
  };
}

/** Page size the dashboard's task list asks for. */
const DASHBOARD_PAGE = 50;

/** What the dashboard's page asks its replica for, timed from request to the whole body. */
async function timeDashboard(base: string, signal: AbortSignal): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  const get = async (kind: string, path: string): Promise<unknown> => {
    const at = now();
    const res = await fetch(new URL(path, base), { signal });
    const text = await res.text();
    (out[kind] ??= []).push(now() - at);
    if (!res.ok) throw new Error(`dashboard ${path}: HTTP ${res.status} ${text.slice(0, 200)}`);
    return res.headers.get("content-type")?.startsWith("application/json") === true
      ? JSON.parse(text)
      : text;
  };
  for (let i = 0; i < 5 && !signal.aborted; i++) await get("the page (HTML)", "/");
  for (let i = 0; i < 10 && !signal.aborted; i++) await get("cluster overview", "api/overview");
  type Page = { tasks: { id: string }[]; nextCursor: string | null };
  const firstPages: Page[] = [];
  for (let i = 0; i < 10 && !signal.aborted; i++)
    firstPages.push(
      (await get(
        `first page of all tasks (${DASHBOARD_PAGE})`,
        `api/tasks?limit=${DASHBOARD_PAGE}`,
      )) as Page,
    );
  let cursor = firstPages[0]?.nextCursor ?? null;
  for (let i = 0; i < 20 && !signal.aborted && cursor !== null; i++) {
    const page = (await get(
      "next page after a cursor",
      `api/tasks?state=queued&limit=${DASHBOARD_PAGE}&cursor=${cursor}`,
    )) as Page;
    cursor = page.nextCursor;
  }
  for (let i = 0; i < 5 && !signal.aborted; i++)
    await get(
      "filtered by type and state",
      `api/tasks?state=queued&type=${BACKLOG_TYPE}&limit=${DASHBOARD_PAGE}`,
    );
  for (const t of (firstPages[0]?.tasks ?? []).slice(0, 10))
    await get("a task's page", `api/tasks/${t.id}`);
  return out;
}
