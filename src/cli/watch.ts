/**
 * `drover watch`: live counts. Given task ids (as arguments, or `-` for one per line on stdin,
 * as `drover submit` prints them), a progress bar of that batch until every task has finished;
 * without ids, the cluster's unfinished tasks by state, its leader and its workers, until
 * Ctrl-C. In a terminal the line is redrawn in place (coloured, unless NO_COLOR is set);
 * otherwise, and with `--json`, a line is printed only when the figures change.
 */
import type { TaskState } from "../protocol/index.ts";
import { DroverError, ErrorCode, TERMINAL_STATES } from "../protocol/index.ts";
import type { DroverClient } from "../runtime/index.ts";
import type { Command, CommandContext } from "./command.ts";
import { UsageError } from "./command.ts";
import { positiveIntFlag } from "./flags.ts";
import { withClient } from "./tasks.ts";

/** Where a batch stands: tasks per state, and how many have finished. */
export interface BatchCounts {
  total: number;
  finished: number;
  byState: Partial<Record<TaskState | "missing", number>>;
}

const TERMINAL = new Set<string>(TERMINAL_STATES);

/** Counts a batch's states (`missing`: a task the cluster no longer has, e.g. expired). */
export function batchCounts(states: readonly (TaskState | "missing")[]): BatchCounts {
  const byState: BatchCounts["byState"] = {};
  let finished = 0;
  for (const s of states) {
    byState[s] = (byState[s] ?? 0) + 1;
    if (TERMINAL.has(s) || s === "missing") finished++;
  }
  return { total: states.length, finished, byState };
}

const ANSI = { green: "\x1b[32m", red: "\x1b[31m", dim: "\x1b[2m", reset: "\x1b[0m" };
const BAD = new Set(["failed", "dead", "timed_out", "cancelled", "missing"]);

/** Lists counts by state in a fixed order, coloured when `colour` (succeeded green, failures red). */
export function stateList(byState: Readonly<Record<string, number>>, colour: boolean): string {
  const order = [
    "queued",
    "delayed",
    "assigned",
    "running",
    "retrying",
    "succeeded",
    ...TERMINAL_STATES.filter((s) => s !== "succeeded"),
    "missing",
  ];
  const known = new Set(order);
  const names = [
    ...order,
    ...Object.keys(byState)
      .filter((s) => !known.has(s))
      .sort(),
  ];
  return names
    .filter((s) => (byState[s] ?? 0) > 0)
    .map((s) => {
      const text = `${s} ${byState[s]}`;
      if (!colour) return text;
      if (s === "succeeded") return `${ANSI.green}${text}${ANSI.reset}`;
      return BAD.has(s) ? `${ANSI.red}${text}${ANSI.reset}` : text;
    })
    .join(" · ");
}

/** One line for a batch: a bar of `width` cells, the share finished, and the counts by state. */
export function progressLine(c: BatchCounts, width: number, colour: boolean): string {
  const share = c.total === 0 ? 1 : c.finished / c.total;
  const full = Math.round(share * width);
  const bar = "#".repeat(full) + ".".repeat(width - full);
  const shown = colour
    ? `${ANSI.green}${bar.slice(0, full)}${ANSI.dim}${bar.slice(full)}${ANSI.reset}`
    : bar;
  const states = stateList(c.byState, colour);
  const head = `[${shown}] ${String(Math.floor(share * 100)).padStart(3)}% ${c.finished}/${c.total} finished`;
  return states === "" ? head : `${head} · ${states}`;
}

/** Task ids from the arguments, or from stdin (one per line) when the only argument is `-`. */
async function idsOf(positionals: string[]): Promise<string[]> {
  if (positionals.length !== 1 || positionals[0] !== "-") return positionals;
  let text = "";
  for await (const chunk of process.stdin) text += String(chunk);
  // `drover submit` and `submit-many` print "<id>" or "<id> (duplicate of an earlier
  // submit)"; `submit-many` prints "error <code>: …" for a task it refused (no id to follow).
  return text
    .split("\n")
    .filter((l) => !l.startsWith("error "))
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter((l) => l !== "");
}

/** Writes `line`: in place in a terminal, else as a new line when it differs from the last. */
function writer(tty: boolean): { show(line: string, key: string): void; end(): void } {
  let last: string | null = null;
  return {
    show(line, key) {
      if (tty) process.stdout.write(`\r\x1b[2K${line}`);
      else if (key !== last) console.log(line);
      last = key;
    },
    end() {
      if (tty && last !== null) process.stdout.write("\n");
    },
  };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((done) => {
    if (signal.aborted) return done();
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), done()), { once: true });
  });
}

type Known = TaskState | "missing";

const finished = (k: Known | undefined): boolean =>
  k !== undefined && (TERMINAL.has(k) || k === "missing");

/**
 * The state of each task, asking only for those not finished at the last look. An answer is
 * not taken if an event changed the task while it was on its way (the event is newer).
 */
async function look(
  c: DroverClient,
  ids: readonly string[],
  known: Map<string, Known>,
): Promise<void> {
  const open = ids.filter((id) => !finished(known.get(id)));
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(16, open.length) }, async () => {
      while (next < open.length) {
        const id = open[next++]!;
        const before = known.get(id);
        let state: Known;
        try {
          state = (await c.get(id)).state;
        } catch (err) {
          if (!(err instanceof DroverError && err.code === ErrorCode.NotFound)) throw err;
          state = "missing";
        }
        if (known.get(id) === before) known.set(id, state);
      }
    }),
  );
}

/** With the event feed, the tasks are also read one by one this often (a backstop). */
const BACKSTOP_MS = 5_000;

/**
 * Follows a batch: its tasks are read once, then followed through the events stream (one
 * small event per change, however large the batch), and read again only every few seconds in
 * case an event went by unseen. A user who may not read the events stream (a submitter)
 * reads the unfinished tasks every interval instead.
 */
async function watchBatch(
  ctx: CommandContext,
  ids: readonly string[],
  everyMs: number,
  json: boolean,
  colour: boolean,
): Promise<number> {
  const out = writer(!json && process.stdout.isTTY === true);
  return withClient(ctx, async (c) => {
    const known = new Map<string, Known>();
    const wanted = new Set(ids);
    const stop = await c
      .followTaskEvents((e) => {
        if (wanted.has(e.taskId)) known.set(e.taskId, e.to);
      })
      .catch(() => null);
    try {
      let lookedAt = Number.NEGATIVE_INFINITY;
      for (;;) {
        if (stop === null || Date.now() - lookedAt >= BACKSTOP_MS) {
          await look(c, ids, known);
          lookedAt = Date.now();
        }
        const counts = batchCounts(ids.map((id) => known.get(id) ?? "queued"));
        const key = JSON.stringify(counts);
        out.show(json ? key : progressLine(counts, 30, colour), key);
        if (counts.finished === counts.total) {
          out.end();
          return counts.byState.succeeded === counts.total ? 0 : 1;
        }
        if (ctx.signal.aborted) {
          out.end();
          return 130;
        }
        await pause(everyMs, ctx.signal);
      }
    } finally {
      stop?.();
    }
  });
}

async function watchCluster(
  ctx: CommandContext,
  everyMs: number,
  json: boolean,
  colour: boolean,
): Promise<number> {
  const out = writer(!json && process.stdout.isTTY === true);
  return withClient(ctx, async (c) => {
    while (!ctx.signal.aborted) {
      const h = await c.health();
      const figures = { leader: h.leaderId, term: h.term, workers: h.workers, tasks: h.tasks };
      const key = JSON.stringify(figures);
      const leader = h.leaderId === null ? "no leader" : `leader ${h.leaderId}`;
      const tasks = stateList(h.tasks, colour);
      out.show(
        json
          ? key
          : `${leader} · ${h.workers} workers · ${tasks === "" ? "no unfinished tasks" : tasks}`,
        key,
      );
      await pause(everyMs, ctx.signal);
    }
    out.end();
    return 0;
  });
}

export const watchCommand: Command = {
  name: "watch",
  summary: "live counts: a batch of tasks with a progress bar, or the cluster's tasks by state",
  usage: "drover watch [ID ... | -] [--interval-ms 1000] [--json]",
  options: {
    "interval-ms": { type: "string" },
    json: { type: "boolean", default: false },
  },
  async run(ctx) {
    const everyMs = positiveIntFlag(ctx.values, "interval-ms", 1_000);
    const json = ctx.values.json === true;
    const colour = !json && process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
    const ids = await idsOf(ctx.positionals);
    if (ctx.positionals.length > 0 && ids.length === 0)
      throw new UsageError("drover watch -: no task ids on stdin");
    return ids.length > 0
      ? watchBatch(ctx, ids, everyMs, json, colour)
      : watchCluster(ctx, everyMs, json, colour);
  },
};
