/**
 * Client subcommands: submit, get, cancel, retry, ls, workers. They talk to the API through
 * the TypeScript client, print one line on error and exit non-zero.
 */
import type { SubmitTaskRequestInput, TaskRecord, TaskState } from "../protocol/index.ts";
import { SubmitTaskRequest, TaskState as TaskStateSchema } from "../protocol/index.ts";
import { DroverClient } from "../runtime/index.ts";
import type { Command, CommandContext } from "./command.ts";
import { UsageError } from "./command.ts";
import { intFlag, jsonFlag, labelsFlag, numFlag, optIntFlag, timeFlag } from "./flags.ts";

export async function withClient<T>(
  ctx: CommandContext,
  fn: (c: DroverClient) => Promise<T>,
): Promise<T> {
  const client = await DroverClient.connect(
    { servers: ctx.config.natsUrl, auth: ctx.config.auth },
    {
      prefix: ctx.config.prefix,
      ...(ctx.config.submitter !== undefined ? { submitter: ctx.config.submitter } : {}),
    },
  );
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

function oneId(ctx: CommandContext, name: string): string {
  const [id, ...extra] = ctx.positionals;
  if (id === undefined || extra.length > 0) throw new UsageError(`usage: drover ${name} <task-id>`);
  return id;
}

export const print = (v: unknown): void => console.log(JSON.stringify(v, null, 2));

export function ago(ms: number): string {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : `${Math.floor(s / 3600)}h`;
}

export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function describe(t: TaskRecord): string {
  const bits = [`${t.id} ${t.state}`, `attempt ${t.attempt}`];
  if (t.workerId !== null) bits.push(`on ${t.workerId}`);
  if (t.progress !== null) bits.push(`progress ${JSON.stringify(t.progress)}`);
  if (t.error !== null) bits.push(`error ${t.error.code}: ${t.error.message}`);
  return bits.join(" · ");
}

export const submitCommand: Command = {
  name: "submit",
  summary: "submit a task (--wait follows it to the end)",
  usage:
    "drover submit <type> [payload-json] [--priority N] [--cpu N] [--memory-mb N] [--slots N] [--label k=v ...] [--key K]\n" +
    "              [--delay-ms N | --run-at ISO] [--timeout-ms N] [--max-attempts N] [--backoff fixed|exponential]\n" +
    "              [--backoff-base-ms N] [--backoff-max-ms N] [--jitter 0..1] [--idempotency-key K] [--retention-ms N] [--wait] [--json]",
  options: {
    payload: { type: "string" },
    priority: { type: "string" },
    cpu: { type: "string" },
    "memory-mb": { type: "string" },
    slots: { type: "string" },
    label: { type: "string", multiple: true },
    key: { type: "string" },
    "delay-ms": { type: "string" },
    "run-at": { type: "string" },
    "timeout-ms": { type: "string" },
    "max-attempts": { type: "string" },
    backoff: { type: "string" },
    "backoff-base-ms": { type: "string" },
    "backoff-max-ms": { type: "string" },
    jitter: { type: "string" },
    "idempotency-key": { type: "string" },
    "retention-ms": { type: "string" },
    wait: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
  async run(ctx) {
    const { values, positionals } = ctx;
    const [type, payloadArg, ...extra] = positionals;
    if (type === undefined || extra.length > 0)
      throw new UsageError("usage: drover submit <type> [payload-json] [flags] (see --help)");
    const payload =
      payloadArg !== undefined
        ? jsonFlag({ payload: payloadArg }, "payload")
        : jsonFlag(values, "payload");
    const priority = values.priority === undefined ? undefined : Number(values.priority);
    const req: SubmitTaskRequestInput = {
      type,
      ...(payload !== undefined ? { payload } : {}),
      ...(priority !== undefined ? { priority } : {}),
      resources: {
        cpu: numFlag(values, "cpu", 0),
        memoryMb: numFlag(values, "memory-mb", 0),
        slots: intFlag(values, "slots", 1),
      },
      labels: labelsFlag(values, "label"),
      ...(typeof values.key === "string" ? { key: values.key } : {}),
      ...(values["delay-ms"] !== undefined ? { delayMs: optIntFlag(values, "delay-ms") } : {}),
      ...(typeof values["run-at"] === "string" ? { runAt: values["run-at"] } : {}),
      ...(values["timeout-ms"] !== undefined
        ? { timeoutMs: optIntFlag(values, "timeout-ms") }
        : {}),
      retry: {
        ...(values["max-attempts"] !== undefined
          ? { maxAttempts: optIntFlag(values, "max-attempts") }
          : {}),
        backoff: {
          ...(typeof values.backoff === "string"
            ? { type: values.backoff as "fixed" | "exponential" }
            : {}),
          ...(values["backoff-base-ms"] !== undefined
            ? { baseMs: optIntFlag(values, "backoff-base-ms") }
            : {}),
          ...(values["backoff-max-ms"] !== undefined
            ? { maxMs: optIntFlag(values, "backoff-max-ms") }
            : {}),
          ...(values.jitter !== undefined ? { jitter: numFlag(values, "jitter", 0) } : {}),
        },
      },
      ...(values["retention-ms"] !== undefined
        ? { retentionMs: optIntFlag(values, "retention-ms") }
        : {}),
      ...(typeof values["idempotency-key"] === "string"
        ? { idempotencyKey: values["idempotency-key"] }
        : {}),
    };
    // Validate locally first: a bad flag is a one-line usage error, not a round trip.
    const check = SubmitTaskRequest.safeParse(req);
    if (!check.success) {
      const i = check.error.issues[0];
      throw new UsageError(
        `invalid task: ${i?.path.join(".") || "(root)"}: ${i?.message ?? "invalid"}`,
      );
    }
    return await withClient(ctx, async (client) => {
      const { id, duplicate } = await client.submit(req);
      if (values.wait !== true) {
        if (values.json === true) print({ ok: true, id, duplicate });
        else console.log(duplicate ? `${id} (duplicate of an earlier submit)` : id);
        return 0;
      }
      console.error(`submitted ${id}${duplicate ? " (duplicate)" : ""}`);
      let last = "";
      const final = await client.wait(id, {
        signal: ctx.signal,
        onUpdate: (t) => {
          const line = describe(t);
          if (line !== last) console.error(line);
          last = line;
        },
      });
      if (values.json === true) print(final);
      else
        console.log(
          `${final.id} ${final.state}${final.result !== null ? ` ${JSON.stringify(final.result)}` : ""}`,
        );
      return final.state === "succeeded" ? 0 : 1;
    });
  },
};

export const getCommand: Command = {
  name: "get",
  summary: "show a task's record (state, attempts, placement, result)",
  usage: "drover get <task-id> | --key IDEMPOTENCY_KEY [--json]",
  // The record is printed as JSON either way; --json is accepted like on every read command.
  options: { key: { type: "string" }, json: { type: "boolean", default: false } },
  run: (ctx) => {
    const key = ctx.values.key as string | undefined;
    if (key !== undefined) {
      if (ctx.positionals.length > 0)
        throw new UsageError("usage: drover get <task-id>, or drover get --key KEY (not both)");
      return withClient(ctx, async (c) => (print(await c.getByKey(key)), 0));
    }
    const id = oneId(ctx, "get");
    return withClient(ctx, async (c) => (print(await c.get(id)), 0));
  },
};

export const drainCommand: Command = {
  name: "drain",
  summary:
    "drain a worker: no new work, running tasks finish within the grace period, then it stops",
  usage: "drover drain <worker-id> [--grace-ms N] [--json]",
  options: { "grace-ms": { type: "string" }, json: { type: "boolean", default: false } },
  run: (ctx) => {
    const [id, ...extra] = ctx.positionals;
    if (id === undefined || extra.length > 0)
      throw new UsageError("usage: drover drain <worker-id> [--grace-ms N]");
    const graceMs = optIntFlag(ctx.values, "grace-ms");
    return withClient(ctx, async (c) => {
      const r = await c.drain(id, graceMs);
      if (ctx.values.json === true) print(r);
      else console.log(`${r.workerId} draining (${r.running} running)`);
      return 0;
    });
  },
};

export const cancelCommand: Command = {
  name: "cancel",
  summary: "cancel a queued, delayed, retrying or running task",
  usage: "drover cancel <task-id> [--reason TEXT] [--json]",
  options: { reason: { type: "string" }, json: { type: "boolean", default: false } },
  run: (ctx) => {
    const id = oneId(ctx, "cancel");
    return withClient(ctx, async (c) => {
      const t = await c.cancel(id, ctx.values.reason as string | undefined);
      if (ctx.values.json === true) print(t);
      else console.log(`${t.id} ${t.state}`);
      return 0;
    });
  },
};

export const retryCommand: Command = {
  name: "retry",
  summary: "re-run a dead, failed or timed-out task",
  usage: "drover retry <task-id> [--json]",
  options: { json: { type: "boolean", default: false } },
  run: (ctx) => {
    const id = oneId(ctx, "retry");
    return withClient(ctx, async (c) => {
      const t = await c.retry(id);
      if (ctx.values.json === true) print(t);
      else console.log(`${t.id} ${t.state}`);
      return 0;
    });
  },
};

export const lsCommand: Command = {
  name: "ls",
  summary: "list tasks (filter by state and type; paginated)",
  usage:
    "drover ls [--state S[,S...]] [--type T] [--since T] [--until T] [--limit N] [--cursor C] [--json]\n" +
    "  --since/--until: created at or after / before T (ISO time, ms since the epoch, or a duration ago: 15m, 2h, 7d)",
  options: {
    state: { type: "string" },
    type: { type: "string" },
    since: { type: "string" },
    until: { type: "string" },
    limit: { type: "string" },
    cursor: { type: "string" },
    json: { type: "boolean", default: false },
  },
  run: (ctx) => {
    const { values } = ctx;
    let state: TaskState[] | undefined;
    if (typeof values.state === "string") {
      state = values.state.split(",").map((s) => {
        const p = TaskStateSchema.safeParse(s.trim());
        if (!p.success)
          throw new UsageError(
            `unknown --state '${s}' (one of: ${TaskStateSchema.options.join(", ")})`,
          );
        return p.data;
      });
    }
    const limit = intFlag(values, "limit", 100);
    const now = Date.now();
    const since = timeFlag(values, "since", now);
    const until = timeFlag(values, "until", now);
    const filters = {
      ...(state !== undefined ? { state } : {}),
      ...(typeof values.type === "string" ? { type: values.type } : {}),
      ...(since !== undefined ? { since } : {}),
      ...(until !== undefined ? { until } : {}),
    };
    return withClient(ctx, async (c) => {
      const page = await c.list({
        ...filters,
        limit,
        ...(typeof values.cursor === "string" ? { cursor: values.cursor } : {}),
      });
      if (values.json === true) {
        print(page);
        return 0;
      }
      const rows = [["ID", "STATE", "TYPE", "PRIO", "ATTEMPT", "WORKER", "AGE", "NOTE"]];
      for (const t of page.tasks) {
        const note = t.error?.message ?? (t.state === "queued" ? (t.placement?.reason ?? "") : "");
        rows.push([
          t.id,
          t.state,
          t.type,
          String(t.priority),
          String(t.attempt),
          t.workerId ?? "-",
          ago(t.createdAt),
          note.slice(0, 60),
        ]);
      }
      console.log(table(rows));
      if (page.nextCursor !== null) {
        // The same filters (with relative times made absolute) and the cursor: the next page.
        const more = [
          ...(state !== undefined ? [`--state ${state.join(",")}`] : []),
          ...(filters.type !== undefined ? [`--type ${filters.type}`] : []),
          ...(since !== undefined ? [`--since ${since}`] : []),
          ...(until !== undefined ? [`--until ${until}`] : []),
          ...(limit !== 100 ? [`--limit ${limit}`] : []),
          `--cursor ${page.nextCursor}`,
        ];
        console.log(`more: drover ls ${more.join(" ")}`);
      }
      return 0;
    });
  },
};

export const workersCommand: Command = {
  name: "workers",
  summary: "list live workers with capacity, load and labels",
  usage: "drover workers [--json]",
  options: { json: { type: "boolean", default: false } },
  run: (ctx) =>
    withClient(ctx, async (c) => {
      const workers = await c.workers();
      if (ctx.values.json === true) {
        print(workers);
        return 0;
      }
      const rows = [["ID", "STATE", "TYPES", "SLOTS", "CPU", "MEMORY_MB", "RUNNING", "LABELS"]];
      for (const w of workers) {
        rows.push([
          w.id,
          w.state,
          w.types.join(","),
          `${w.used.slots}/${w.capacity.slots}`,
          `${w.used.cpu}/${w.capacity.cpu}`,
          `${w.used.memoryMb}/${w.capacity.memoryMb}`,
          String(w.running.length),
          Object.entries(w.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(","),
        ]);
      }
      console.log(table(rows));
      return 0;
    }),
};
