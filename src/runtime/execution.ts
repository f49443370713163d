/**
 * One execution of a task handler on a worker: the handler's context (payload, signal,
 * throttled progress), its timeout, the `started` report for handlers that take a moment, and
 * the final report it leads to. The worker (`worker.ts`) keeps the bookkeeping around it:
 * which tasks run, its capacity, the reports in flight.
 */
import type { Logger } from "pino";
import type { Assignment, JsonValue, Report, TaskError } from "../protocol/index.ts";
import {
  deeperThan,
  DroverError,
  ErrorCode,
  MAX_JSON_DEPTH,
  NonRetryableError,
} from "../protocol/index.ts";
import type { HandlerMap } from "./handler.ts";

/** A report without the fields the worker fills in. */
export type ReportBody = Report extends unknown
  ? Report extends infer R
    ? R extends Report
      ? Omit<R, "v" | "workerId" | "at">
      : never
    : never
  : never;

/** A running execution, as the worker tracks it. */
export interface Execution {
  taskId: string;
  epoch: number;
  controller: AbortController;
  /** Why it was aborted; decides what (if anything) is reported. */
  outcome: "timed_out" | "cancelled" | "fenced" | "released" | null;
  done: Promise<void>;
}

export interface ExecutionHooks {
  log: Logger;
  /** Minimum interval between two progress reports. */
  progressIntervalMs: number;
  /** A handler still running after this long is reported `started`. */
  startedReportDelayMs: number;
  /** Publishes a report of this execution (`started`, `progress`). */
  report(body: ReportBody): Promise<void>;
  /** Why a released task was handed back (said in its report). */
  releaseReason(): string;
}

/**
 * Runs `handler` for assignment `a` under `exec.controller` and resolves, once the handler has
 * ended or been aborted, with the final report to send: its result, its error, `timed_out`,
 * `released` — or null for a fenced or cancelled execution, whose task is someone else's now.
 * An aborted handler that ignores its signal is left behind: the race with the abort ends it
 * as far as Drover is concerned.
 */
export async function runHandler(
  a: Assignment,
  handler: HandlerMap[string],
  exec: Execution,
  hooks: ExecutionHooks,
): Promise<ReportBody | null> {
  const { controller } = exec;
  const { log } = hooks;
  let lastProgressAt = 0;
  let pendingProgress: { value: JsonValue } | null = null;
  let progressTimer: NodeJS.Timeout | null = null;
  const sendProgress = (): void => {
    progressTimer = null;
    if (pendingProgress === null || controller.signal.aborted) return;
    const value = pendingProgress.value;
    pendingProgress = null;
    lastProgressAt = Date.now();
    void hooks.report({ kind: "progress", taskId: a.taskId, epoch: a.epoch, progress: value });
  };
  const timeout = setTimeout(() => {
    exec.outcome ??= "timed_out";
    controller.abort(new DroverError(ErrorCode.Timeout, `timed out after ${a.timeoutMs} ms`));
  }, a.timeoutMs);
  // `started` goes out only if the handler is still running after a moment: a task that
  // finishes at once goes straight from assigned to its result (one report, one write less).
  const started: { sent: Promise<void> | null } = { sent: null };
  const startedTimer = setTimeout(() => {
    started.sent = hooks.report({ kind: "started", taskId: a.taskId, epoch: a.epoch });
  }, hooks.startedReportDelayMs);
  const aborted = new Promise<never>((_, reject) =>
    controller.signal.addEventListener("abort", () => reject(controller.signal.reason as Error), {
      once: true,
    }),
  );
  aborted.catch(() => undefined);
  let report: ReportBody | null;
  try {
    const result = await Promise.race([
      Promise.resolve().then(() =>
        handler({
          taskId: a.taskId,
          type: a.type,
          payload: a.payload,
          signal: controller.signal,
          attempt: a.attempt,
          epoch: a.epoch,
          log,
          progress: (value) => {
            pendingProgress = { value };
            if (progressTimer === null)
              progressTimer = setTimeout(
                sendProgress,
                Math.max(0, lastProgressAt + hooks.progressIntervalMs - Date.now()),
              );
          },
        }),
      ),
      aborted,
    ]);
    // A result the leader could not decode (nested deeper than any message may be) fails the
    // task with the reason, rather than leaving it to time out and run again.
    report =
      exec.outcome !== null
        ? null
        : deeperThan(result, MAX_JSON_DEPTH - 1)
          ? {
              kind: "failed",
              taskId: a.taskId,
              epoch: a.epoch,
              error: {
                code: "result_too_deep",
                message: `the handler's result nests deeper than ${MAX_JSON_DEPTH - 1} levels`,
                retryable: false,
              },
            }
          : { kind: "succeeded", taskId: a.taskId, epoch: a.epoch, result: result ?? null };
  } catch (err) {
    if (exec.outcome === null) {
      const error: TaskError = {
        code:
          err instanceof DroverError || err instanceof NonRetryableError
            ? err.code
            : "handler_error",
        message: err instanceof Error ? err.message : String(err),
        retryable: !(err instanceof NonRetryableError),
      };
      log.warn({ err }, "handler failed");
      report = { kind: "failed", taskId: a.taskId, epoch: a.epoch, error };
    } else report = null;
  } finally {
    clearTimeout(timeout);
    clearTimeout(startedTimer);
    if (progressTimer !== null) clearTimeout(progressTimer);
  }
  if (started.sent !== null) await started.sent;
  if (exec.outcome === "timed_out") return { kind: "timed_out", taskId: a.taskId, epoch: a.epoch };
  if (exec.outcome === "released")
    return { kind: "released", taskId: a.taskId, epoch: a.epoch, reason: hooks.releaseReason() };
  return report;
}
