/**
 * NATS subject names and JetStream resource names, all derived from one prefix so that
 * several Drover installations can share a NATS account.
 */
import { DroverError, ErrorCode } from "./errors.ts";

/** Default prefix. */
export const DEFAULT_PREFIX = "drover";

const PREFIX_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/i;
/** One subject token that is safe to interpolate (no dots, wildcards or spaces). */
const TOKEN_RE = /^[A-Za-z0-9_-]{1,128}$/;
/** A dotted event kind, e.g. `task` or `worker.lost`. */
const KIND_RE = /^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,3}$/;

/** Throws `validation_failed` unless `prefix` matches /^[a-z0-9][a-z0-9_-]{0,31}$/i. */
export function assertPrefix(prefix: string): void {
  if (!PREFIX_RE.test(prefix)) {
    throw new DroverError(
      ErrorCode.ValidationFailed,
      `invalid prefix ${JSON.stringify(prefix)}: must match ${String(PREFIX_RE)}`,
      {
        issues: [
          { path: "prefix", message: `must match ${String(PREFIX_RE)}`, code: "invalid_format" },
        ],
      },
    );
  }
}

/** Refuses ids that would change the subject's shape (e.g. `a.b`, `>`). */
function token(kind: string, value: string): string {
  if (!TOKEN_RE.test(value)) {
    throw new DroverError(
      ErrorCode.ValidationFailed,
      `invalid ${kind} ${JSON.stringify(value)} in a subject`,
      {
        issues: [{ path: kind, message: `must match ${String(TOKEN_RE)}`, code: "invalid_format" }],
      },
    );
  }
  return value;
}

/** The request/reply API's subjects. */
export interface ApiSubjects {
  readonly submit: string;
  /** `…tasks.submit-many`: many submits in one request. */
  readonly submitMany: string;
  readonly get: string;
  readonly cancel: string;
  readonly retry: string;
  readonly list: string;
  readonly workers: string;
  readonly health: string;
  /** `…workers.drain`: an admin asks a worker to drain (no new work, finish, stop). */
  readonly drain: string;
  readonly pools: { readonly list: string; readonly set: string; readonly delete: string };
  /** `…schedules.<verb>`: recurring schedules (see schedule.ts). */
  readonly schedules: {
    readonly create: string;
    readonly update: string;
    readonly get: string;
    readonly list: string;
    readonly pause: string;
    readonly resume: string;
    readonly delete: string;
  };
}

/** Subject names and builders for one prefix; see {@link subjects}. */
export interface Subjects {
  readonly prefix: string;
  /** Request/reply API subjects (`<p>.api.tasks.submit`, …): requests of no named submitter. */
  readonly api: ApiSubjects;
  /**
   * The API as submitter `name` (`<p>.api.as.<name>.tasks.submit`, …). A NATS user allowed to
   * publish only `<p>.api.as.<its name>.>` cannot speak for anyone else, so the replicas know
   * who submitted, cancelled or retried a task, and apply that submitter's limits.
   */
  apiAs(name: string): ApiSubjects;
  /** `<p>.api.as.<name>.>`: every API subject of one submitter (its publish permission). */
  submitterApi(name: string): string;
  /**
   * What an API subject asks for: the plain subject of its endpoint (`<p>.api.tasks.submit`)
   * and the submitter it names (null on a plain subject); null for a malformed `as` subject.
   */
  parseApi(subject: string): { endpoint: string; submitter: string | null } | null;
  /** `<p>.api.>` */
  readonly apiWildcard: string;
  /** `<p>.worker.<id>.assign`: leader → worker assignment (request/reply). */
  workerAssign(workerId: string): string;
  /** `<p>.worker.<id>.cancel`: leader → worker cancel notice. */
  workerCancel(workerId: string): string;
  /** `<p>.worker.<id>.drain`: replica → worker drain request (request/reply). */
  workerDrain(workerId: string): string;
  /**
   * `<p>.api.replicas`: answered by every scheduler replica (no queue group), each with its
   * health, so that one request lists them all.
   */
  readonly replicas: string;
  /** `<p>.worker.>` */
  readonly workerWildcard: string;
  /**
   * `<p>.reports.<workerId>.<taskId>`: worker → leader reports (reports stream). The subject
   * names the reporting worker, so that NATS permissions can let each worker publish only
   * `<p>.reports.<its id>.>`; the leader refuses a report whose body names another worker.
   */
  report(workerId: string, taskId: string): string;
  /**
   * `<p>.reports.<taskId>`: where workers of earlier versions report. Still accepted from the
   * worker that holds the task, so that old workers keep working during a rolling upgrade.
   */
  legacyReport(taskId: string): string;
  /** `<p>.reports.<workerId>.>`: every report subject of one worker (its publish permission). */
  workerReports(workerId: string): string;
  /**
   * What a report subject names: the worker (null on a legacy subject) and the task; null for
   * a subject of another shape.
   */
  parseReport(subject: string): { workerId: string | null; taskId: string } | null;
  /** `<p>.reports.>` */
  readonly reportsWildcard: string;
  /** `<p>.events.<kind>`: observability events (events stream). */
  event(kind: string): string;
  /** `<p>.events.>` */
  readonly eventsWildcard: string;
  /**
   * `<p>.finished.<state>.<type, base64url>`: the index of finished tasks (finished stream),
   * one entry per finish. The type is encoded, since a type may contain dots.
   */
  finished(state: string, type: string): string;
  /** The filter of finished entries in some state (`*`: any) and of some type (undefined: any). */
  finishedFilter(state: string, type?: string): string;
  /** `<p>.finished.>` */
  readonly finishedWildcard: string;
}

/**
 * Subject names for `prefix`.
 * @param prefix installation prefix. @default "drover"
 * @throws DroverError `validation_failed` for an invalid prefix.
 */
export function subjects(prefix: string = DEFAULT_PREFIX): Subjects {
  assertPrefix(prefix);
  const p = prefix;
  const asHead = `${p}.api.as.`;
  return {
    prefix: p,
    api: apiSubjects(`${p}.api`),
    apiAs: (name) => apiSubjects(`${asHead}${token("submitter", name)}`),
    submitterApi: (name) => `${asHead}${token("submitter", name)}.>`,
    parseApi: (subject) => {
      if (!subject.startsWith(asHead)) return { endpoint: subject, submitter: null };
      const dot = subject.indexOf(".", asHead.length);
      const name = subject.slice(asHead.length, dot);
      if (dot < 0 || !TOKEN_RE.test(name)) return null;
      return { endpoint: `${p}.api${subject.slice(dot)}`, submitter: name };
    },
    apiWildcard: `${p}.api.>`,
    workerAssign: (id) => `${p}.worker.${token("workerId", id)}.assign`,
    workerCancel: (id) => `${p}.worker.${token("workerId", id)}.cancel`,
    workerDrain: (id) => `${p}.worker.${token("workerId", id)}.drain`,
    replicas: `${p}.api.replicas`,
    workerWildcard: `${p}.worker.>`,
    report: (workerId, taskId) =>
      `${p}.reports.${token("workerId", workerId)}.${token("taskId", taskId)}`,
    legacyReport: (taskId) => `${p}.reports.${token("taskId", taskId)}`,
    workerReports: (workerId) => `${p}.reports.${token("workerId", workerId)}.>`,
    parseReport: (subject) => {
      const head = `${p}.reports.`;
      if (!subject.startsWith(head)) return null;
      const rest = subject.slice(head.length).split(".");
      if (!rest.every((t) => TOKEN_RE.test(t))) return null;
      if (rest.length === 1) return { workerId: null, taskId: rest[0]! };
      if (rest.length === 2) return { workerId: rest[0]!, taskId: rest[1]! };
      return null;
    },
    reportsWildcard: `${p}.reports.>`,
    event: (kind) => {
      if (!KIND_RE.test(kind)) {
        throw new DroverError(
          ErrorCode.ValidationFailed,
          `invalid event kind ${JSON.stringify(kind)}`,
        );
      }
      return `${p}.events.${kind}`;
    },
    eventsWildcard: `${p}.events.>`,
    finished: (state, type) => `${p}.finished.${state}.${typeToken(type)}`,
    finishedFilter: (state, type) =>
      `${p}.finished.${state}.${type === undefined ? "*" : typeToken(type)}`,
    finishedWildcard: `${p}.finished.>`,
  };
}

/** The API's subjects under `head` (`<p>.api` or `<p>.api.as.<name>`). */
function apiSubjects(head: string): ApiSubjects {
  return {
    submit: `${head}.tasks.submit`,
    submitMany: `${head}.tasks.submit-many`,
    get: `${head}.tasks.get`,
    cancel: `${head}.tasks.cancel`,
    retry: `${head}.tasks.retry`,
    list: `${head}.tasks.list`,
    workers: `${head}.workers.list`,
    health: `${head}.health`,
    drain: `${head}.workers.drain`,
    pools: { list: `${head}.pools.list`, set: `${head}.pools.set`, delete: `${head}.pools.delete` },
    schedules: {
      create: `${head}.schedules.create`,
      update: `${head}.schedules.update`,
      get: `${head}.schedules.get`,
      list: `${head}.schedules.list`,
      pause: `${head}.schedules.pause`,
      resume: `${head}.schedules.resume`,
      delete: `${head}.schedules.delete`,
    },
  };
}

/** A task type as one subject token (types may contain dots). */
function typeToken(type: string): string {
  return Buffer.from(type).toString("base64url");
}

/** JetStream bucket and stream names for one prefix; see {@link resourceNames}. */
export interface ResourceNames {
  readonly buckets: {
    /** `<p>-tasks`: task records. */
    readonly tasks: string;
    /** `<p>-workers`: worker heartbeats (TTL). */
    readonly workers: string;
    /** `<p>-leader`: the leadership lease. */
    readonly leader: string;
    /** `<p>-idempotency`: idempotency key → task id. */
    readonly idempotency: string;
    /** `<p>-pools`: worker pools' policies and the leader's scale decisions. */
    readonly pools: string;
    /** `<p>-schedules`: recurring schedules and what the leader fired of them. */
    readonly schedules: string;
  };
  readonly streams: {
    /** `<P>_REPORTS`: worker reports. */
    readonly reports: string;
    /** `<P>_EVENTS`: observability events. */
    readonly events: string;
    /** `<P>_FINISHED`: the index of finished tasks, by state and type, in finishing order. */
    readonly finished: string;
  };
}

/**
 * KV bucket and stream names for `prefix` (P = prefix uppercased).
 * @param prefix installation prefix. @default "drover"
 * @throws DroverError `validation_failed` for an invalid prefix.
 */
export function resourceNames(prefix: string = DEFAULT_PREFIX): ResourceNames {
  assertPrefix(prefix);
  const P = prefix.toUpperCase().replace(/[^A-Za-z0-9_-]/g, "_");
  return {
    buckets: {
      tasks: `${prefix}-tasks`,
      workers: `${prefix}-workers`,
      leader: `${prefix}-leader`,
      idempotency: `${prefix}-idempotency`,
      pools: `${prefix}-pools`,
      schedules: `${prefix}-schedules`,
    },
    streams: { reports: `${P}_REPORTS`, events: `${P}_EVENTS`, finished: `${P}_FINISHED` },
  };
}
