/**
 * One execution of a handler on a worker, without a server: what it reports for each way a
 * handler can end, and the `started` and progress reports on the way.
 */
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { DroverError, ErrorCode, NonRetryableError } from "../../src/protocol/index.ts";
import type { Assignment } from "../../src/protocol/index.ts";
import type { HandlerMap } from "../../src/runtime/index.ts";
import { runHandler } from "../../src/runtime/execution.ts";
import type { Execution, ReportBody } from "../../src/runtime/execution.ts";

const a: Assignment = {
  v: 1,
  taskId: "t1",
  epoch: 3,
  term: 1,
  attempt: 2,
  type: "x",
  payload: { n: 1 },
  timeoutMs: 1_000,
  resources: { cpu: 0, memoryMb: 0, slots: 1 },
};

function run(handler: HandlerMap[string], o: { timeoutMs?: number; startedMs?: number } = {}) {
  const exec: Execution = {
    taskId: a.taskId,
    epoch: a.epoch,
    controller: new AbortController(),
    outcome: null,
    done: Promise.resolve(),
  };
  const sent: ReportBody[] = [];
  const final = runHandler({ ...a, timeoutMs: o.timeoutMs ?? a.timeoutMs }, handler, exec, {
    log: pino({ level: "silent" }),
    progressIntervalMs: 50,
    startedReportDelayMs: o.startedMs ?? 1_000,
    report: (body) => {
      sent.push(body);
      return Promise.resolve();
    },
    releaseReason: () => "worker closed",
  });
  return { exec, sent, final };
}

describe("runHandler", () => {
  it("a result is `succeeded`; the handler sees its payload, attempt and epoch", async () => {
    const r = run(({ payload, attempt, epoch }) => ({ payload, attempt, epoch }));
    expect(await r.final).toEqual({
      kind: "succeeded",
      taskId: "t1",
      epoch: 3,
      result: { payload: { n: 1 }, attempt: 2, epoch: 3 },
    });
    // Quick: no `started` report (one write less).
    expect(r.sent).toEqual([]);
  });

  it("a throw is a retryable failure; NonRetryableError is not", async () => {
    const f = await run(() => {
      throw new Error("boom");
    }).final;
    expect(f).toMatchObject({ kind: "failed", error: { code: "handler_error", retryable: true } });
    const n = await run(() => {
      throw new NonRetryableError("bad input");
    }).final;
    expect(n).toMatchObject({ kind: "failed", error: { message: "bad input", retryable: false } });
  });

  it("past its timeout the signal aborts and the execution reports `timed_out`", async () => {
    let aborted = false;
    const r = run(
      ({ signal }) =>
        new Promise((_, reject) =>
          signal.addEventListener("abort", () => {
            aborted = true;
            reject(signal.reason as Error);
          }),
        ),
      { timeoutMs: 30 },
    );
    expect(await r.final).toEqual({ kind: "timed_out", taskId: "t1", epoch: 3 });
    expect(aborted).toBe(true);
  });

  it("released: `released` with the reason; fenced or cancelled: nothing", async () => {
    const never = (): Promise<never> => new Promise(() => undefined);
    for (const [outcome, expected] of [
      ["released", { kind: "released", taskId: "t1", epoch: 3, reason: "worker closed" }],
      ["fenced", null],
      ["cancelled", null],
    ] as const) {
      // A handler that ignores its signal is left behind: the abort ends the execution.
      const r = run(never);
      r.exec.outcome = outcome;
      r.exec.controller.abort(new DroverError(ErrorCode.Unavailable, outcome));
      expect(await r.final).toEqual(expected);
    }
  });

  it("a slow handler is reported `started`; progress is throttled to the latest value", async () => {
    const r = run(
      async ({ progress }) => {
        for (let i = 1; i <= 5; i++) progress(i);
        await new Promise((resolve) => setTimeout(resolve, 120));
        return "done";
      },
      { startedMs: 10 },
    );
    expect(await r.final).toMatchObject({ kind: "succeeded", result: "done" });
    expect(r.sent.map((s) => s.kind)).toEqual(["progress", "started"]);
    expect(r.sent[0]).toMatchObject({ kind: "progress", progress: 5 });
  });
});
