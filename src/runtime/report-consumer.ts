/**
 * The leader's consumer of worker reports (the reports stream's durable `leader` consumer),
 * for one term: each report is decoded at the edge and applied to its task's record as a
 * task-machine event (stale ones — an old epoch, another worker — are refused and counted), in
 * order with the leader's other work on the same task. A report whose subject names another
 * worker or task than its body is refused before it reaches the task (see
 * `reportSubjectMismatch`).
 */
import type { ConsumerMessages, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { eventFromReport } from "../actors/index.ts";
import type { ReportDroppedEvent, Subjects } from "../protocol/index.ts";
import {
  decode,
  encode,
  MAX_MESSAGE_BYTES,
  Report,
  reportSubjectMismatch,
} from "../protocol/index.ts";
import type { EventOutbox } from "./event-outbox.ts";
import { rateLimited } from "./log-limit.ts";
import type { Mirror } from "./mirror.ts";
import type { TaskStore } from "./task-store.ts";

/** What the consumer counts (part of the scheduler's stats). */
export interface ReportStats {
  /** Reports refused: malformed, not matching their subject, or stale (an old epoch, another worker). */
  refusedReports: number;
  /**
   * Reports accepted on the legacy subject `<p>.reports.<taskId>` (workers of an earlier
   * version): 0 for a while means a rolling upgrade of the workers is complete.
   */
  legacyReports: number;
  /** Reports given up on: their write failed on every delivery. */
  droppedReports: number;
  acceptedCompletions: number;
}

export interface ReportConsumerDeps {
  js: JetStreamClient;
  reportsStream: string;
  store: TaskStore;
  mirror: Mirror;
  events: EventOutbox;
  subjects: Subjects;
  log: Logger;
  stats: ReportStats;
  /** Runs work for one task strictly after the leader's previous work for it. */
  serial(taskId: string, fn: () => Promise<unknown>): void;
}

export class ReportConsumer {
  readonly #d: ReportConsumerDeps;
  readonly #term: number;
  #stopped = false;
  #messages: ConsumerMessages | null = null;
  #maxDeliver = Infinity;
  readonly #malformed = rateLimited(1_000);
  readonly #mismatched = rateLimited(1_000);
  readonly #done: Promise<void>;

  /** Starts consuming at once, for as long as `stop` is not called. */
  constructor(deps: ReportConsumerDeps, term: number) {
    this.#d = deps;
    this.#term = term;
    this.#done = this.#run();
  }

  /** Stops consuming and waits for the consumer to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#messages?.close().catch(() => undefined);
    await this.#done.catch(() => undefined);
  }

  /**
   * Consumes for as long as the term lasts. A consumer that ends while the term goes on (a
   * reconnect it did not survive, a deleted consumer) is started again: a leader that stops
   * reading reports would leave every running task stuck.
   */
  async #run(): Promise<void> {
    const { js, reportsStream, log } = this.#d;
    while (!this.#stopped) {
      try {
        const consumer = await js.consumers.get(reportsStream, "leader");
        // The consumer's own bound (set by ensureResources), so the last delivery is known.
        const { config } = await consumer.info(true);
        const max = config.max_deliver ?? -1;
        this.#maxDeliver = max > 0 ? max : Infinity;
        const messages = await consumer.consume({ max_messages: 512 });
        this.#messages = messages;
        // Stopped meanwhile: close, without waiting here. The close only completes once the
        // loop below has read the iterator to its end; awaiting it first never returns (and
        // a leader stepping down would wait on it forever).
        if (this.#stopped) void messages.close().catch(() => undefined);
        for await (const m of messages) this.#onReport(m);
      } catch (err) {
        log.warn({ err: (err as Error).message }, "reports consumer failed");
      }
      if (this.#stopped) break;
      log.warn({ term: this.#term }, "reports consumer ended while leading; restarting it");
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  #onReport(m: JsMsg): void {
    let report: Report;
    try {
      // A result may be as large as the payload it was computed from: accept what NATS carries.
      report = decode(Report, m.data, { maxBytes: MAX_MESSAGE_BYTES });
    } catch (err) {
      // Counted, and logged at most once a second: a flood of them must not flood the log.
      this.#d.stats.refusedReports++;
      const reason = (err as Error).message.split("\n")[0]!.slice(0, 200);
      this.#malformed((n) =>
        this.#d.log.warn(
          { subject: m.subject, reason, occurrences: n },
          "malformed report dropped",
        ),
      );
      m.term();
      return;
    }
    const subject = this.#d.subjects.parseReport(m.subject);
    const mismatch = reportSubjectMismatch(subject, report);
    if (mismatch !== null) {
      this.#d.stats.refusedReports++;
      this.#mismatched((n) =>
        this.#d.log.warn(
          {
            subject: m.subject,
            taskId: report.taskId,
            workerId: report.workerId,
            reason: mismatch,
            occurrences: n,
          },
          "report refused: its subject does not match it",
        ),
      );
      m.term();
      return;
    }
    if (subject?.workerId === null) this.#d.stats.legacyReports++;
    this.#d.serial(report.taskId, async () => {
      try {
        await this.#apply(report);
        m.ack();
      } catch (err) {
        this.#failed(m, report, err);
        throw err;
      }
    });
  }

  async #apply(report: Report): Promise<void> {
    const { store, mirror, stats, log } = this.#d;
    const res = await store.apply(
      report.taskId,
      () => eventFromReport(report, Date.now(), Math.random()),
      // The mirror usually holds the latest revision: one KV write instead of a read and a write.
      { countStale: true, known: mirror.known(report.taskId) },
    );
    if (!res.ok && res.stale) {
      stats.refusedReports++;
      log.info(
        {
          taskId: report.taskId,
          epoch: report.epoch,
          kind: report.kind,
          workerId: report.workerId,
          reason: res.reason,
        },
        "stale report refused",
      );
    } else if (res.ok && res.changed && report.kind === "succeeded") {
      stats.acceptedCompletions++;
    }
  }

  /**
   * A report whose write failed comes back soon (with a growing delay) rather than after the
   * consumer's ack wait, up to the consumer's `max_deliver`. The last failure is recorded (an
   * error log, `droppedReports`, and a `report.dropped` event) and the report terminated, so
   * that it is never redelivered forever. Its task is not lost: a task whose report never lands
   * is timed out by the run backstop and retried under its retry policy.
   */
  #failed(m: JsMsg, report: Report, err: unknown): void {
    const deliveries = m.info.deliveryCount;
    if (deliveries < this.#maxDeliver) {
      m.nak(Math.min(5_000, 100 * 2 ** (deliveries - 1)));
      return;
    }
    this.#d.stats.droppedReports++;
    const dropped: ReportDroppedEvent = {
      v: 1,
      kind: "report.dropped",
      taskId: report.taskId,
      epoch: report.epoch,
      report: report.kind,
      workerId: report.workerId,
      deliveries,
      error: err instanceof Error ? err.message : String(err),
      at: Date.now(),
    };
    this.#d.log.error(dropped, "report dropped: its write failed on every delivery");
    this.#d.events.publish(
      this.#d.subjects.event("report.dropped"),
      encode(dropped),
      `report.dropped:${report.taskId}:${report.epoch}:${report.kind}`,
    );
    m.term("its write failed on every delivery");
  }
}

/** How long a requeue waits for a leaving worker's stored reports to be applied, at most. */
export const REPORTS_APPLIED_BOUND_MS = 5_000;

/**
 * Resolves once the reports stream (work-queue retention: the leader's acknowledgement, after
 * applying a report, removes it) holds no message under `filter` — one worker's report
 * subjects — or after `boundMs`, or when the stream cannot be read. Never rejects.
 */
export async function reportsApplied(
  js: JetStreamClient,
  stream: string,
  filter: string,
  boundMs = REPORTS_APPLIED_BOUND_MS,
): Promise<void> {
  const until = Date.now() + boundMs;
  try {
    const jsm = await js.jetstreamManager();
    for (;;) {
      const { state } = await jsm.streams.info(stream, { subjects_filter: filter });
      const left = Object.values(state.subjects ?? {}).reduce((a, b) => a + b, 0);
      if (left === 0 || Date.now() >= until) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch {
    // The requeue goes ahead: a report applied later than it is refused as stale.
  }
}
