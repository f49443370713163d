/**
 * Recurring schedules: `drover schedule create|update ID TYPE [payload-json] (--cron E | --every-ms N
 * | --at T) [flags]`, `drover schedule ls` (each schedule's last and next fire), `get`, `pause`,
 * `resume` and `rm`, through the API.
 */
import type { PutScheduleRequest, ScheduleRecord } from "../protocol/index.ts";
import { PutScheduleRequest as PutScheduleRequestSchema } from "../protocol/index.ts";
import type { Command, CommandContext } from "./command.ts";
import { UsageError } from "./command.ts";
import { intFlag, jsonFlag, labelsFlag, optIntFlag } from "./flags.ts";
import { print, table, withClient } from "./tasks.ts";

const USAGE =
  "drover schedule create|update ID TYPE [payload-json] (--cron EXPR | --every-ms N | --at TIME)\n" +
  "                [--tz ZONE] [--start TIME] [--end TIME] [--max-runs N] [--jitter-ms N]\n" +
  "                [--overlap skip|buffer-one|allow|cancel-previous] [--catch-up once|all] [--catch-up-ms N]\n" +
  "                [--priority N] [--timeout-ms N] [--label k=v ...] [--json]\n" +
  "       drover schedule ls [--json] | get ID | pause ID | resume ID | rm ID\n" +
  "  TIME: an ISO time with an offset (2026-12-24T18:00:00+01:00) or ms since the epoch";

/** An instant flag as the API takes it: digits are epoch ms, anything else an ISO string. */
function instantFlag(values: CommandContext["values"], name: string): string | number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const s = String(raw).trim();
  return /^\d+$/.test(s) ? Number(s) : s;
}

/** A `schedules.create`/`update` request from the arguments (validated as the API validates it). */
export function scheduleRequest(
  id: string,
  type: string,
  payloadArg: string | undefined,
  values: CommandContext["values"],
): PutScheduleRequest {
  const payload =
    payloadArg !== undefined ? jsonFlag({ payload: payloadArg }, "payload") : undefined;
  const opt = <T>(name: string, v: T | undefined): Record<string, T> =>
    v === undefined ? {} : { [name]: v };
  const req = {
    id,
    task: {
      type,
      ...opt("payload", payload),
      ...opt("priority", values.priority === undefined ? undefined : Number(values.priority)),
      ...opt("timeoutMs", optIntFlag(values, "timeout-ms")),
      labels: labelsFlag(values, "label"),
    },
    ...opt("cron", values.cron as string | undefined),
    ...opt("everyMs", optIntFlag(values, "every-ms")),
    ...opt("at", instantFlag(values, "at")),
    ...opt("timezone", values.tz as string | undefined),
    ...opt("startAt", instantFlag(values, "start")),
    ...opt("endAt", instantFlag(values, "end")),
    ...opt("maxRuns", optIntFlag(values, "max-runs")),
    ...opt("jitterMs", optIntFlag(values, "jitter-ms")),
    ...opt("overlap", values.overlap as string | undefined),
    catchUp: {
      ...opt("fire", values["catch-up"] as string | undefined),
      ...opt(
        "windowMs",
        values["catch-up-ms"] === undefined ? undefined : intFlag(values, "catch-up-ms", 0),
      ),
    },
  };
  const res = PutScheduleRequestSchema.safeParse(req);
  if (!res.success) {
    const i = res.error.issues[0];
    throw new UsageError(
      `schedule ${id}: ${i?.path.join(".") ?? ""} ${i?.message ?? "is not valid"}`,
    );
  }
  return res.data;
}

const when = (s: ScheduleRecord): string =>
  s.spec.cron !== undefined
    ? `cron ${s.spec.cron}${s.spec.timezone !== "UTC" ? ` (${s.spec.timezone})` : ""}`
    : s.spec.everyMs !== undefined
      ? `every ${s.spec.everyMs} ms`
      : `at ${new Date(s.spec.at!).toISOString()}`;
const time = (t: number | null | undefined): string =>
  t === null || t === undefined ? "-" : new Date(t).toISOString();

/** One line per schedule: what, when, its state, last and next fire, runs and skips. */
export function scheduleTable(list: readonly ScheduleRecord[]): string {
  return table([
    ["ID", "TASK", "WHEN", "STATE", "LAST FIRE", "NEXT FIRE", "RUNS", "SKIPPED"],
    ...list.map((s) => [
      s.id,
      s.spec.task.type,
      when(s),
      s.paused ? "paused" : s.state.nextTick === null ? "done" : "active",
      time(s.state.recent.at(-1)?.firedAt),
      s.paused ? "-" : time(s.state.nextTick),
      String(s.state.runs),
      String(s.state.skipped),
    ]),
  ]);
}

export const scheduleCommand: Command = {
  name: "schedule",
  summary: "recurring schedules: create, update, ls (last and next fire), get, pause, resume, rm",
  usage: USAGE,
  options: {
    cron: { type: "string" },
    "every-ms": { type: "string" },
    at: { type: "string" },
    tz: { type: "string" },
    start: { type: "string" },
    end: { type: "string" },
    "max-runs": { type: "string" },
    "jitter-ms": { type: "string" },
    overlap: { type: "string" },
    "catch-up": { type: "string" },
    "catch-up-ms": { type: "string" },
    priority: { type: "string" },
    "timeout-ms": { type: "string" },
    label: { type: "string", multiple: true },
    json: { type: "boolean", default: false },
  },
  run: (ctx) => {
    const [action, id, ...rest] = ctx.positionals;
    const json = ctx.values.json === true;
    const usage = (): never => {
      throw new UsageError(`usage: ${USAGE.split("\n")[0]} (see --help)`);
    };
    if (action === "ls" || action === "list") {
      if (id !== undefined) usage();
      return withClient(ctx, async (c) => {
        const list = await c.schedules.list();
        if (json) print(list);
        else console.log(list.length === 0 ? "no schedules" : scheduleTable(list));
        return 0;
      });
    }
    if (action === "create" || action === "update") {
      const [type, payload, ...extra] = rest;
      if (id === undefined || type === undefined || extra.length > 0) usage();
      const req = scheduleRequest(id!, type!, payload, ctx.values);
      return withClient(ctx, async (c) => {
        const s = await (action === "create" ? c.schedules.create(req) : c.schedules.update(req));
        if (json) print(s);
        else console.log(`schedule ${s.id}: next fire ${time(s.state.nextTick)}`);
        return 0;
      });
    }
    if (id === undefined || rest.length > 0) usage();
    return withClient(ctx, async (c) => {
      switch (action) {
        case "get":
          print(await c.schedules.get(id!));
          return 0;
        case "pause":
        case "resume": {
          const s = await (action === "pause" ? c.schedules.pause(id!) : c.schedules.resume(id!));
          console.log(
            `schedule ${s.id}: ${s.paused ? "paused" : `resumed, next fire ${time(s.state.nextTick)}`}`,
          );
          return 0;
        }
        case "rm":
        case "delete":
          await c.schedules.delete(id!);
          console.log(`schedule ${id!}: deleted`);
          return 0;
        default:
          return usage();
      }
    });
  },
};
