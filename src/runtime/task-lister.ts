/**
 * `tasks.list`: pages of task records, without loading every match.
 *
 * Unfinished tasks come first, oldest first (from the replica's task table: one pass over its
 * columns selects a page). Finished tasks follow, in the order they finished (from the
 * finished index: entries are read a batch at a time, checked against their records, and
 * the page's records come from KV in one batch read). The cursor says which of the two a
 * page ended in and where. A task that finishes while someone pages may appear in both parts
 * (on two pages; within one page it is listed once, finished).
 */
import type { ListTasksRequest, Subjects, TaskRecord, TaskState } from "../protocol/index.ts";
import { DroverError, ErrorCode, TASK_STATES, TERMINAL_STATES } from "../protocol/index.ts";
import type { FinishedEntry, FinishedIndex } from "./finished-index.ts";
import { finishedAtOf } from "./finished-index.ts";
import type { Mirror } from "./mirror.ts";
import type { Listed } from "./task-table.ts";
import type { TaskStore } from "./task-store.ts";

const FINISHED: ReadonlySet<TaskState> = new Set(TERMINAL_STATES);
/** Finished-index entries one request reads at most before it answers with what it found. */
const SCAN_BUDGET = 10_000;

/** Where a page ended: in the unfinished part (list order) or the finished part (index order). */
export type Cursor = { part: "live"; after: Listed } | { part: "finished"; seq: number };

export function encodeCursor(c: Cursor): string {
  const raw = c.part === "live" ? `L:${c.after.createdAt}:${c.after.id}` : `F:${c.seq}`;
  return Buffer.from(raw).toString("base64url");
}

export function decodeCursor(cursor: string): Cursor {
  const raw = Buffer.from(cursor, "base64url").toString();
  const [part, a, ...rest] = raw.split(":");
  const n = Number(a);
  if (part === "L" && rest.length > 0 && Number.isFinite(n))
    return { part: "live", after: { createdAt: n, id: rest.join(":") } };
  if (part === "F" && rest.length === 0 && Number.isInteger(n) && n >= 0)
    return { part: "finished", seq: n };
  throw new DroverError(ErrorCode.ValidationFailed, "invalid cursor", {
    issues: [{ path: "cursor", message: "not a cursor returned by list", code: "invalid_format" }],
  });
}

export interface ListerDeps {
  mirror: Mirror;
  store: TaskStore;
  subjects: Subjects;
  /** Without an index, finished tasks are not listed. */
  finished?: FinishedIndex;
  /** Largest reply: a page is cut short (with a cursor) before it would not fit. */
  maxReplyBytes: number;
}

export async function listTasks(
  d: ListerDeps,
  req: ListTasksRequest,
): Promise<{ tasks: TaskRecord[]; nextCursor: string | null }> {
  const states =
    req.state === undefined ? TASK_STATES : Array.isArray(req.state) ? req.state : [req.state];
  const live = states.filter((s) => !FINISHED.has(s));
  const finished = d.finished !== undefined ? states.filter((s) => FINISHED.has(s)) : [];
  const cursor = req.cursor === undefined ? null : decodeCursor(req.cursor);
  const page = new Page(d.maxReplyBytes, req.limit);

  if (cursor?.part !== "finished" && live.length > 0) {
    const { mirror } = d;
    const { page: chosen, matching } = mirror.tasks.selectPage({
      states: live,
      ...(req.type !== undefined ? { type: req.type } : {}),
      ...(req.since !== undefined ? { since: req.since } : {}),
      ...(req.until !== undefined ? { until: req.until } : {}),
      after: cursor?.part === "live" ? cursor.after : null,
      limit: req.limit,
    });
    // Records come from KV (the table keeps no payloads); one gone in between is skipped.
    const fetched = await d.store.getMany(
      chosen.filter((t) => mirror.known(t.id) === undefined).map((t) => t.id),
    );
    for (let i = 0; i < chosen.length; i++) {
      const t = chosen[i]!;
      const r = mirror.known(t.id)?.record ?? fetched.get(t.id)?.record;
      if (r !== undefined && !page.add(r))
        return {
          tasks: page.records,
          nextCursor: encodeCursor({ part: "live", after: chosen[i - 1]! }),
        };
    }
    if (matching > chosen.length)
      return {
        tasks: page.records,
        nextCursor: encodeCursor({ part: "live", after: chosen.at(-1)! }),
      };
  }
  if (finished.length === 0 || d.finished === undefined || page.full)
    return {
      tasks: page.records,
      // The unfinished part ended exactly on a full page: the finished part may follow.
      nextCursor:
        finished.length > 0 && d.finished !== undefined
          ? encodeCursor({ part: "finished", seq: 0 })
          : null,
    };
  return await listFinished(d, d.finished, req, finished, cursor, page);
}

async function listFinished(
  d: ListerDeps,
  index: FinishedIndex,
  req: ListTasksRequest,
  states: readonly TaskState[],
  cursor: Cursor | null,
  page: Page,
): Promise<{ tasks: TaskRecord[]; nextCursor: string | null }> {
  const wanted = new Set(states);
  const filter = d.subjects.finishedFilter(states.length === 1 ? states[0]! : "*", req.type);
  let fromSeq = cursor?.part === "finished" ? cursor.seq + 1 : undefined;
  // A task created at `since` finished after it: the scan may start there.
  let fromTime = fromSeq === undefined ? req.since : undefined;
  let scanned = 0;
  for (;;) {
    const want = req.limit - page.count;
    const { entries, more } = await index.scan({
      filter,
      ...(fromSeq !== undefined ? { fromSeq } : fromTime !== undefined ? { fromTime } : {}),
      batch: Math.min(1_000, Math.max(100, want * 2)),
    });
    scanned += entries.length;
    const candidates = new Set(
      entries.filter(
        (e) =>
          wanted.has(e.state) &&
          e.createdAt >= (req.since ?? -Infinity) &&
          e.createdAt < (req.until ?? Infinity),
      ),
    );
    const records = await d.store.getMany([...new Set([...candidates].map((e) => e.id))]);
    for (const e of entries) {
      const r = records.get(e.id)?.record;
      if (r !== undefined && candidates.has(e) && current(e, r) && !page.add(r))
        // Full (by size): the next page starts at this entry.
        return {
          tasks: page.records,
          nextCursor: encodeCursor({ part: "finished", seq: e.seq - 1 }),
        };
      if (page.full)
        return {
          tasks: page.records,
          nextCursor:
            more || e !== entries.at(-1) ? encodeCursor({ part: "finished", seq: e.seq }) : null,
        };
    }
    if (!more || entries.length === 0) return { tasks: page.records, nextCursor: null };
    fromSeq = entries.at(-1)!.seq + 1;
    fromTime = undefined;
    // Answer with what was found rather than scan on for long: the cursor resumes the scan.
    if (scanned >= SCAN_BUDGET)
      return {
        tasks: page.records,
        nextCursor: encodeCursor({ part: "finished", seq: entries.at(-1)!.seq }),
      };
  }
}

/** An entry still describes its record: the same finish, not an earlier one re-run since. */
function current(e: FinishedEntry, r: TaskRecord): boolean {
  return r.state === e.state && finishedAtOf(r) === e.finishedAt;
}

/**
 * The records of one reply, capped by count and by size (a reply fits in one message). A task
 * that finished while the page was read may come twice (unfinished, then finished): the page
 * keeps it once, as finished.
 */
class Page {
  readonly #records = new Map<string, { record: TaskRecord; size: number }>();
  readonly #budget: number;
  readonly #limit: number;
  #bytes = 64;

  constructor(maxReplyBytes: number, limit: number) {
    this.#budget = Math.floor(maxReplyBytes * 0.9);
    this.#limit = limit;
  }

  get records(): TaskRecord[] {
    return [...this.#records.values()].map((e) => e.record);
  }

  get count(): number {
    return this.#records.size;
  }

  get full(): boolean {
    return this.#records.size >= this.#limit;
  }

  /** Adds a record (replacing an earlier one of the same task); false when it would not fit. */
  add(r: TaskRecord): boolean {
    const size = JSON.stringify(r).length + 1;
    const earlier = this.#records.get(r.id);
    const bytes = this.#bytes - (earlier?.size ?? 0);
    if (this.#records.size > 0 && bytes + size > this.#budget) return false;
    this.#records.delete(r.id);
    this.#records.set(r.id, { record: r, size });
    this.#bytes = bytes + size;
    return true;
  }
}
