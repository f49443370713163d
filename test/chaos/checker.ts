/**
 * The independent checker: after a scenario it reads the task records (KV), the executions
 * stream written by the handlers and the events stream written by the schedulers — not the
 * schedulers' own counters — and says what holds.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { resourceNames, scheduleTickKey, TERMINAL_STATES } from "../../src/protocol/index.ts";
import type { ScheduleRecord, TaskRecord, TaskTransitionEvent } from "../../src/protocol/index.ts";

/** One execution, as the chaos handler records it before it works. */
export interface Execution {
  taskId: string;
  attempt: number;
  epoch: number;
  workerId: string;
}

export interface CheckReport {
  submitted: number;
  records: number;
  /** Keys in the tasks bucket (records of submitted tasks plus anything else). */
  stored: number;
  succeeded: number;
  /** Submitted ids with no record. */
  lost: string[];
  /** Records not in a terminal state. */
  stuck: string[];
  /** Records in a terminal state other than succeeded. */
  unsuccessful: string[];
  /** Tasks whose record shows more than one accepted completion. */
  duplicateCompletions: string[];
  /** Accepted completions (succeeded transitions in the records). */
  completions: number;
  /** Handler executions recorded by the handlers themselves. */
  executions: number;
  /**
   * Succeeded tasks whose accepted completion (the record's epoch, attempt and worker) matches
   * no execution the handlers recorded: a completion that no handler produced.
   */
  completedWithoutExecution: string[];
  /**
   * (taskId, epoch) pairs assigned more than once: seen twice in the events stream, run by
   * more than one worker (the handlers' own records), or assigned under the same (or an older)
   * epoch twice in a record's history.
   */
  duplicateAssignments: string[];
  /** Late reports refused (sum of the records' refusedReports). */
  refusedReports: number;
  /** Assigned events, for scenario-specific checks. */
  assigned: TaskTransitionEvent[];
  /** The records, for scenario-specific measurements. */
  byId: Map<string, TaskRecord>;
}

/**
 * Every message of a stream (optionally one subject filter), in order. How many there are
 * comes from the stream's info, which its leader answers; the read goes on until it has that
 * many. A consumer's own "nothing pending" is not trusted as the end: an ephemeral consumer may
 * be placed on a replica still catching up (a node just restarted), whose copy ends early. A
 * pull that fails (a fresh consumer not yet reachable answers "no responders"), or a read that
 * has not reached the count in 30 s, starts over with a new consumer, a few times, rather than
 * returning less.
 */
async function readStream<T>(nc: NatsConnection, stream: string, filter?: string): Promise<T[]> {
  const jsm = await jetstreamManager(nc);
  for (let attempt = 1; ; attempt++) {
    try {
      const info = await jsm.streams.info(
        stream,
        filter !== undefined ? { subjects_filter: filter } : undefined,
      );
      const want =
        filter === undefined
          ? info.state.messages
          : Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
      const out: T[] = [];
      if (want === 0) return out;
      const consumer = await jetstream(nc).consumers.get(
        stream,
        filter !== undefined ? { filter_subjects: [filter] } : {},
      );
      const deadline = Date.now() + 30_000;
      while (out.length < want) {
        const batch = await consumer.fetch({
          max_messages: Math.min(1_000, want - out.length),
          expires: 2_000,
        });
        for await (const m of batch) out.push(m.json<T>());
        if (out.length < want && Date.now() > deadline)
          throw new Error(`${stream}: read ${out.length} of its ${want} messages in 30 s`);
      }
      return out;
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

export async function check(
  nc: NatsConnection,
  prefix: string,
  ids: string[],
): Promise<CheckReport> {
  const kv = await new Kvm(nc).open(resourceNames(prefix).buckets.tasks);
  // Every submitted id is read by key (bounded requests; no key listing to wait on), and the
  // bucket's own count says whether anything else was created.
  const records = new Map<string, TaskRecord>();
  for (let i = 0; i < ids.length; i += 64) {
    await Promise.all(
      ids.slice(i, i + 64).map(async (k) => {
        const e = await kv.get(k);
        if (e?.operation === "PUT") records.set(k, e.json<TaskRecord>());
      }),
    );
  }
  const stored = (await kv.status()).values;
  const P = prefix.toUpperCase();
  const executions = await readStream<Execution>(nc, `${P}_CHAOS`);
  const events = await readStream<TaskTransitionEvent>(
    nc,
    resourceNames(prefix).streams.events,
    `${prefix}.events.task.assigned`,
  );
  return analyse({ ids, records, stored, executions, assigned: events });
}

/** What the checker read, for {@link analyse}. */
export interface CheckInput {
  ids: string[];
  records: Map<string, TaskRecord>;
  stored: number;
  executions: Execution[];
  assigned: TaskTransitionEvent[];
}

/** The checker's verdict on what it read: a pure function, tested on its own. */
export function analyse({
  ids,
  records,
  stored,
  executions,
  assigned: events,
}: CheckInput): CheckReport {
  // Executions by (task, epoch): the workers that ran that assignment, by attempt.
  const execByEpoch = new Map<string, Execution[]>();
  for (const e of executions) {
    const k = `${e.taskId}:${e.epoch}`;
    const list = execByEpoch.get(k);
    if (list === undefined) execByEpoch.set(k, [e]);
    else list.push(e);
  }
  const assignedByEpoch = new Map<string, number>();
  for (const e of events)
    assignedByEpoch.set(
      `${e.taskId}:${e.epoch}`,
      (assignedByEpoch.get(`${e.taskId}:${e.epoch}`) ?? 0) + 1,
    );
  const duplicates = new Set(
    [...assignedByEpoch].filter(([, n]) => n > 1).map(([k]) => `${k} (events)`),
  );
  for (const [k, list] of execByEpoch)
    if (new Set(list.map((e) => e.workerId)).size > 1)
      duplicates.add(`${k} (run by ${list.map((e) => e.workerId).join(", ")})`);

  const report: CheckReport = {
    submitted: ids.length,
    records: records.size,
    stored,
    succeeded: 0,
    lost: [],
    stuck: [],
    unsuccessful: [],
    duplicateCompletions: [],
    completions: 0,
    executions: executions.length,
    completedWithoutExecution: [],
    duplicateAssignments: [...duplicates],
    refusedReports: 0,
    assigned: events,
    byId: records,
  };
  for (const id of ids) {
    const r = records.get(id);
    if (r === undefined) {
      report.lost.push(id);
      continue;
    }
    const completions = r.history.filter((h) => h.to === "succeeded").length;
    report.completions += completions;
    report.refusedReports += r.refusedReports;
    if (completions > 1) report.duplicateCompletions.push(id);
    // Every assignment starts a new epoch, which its history entry names.
    const assigns = assignments(r);
    const epochs = assigns.map((a) => a.epoch);
    if (
      new Set(epochs).size !== epochs.length ||
      epochs.some((e, i) => i > 0 && e <= epochs[i - 1]!)
    )
      report.duplicateAssignments.push(
        `${id}: assigned under epochs ${epochs.join(", ")} (history)`,
      );
    if (!TERMINAL_STATES.includes(r.state)) report.stuck.push(`${id}:${r.state}`);
    else if (r.state !== "succeeded")
      report.unsuccessful.push(`${id}:${r.state}:${r.error?.message ?? ""}`);
    else {
      report.succeeded++;
      // The accepted completion came from an execution of the record's last assignment: its
      // epoch, its attempt and the worker it named (which the finished record names too).
      const last = assigns.at(-1);
      const ran = execByEpoch.get(`${id}:${r.epoch}`) ?? [];
      if (
        last?.epoch !== r.epoch ||
        r.workerId !== last.workerId ||
        !ran.some((e) => e.attempt === r.attempt && e.workerId === last.workerId)
      )
        report.completedWithoutExecution.push(
          `${id}: epoch ${r.epoch}, attempt ${r.attempt}, worker ${last?.workerId ?? "none"}`,
        );
    }
  }
  return report;
}

/**
 * The assignments a record's history holds (its last 20 state changes): each
 * ASSIGN entry's reason names the worker and the new epoch, "worker w2 (epoch 3, term 7)".
 */
function assignments(r: TaskRecord): { workerId: string; epoch: number }[] {
  const out: { workerId: string; epoch: number }[] = [];
  for (const h of r.history) {
    if (h.event !== "ASSIGN") continue;
    const m = /^worker (\S+) \(epoch (\d+)/.exec(h.reason ?? "");
    if (m !== null) out.push({ workerId: m[1]!, epoch: Number(m[2]) });
  }
  return out;
}

/** Why tasks were run more than once: history events other than the happy path, by reason. */
export function detours(r: CheckReport): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of r.byId.values()) {
    for (const h of t.history) {
      if (
        h.event === "ASSIGN" ||
        h.event === "START" ||
        h.event === "SUCCEED" ||
        h.event === "PROGRESS"
      )
        continue;
      const key = `${h.event}${h.reason !== undefined ? `: ${h.reason.replace(/[0-9a-zA-Z]{16,}/g, "…").slice(0, 60)}` : ""}`;
      out[key] = (out[key] ?? 0) + 1;
    }
  }
  return out;
}

/** One line for the test log: the counts the issue asks to report. */
export function summary(name: string, r: CheckReport, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    scenario: name,
    submitted: r.submitted,
    succeeded: r.succeeded,
    completions: r.completions,
    executions: r.executions,
    refusedReports: r.refusedReports,
    lost: r.lost.length,
    stuck: r.stuck.length,
    detours: detours(r),
    ...extra,
  });
}

/** What the schedules of an interval made of their ticks, from the task records alone. */
export interface TickReport {
  /** Ticks from each schedule's first to its last handled one. */
  expected: number;
  /** Tasks whose idempotency key names a tick of one of the schedules. */
  created: number;
  /** `<schedule>@<tick ISO>` of ticks with no task, and of ticks with more than one. */
  missing: string[];
  doubled: string[];
  /**
   * Tasks of ticks after a schedule's last handled one: submitted by a leader that had not yet
   * recorded them (a pause won the compare-and-set); the tick's next firing finds them.
   */
  unrecorded: number;
  /** The most a tick's task was created after its tick (the failover's catch-up), and how many were over a second late. */
  maxLateMs: number;
  lateOverOneSecond: number;
}

/**
 * Checks that every tick of each interval schedule, from its first tick to its `lastTick`,
 * produced exactly one task: counted from the records' idempotency keys
 * (`schedule:<id>:<tick ISO>`), not from the schedules' own counters.
 */
export function scheduleTicks(
  schedules: readonly ScheduleRecord[],
  records: Iterable<TaskRecord>,
): TickReport {
  const byKey = new Map<string, number>();
  const report: TickReport = {
    expected: 0,
    created: 0,
    missing: [],
    doubled: [],
    unrecorded: 0,
    maxLateMs: 0,
    lateOverOneSecond: 0,
  };
  for (const r of records) {
    const key = r.idempotencyKey;
    if (key?.startsWith("schedule:") !== true) continue;
    byKey.set(key, (byKey.get(key) ?? 0) + 1);
    const late = r.createdAt - Date.parse(key.slice(key.indexOf(":", "schedule:".length) + 1));
    report.maxLateMs = Math.max(report.maxLateMs, late);
    if (late > 1_000) report.lateOverOneSecond++;
  }
  for (const s of schedules) {
    const every = s.spec.everyMs;
    const last = s.state.lastTick;
    if (every === undefined || last === null) continue;
    for (let t = s.createdAt + every; t <= last; t += every) {
      report.expected++;
      const key = scheduleTickKey(s.id, t);
      const n = byKey.get(key) ?? 0;
      report.created += n;
      byKey.delete(key);
      if (n === 0) report.missing.push(`${s.id}@${new Date(t).toISOString()}`);
      if (n > 1) report.doubled.push(`${s.id}@${new Date(t).toISOString()}`);
    }
  }
  // Any other task of a schedule: one for a later tick on its grid is unrecorded; two for one
  // tick, or one off the grid or of no schedule, is one too many.
  const byId = new Map(schedules.map((s) => [s.id, s]));
  for (const [key, n] of byKey) {
    report.created += n;
    const rest = key.slice("schedule:".length);
    const s = byId.get(rest.slice(0, rest.indexOf(":")));
    const tick = Date.parse(rest.slice(rest.indexOf(":") + 1));
    const onGrid =
      s?.spec.everyMs !== undefined &&
      tick > (s.state.lastTick ?? s.createdAt) &&
      (tick - s.createdAt) % s.spec.everyMs === 0;
    if (n === 1 && onGrid) report.unrecorded++;
    else report.doubled.push(key);
  }
  return report;
}
