/**
 * Property-based fuzzing of a running Drover cluster, from a fixed seed: generated messages on
 * every API subject, a worker's assignment subject and the reports path — random bytes, random
 * JSON, valid requests, and valid requests with one field broken (a wrong type, an unknown
 * field, a huge string, deep nesting, a `__proto__` key, an absurd number).
 *
 * What must hold: every request gets a structured reply (`ok: true`, or `ok: false` with a
 * known error code), never `internal`; no record is created by a refused submit; and afterwards
 * a valid task still succeeds in its normal time (checked by the caller, with the processes
 * still alive).
 */
import fc from "fast-check";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { ERROR_CODES, ErrorCode, resourceNames, subjects } from "../../src/protocol/index.ts";

export interface FuzzOptions {
  /** Messages per subject. */
  perSubject: number;
  seed: number;
  /** Requests in flight at once. @default 16 */
  concurrency?: number;
  /** Told after each subject is done. */
  onSubject?: (subject: string, done: number, total: number) => void;
}

/** What one subject's messages got. */
export interface SubjectResult {
  sent: number;
  accepted: number;
  /** Refusals by error code. */
  refused: Record<string, number>;
}

export interface FuzzReport {
  seed: number;
  sent: number;
  subjects: Record<string, SubjectResult>;
  /** Requests that got no reply, an unstructured reply, or `internal` (must stay empty). */
  failures: { subject: string; body: string; reply: string }[];
  /** Submits accepted as new tasks, and task records in the bucket before and after. */
  newTasks: number;
  recordsBefore: number;
  recordsAfter: number;
  /** Reports the reports stream stored (the leader refuses or applies each). */
  reportsStored: number;
}

const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

/** Deep nesting (arrays), `depth` levels. */
const nested = (depth: number): string => `${"[".repeat(depth)}${"]".repeat(depth)}`;

/** A JSON value that breaks a field: a wrong type, a huge string, deep nesting, an absurd number. */
const breaking: fc.Arbitrary<string> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.constantFrom("null", "true", '""', "-1", "1e308", "-1e308", "0.5", '"NaN"', "[]", "{}"),
  fc.integer({ min: 100, max: 300_000 }).map((n) => JSON.stringify("x".repeat(n))),
  fc.integer({ min: 50, max: 3_000 }).map(nested),
  fc.constant('{"__proto__":"x"}'),
);

/** A JSON object text with `key` set to the raw JSON `value` (or removed for undefined). */
function withField(base: Record<string, unknown>, key: string, value: string | undefined): string {
  const rest = Object.entries(base).filter(([k]) => k !== key);
  const parts = rest.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
  if (value !== undefined) parts.push(`${JSON.stringify(key)}:${value}`);
  return `{${parts.join(",")}}`;
}

/** Valid bodies for a subject, and then each broken in one field (or with an unknown one). */
function bodies(valid: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<string> {
  const broken = valid.chain((base) => {
    const keys = [...Object.keys(base), "unknownField", "__proto__", "v"];
    return fc
      .tuple(fc.constantFrom(...keys), fc.option(breaking, { nil: undefined }))
      .map(([k, v]) => withField(base, k, v));
  });
  return fc.oneof(
    { weight: 2, arbitrary: valid.map((b) => JSON.stringify(b)) },
    { weight: 4, arbitrary: broken },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 64 }) },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString("latin1")),
    },
  );
}

const id = fc.stringMatching(/^[A-Za-z0-9_-]{1,24}$/);
const json = fc.jsonValue({ maxDepth: 3 });
const resources = fc.record(
  {
    cpu: fc.integer({ min: 0, max: 8 }),
    memoryMb: fc.integer({ min: 0, max: 4096 }),
    slots: fc.integer({ min: 0, max: 4 }),
  },
  { requiredKeys: [] },
);
// Task types no worker handles, and echo/noop: nothing that sleeps for a generated time.
const taskType = fc.oneof(
  fc.constantFrom("echo", "noop"),
  fc.stringMatching(/^fz[a-z0-9._:-]{0,20}$/),
);

const submit = fc.record(
  {
    type: taskType,
    payload: json,
    priority: fc.integer({ min: -1000, max: 1000 }),
    resources,
    labels: fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.string({ maxLength: 8 }), {
      maxKeys: 3,
    }),
    key: fc.string({ maxLength: 16 }),
    timeoutMs: fc.integer({ min: 1, max: 60_000 }),
    idempotencyKey: fc.stringMatching(/^[a-z0-9]{1,12}$/),
    // Long enough that no record expires during the run (records are counted).
    retentionMs: fc.integer({ min: 3_600_000, max: 86_400_000 }),
  },
  { requiredKeys: ["type"] },
);
// A few tasks a request: the fuzz's own limits and the record count stay small.
const submitMany = fc.record(
  { tasks: fc.array(submit, { minLength: 1, maxLength: 4 }) },
  { requiredKeys: [] },
);
const byId = fc.record({ id }, { requiredKeys: [] });
const list = fc.record(
  {
    state: fc.constantFrom("queued", "running", "succeeded", "failed"),
    type: taskType,
    limit: fc.integer({ min: 1, max: 1_000 }),
    cursor: fc.string({ maxLength: 24 }),
    since: fc.nat(),
  },
  { requiredKeys: [] },
);
const poolName = fc.stringMatching(/^fz[a-z0-9_-]{0,10}$/);
const poolSet = fc.record({
  pool: poolName,
  template: fc.record({
    types: fc.array(taskType, { minLength: 1, maxLength: 3 }),
    capacity: resources,
  }),
  scale: fc.record({ min: fc.constant(0), max: fc.integer({ min: 1, max: 3 }) }),
});

const scheduleId = fc.stringMatching(/^fz[a-z0-9_-]{0,10}$/);
// Schedules that cannot fire during a fuzz run (a yearly cron, a time years ahead): a fired
// tick would create a task the record count does not expect.
const scheduleSet = fc.record(
  {
    id: scheduleId,
    task: fc.record(
      { type: taskType, payload: json, priority: fc.integer({ min: -1000, max: 1000 }) },
      {
        requiredKeys: ["type"],
      },
    ),
    cron: fc.constantFrom("0 0 1 1 *", "@yearly", "0 0 0 29 2 *"),
    timezone: fc.constantFrom("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"),
    startAt: fc.constant("2040-01-02T00:00:00Z"),
    maxRuns: fc.integer({ min: 1, max: 10 }),
    jitterMs: fc.integer({ min: 0, max: 3_600_000 }),
    overlap: fc.constantFrom("skip", "buffer-one", "allow", "cancel-previous"),
    catchUp: fc.record({
      windowMs: fc.integer({ min: 1_000, max: 86_400_000 }),
      fire: fc.constantFrom("once", "all"),
    }),
  },
  { requiredKeys: ["id", "task", "cron", "startAt"] },
);
const scheduleById = fc.record({ id: scheduleId }, { requiredKeys: [] });

/** A valid-looking assignment for the worker: a task id of its own, echo or an unknown type. */
const assignment = fc.record({
  v: fc.constant(1),
  taskId: id.map((s) => `fz${s}`),
  epoch: fc.integer({ min: 1, max: 1_000 }),
  // Never above the real leader's terms: a forged higher term would fence this worker against
  // the leader (see the note in docs/resilience.md); only the scheduler role may assign.
  term: fc.constant(0),
  attempt: fc.integer({ min: 1, max: 5 }),
  type: taskType,
  payload: json,
  timeoutMs: fc.integer({ min: 1, max: 5_000 }),
  resources: fc.record({ cpu: fc.constant(0), memoryMb: fc.constant(0), slots: fc.constant(1) }),
});

const report = fc.record({
  v: fc.constant(1),
  kind: fc.constantFrom("started", "progress", "succeeded", "failed", "timed_out", "released"),
  taskId: id,
  epoch: fc.integer({ min: 0, max: 1_000 }),
  workerId: id,
  at: fc.nat(),
  result: json,
});

/** Every subject and what is sent on it. */
function plan(
  prefix: string,
  workerId: string,
): { subject: string; bodies: fc.Arbitrary<string>; kind: "request" | "report" }[] {
  const s = subjects(prefix);
  const api = [
    [s.api.submit, submit],
    [s.api.submitMany, submitMany],
    [s.api.get, byId],
    [s.api.cancel, byId],
    [s.api.retry, byId],
    [s.api.list, list],
    [s.api.workers, fc.constant({})],
    [s.api.health, fc.constant({})],
    [s.api.pools.list, fc.constant({})],
    [s.api.pools.set, poolSet],
    [s.api.pools.delete, fc.record({ pool: poolName })],
    [s.api.schedules.create, scheduleSet],
    [s.api.schedules.update, scheduleSet],
    [s.api.schedules.get, scheduleById],
    [s.api.schedules.list, fc.constant({})],
    [s.api.schedules.pause, scheduleById],
    [s.api.schedules.resume, scheduleById],
    [s.api.schedules.delete, scheduleById],
    // Never the live worker: draining it would leave the last valid task nobody to run it.
    [
      s.api.drain,
      fc.record({
        workerId: fc.stringMatching(/^fz-[a-z0-9]{1,8}$/),
        graceMs: fc.integer({ min: 0, max: 5_000 }),
      }),
    ],
    [s.replicas, fc.constant({})],
    // As a named submitter: its limits and ownership checks on the way.
    [s.apiAs("fuzzer").submit, submit],
    [s.apiAs("fuzzer").submitMany, submitMany],
    [s.apiAs("fuzzer").cancel, byId],
    [s.apiAs("fuzzer").retry, byId],
    [s.apiAs("fuzzer").schedules.create, scheduleSet],
  ] as const;
  return [
    ...api.map(([subject, valid]) => ({
      subject,
      bodies: bodies(valid as fc.Arbitrary<Record<string, unknown>>),
      kind: "request" as const,
    })),
    { subject: s.workerAssign(workerId), bodies: bodies(assignment), kind: "request" as const },
    { subject: s.reportsWildcard, bodies: bodies(report), kind: "report" as const },
  ];
}

/** Why a reply breaks the rules (null: it is a structured accept or refusal). */
function judge(reply: string): { ok: boolean; code?: string } | string {
  let v: { ok?: unknown; error?: { code?: unknown }; results?: unknown };
  try {
    v = JSON.parse(reply) as typeof v;
  } catch {
    return "not JSON";
  }
  // A batch submit: every task's result is an accept or a structured refusal of its own.
  if (v.ok === true && Array.isArray(v.results))
    for (const r of v.results as unknown[]) {
      const item = judge(JSON.stringify(r));
      if (typeof item === "string") return `task result: ${item}`;
    }
  if (v.ok === true) return { ok: true };
  if (v.ok !== false || typeof v.error?.code !== "string") return "no ok/error";
  if (!KNOWN_CODES.has(v.error.code)) return `unknown code ${v.error.code}`;
  if (v.error.code === ErrorCode.Internal) return "internal";
  return { ok: false, code: v.error.code };
}

async function countRecords(nc: NatsConnection, prefix: string): Promise<number> {
  const kv = await new Kvm(nc).open(resourceNames(prefix).buckets.tasks);
  return (await kv.status()).values;
}

/** Runs the fuzz against the cluster at `nc` (prefix `prefix`, a live worker `workerId`). */
export async function fuzz(
  nc: NatsConnection,
  prefix: string,
  workerId: string,
  o: FuzzOptions,
): Promise<FuzzReport> {
  const report: FuzzReport = {
    seed: o.seed,
    sent: 0,
    subjects: {},
    failures: [],
    newTasks: 0,
    recordsBefore: await countRecords(nc, prefix),
    recordsAfter: 0,
    reportsStored: 0,
  };
  const js = jetstream(nc);
  const s = subjects(prefix);
  const steps = plan(prefix, workerId);
  for (const [i, step] of steps.entries()) {
    const samples = fc.sample(step.bodies, { numRuns: o.perSubject, seed: o.seed + i });
    const result: SubjectResult = { sent: 0, accepted: 0, refused: {} };
    report.subjects[step.subject] = result;
    let next = 0;
    const one = async (body: string): Promise<void> => {
      result.sent++;
      report.sent++;
      if (step.kind === "report") {
        // On a worker's own report subject for the task the body names, when it names one.
        let taskId = "t";
        let worker = "fz";
        try {
          const v = JSON.parse(body) as { taskId?: unknown; workerId?: unknown };
          if (typeof v.taskId === "string" && /^[A-Za-z0-9_-]{1,128}$/.test(v.taskId))
            taskId = v.taskId;
          if (typeof v.workerId === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(v.workerId))
            worker = v.workerId;
        } catch {
          // not JSON: the subject's defaults
        }
        await js.publish(s.report(worker, taskId), body);
        report.reportsStored++;
        result.accepted++;
        return;
      }
      let reply: string;
      try {
        reply = (await nc.request(step.subject, body, { timeout: 10_000 })).string();
      } catch (err) {
        report.failures.push({
          subject: step.subject,
          body: body.slice(0, 200),
          reply: String(err),
        });
        return;
      }
      const j = judge(reply);
      if (typeof j === "string") {
        report.failures.push({
          subject: step.subject,
          body: body.slice(0, 200),
          reply: `${j}: ${reply.slice(0, 200)}`,
        });
        return;
      }
      if (j.ok) {
        result.accepted++;
        if (
          (step.subject === s.api.submit || step.subject === s.apiAs("fuzzer").submit) &&
          !(JSON.parse(reply) as { duplicate: boolean }).duplicate
        )
          report.newTasks++;
        if (step.subject === s.api.submitMany || step.subject === s.apiAs("fuzzer").submitMany)
          for (const r of (JSON.parse(reply) as { results: { ok: boolean; duplicate?: boolean }[] })
            .results)
            if (r.ok && r.duplicate === false) report.newTasks++;
      } else result.refused[j.code!] = (result.refused[j.code!] ?? 0) + 1;
    };
    await Promise.all(
      Array.from({ length: o.concurrency ?? 16 }, async () => {
        while (next < samples.length) await one(samples[next++]!);
      }),
    );
    o.onSubject?.(step.subject, i + 1, steps.length);
  }
  report.recordsAfter = await countRecords(nc, prefix);
  return report;
}
