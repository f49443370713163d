/**
 * What a task handler sees. Handlers are plain async functions keyed by task type; a worker
 * runs them with the task's payload, an AbortSignal (timeout, cancel, drain, self-fencing),
 * a progress reporter, the attempt number and a child logger.
 */
import type { Logger } from "pino";
import type { JsonValue } from "../protocol/index.ts";

export interface TaskContext<P = JsonValue> {
  taskId: string;
  type: string;
  payload: P;
  /** Aborted when the task times out, is cancelled, or the worker fences itself or drains. */
  signal: AbortSignal;
  /** Reports progress (any JSON value); throttled, the latest value wins. */
  progress: (value: JsonValue) => void;
  /** 1 on the first run, counting every assignment. */
  attempt: number;
  /**
   * The assignment's epoch: a new one each time the task is placed. Two executions with the
   * same epoch would be the same assignment run twice, which Drover never does.
   */
  epoch: number;
  log: Logger;
}

/** A task handler. Throw `NonRetryableError` to fail without retries. */
export type TaskHandler<P = JsonValue> = (
  ctx: TaskContext<P>,
) => Promise<JsonValue | void> | JsonValue | void;

/** Handlers by task type. */
export type HandlerMap = Record<string, TaskHandler>;

/**
 * Identity helper that gives a handler module types:
 * @example
 * export default defineHandlers({ echo: async ({ payload }) => payload });
 */
export function defineHandlers<H extends HandlerMap>(handlers: H): H {
  return handlers;
}
