/**
 * `drover bench-machines`: what a machine step costs, pure computation, no NATS. A task's three
 * steps of a no-op run (create → assign → succeed), and a worker's assignment and finish with
 * 0, 10, 100, 1,000 and 10,000 tasks already running, so the worker's bookkeeping can be seen
 * not to grow with what it runs.
 */
import type { WorkerEvent, WorkerSnapshot } from "../actors/index.ts";
import { applyTaskEvent, applyWorkerEvent, initialWorkerSnapshot } from "../actors/index.ts";
import type { Placement } from "../protocol/index.ts";
import { newTaskRecord, SubmitTaskRequest } from "../protocol/index.ts";
import type { Command } from "./command.ts";
import { positiveIntFlag } from "./flags.ts";
import { medianMicros } from "./median-micros.ts";

const RUNNING = [0, 10, 100, 1_000, 10_000];

const PLACEMENT: Placement = {
  strategy: "best-fit",
  workerId: "w",
  reason: "best-fit: w leaves least capacity (score 0.958)",
  candidates: [{ workerId: "w", fits: true, score: 0.958 }],
  at: 1,
};

function mustApply(s: WorkerSnapshot, e: WorkerEvent): WorkerSnapshot {
  const r = applyWorkerEvent(s, e);
  if (!r.ok) throw new Error(r.reason);
  return r.snapshot;
}

/** µs per create → assign → succeed of one task's record. */
function taskSteps(calls: number): number {
  const req = SubmitTaskRequest.parse({ type: "noop" });
  return medianMicros((i) => {
    const created = newTaskRecord(`t${i}`, req, 0);
    const assigned = applyTaskEvent(created, {
      type: "ASSIGN",
      at: 1,
      workerId: "w",
      term: 1,
      placement: PLACEMENT,
    });
    if (!assigned.ok) throw new Error(assigned.reason);
    const done = applyTaskEvent(assigned.record, {
      type: "SUCCEED",
      at: 2,
      epoch: assigned.record.epoch,
      result: null,
    });
    if (!done.ok) throw new Error(done.reason);
  }, calls);
}

/** µs per assignment and finish of one task on a worker already running `running` tasks. */
function workerSteps(running: number, calls: number): number {
  const resources = { cpu: 1, memoryMb: 1, slots: 1 };
  let s = initialWorkerSnapshot({
    workerId: "w",
    capacity: { cpu: 1e9, memoryMb: 1e12, slots: 1e9 },
    heartbeatTtlMs: 1_000,
  });
  s = mustApply(s, { type: "CONNECTED", at: 1 });
  s = mustApply(s, { type: "REGISTERED", at: 2 });
  for (let i = 0; i < running; i++)
    s = mustApply(s, { type: "ASSIGN", at: 3, taskId: `r${i}`, epoch: 1, resources });
  return medianMicros((i) => {
    s = mustApply(s, { type: "ASSIGN", at: 4, taskId: `x${i}`, epoch: 1, resources });
    s = mustApply(s, { type: "TASK_FINISHED", at: 5, taskId: `x${i}` });
  }, calls);
}

export const benchMachinesCommand: Command = {
  name: "bench-machines",
  summary: "measure a task's machine steps and a worker's with 0 to 10,000 tasks running",
  usage: "drover bench-machines [--calls 20000]",
  options: { calls: { type: "string" } },
  run({ values }) {
    const calls = positiveIntFlag(values, "calls", 20_000);
    const task = taskSteps(calls);
    console.log(JSON.stringify({ machine: "task", steps: "create+assign+succeed", us: task }));
    const rows = [
      `task: create → assign → succeed ${task.toFixed(1)} µs`,
      "| worker: tasks running | assign + finish one more |",
      "| ---: | ---: |",
    ];
    for (const running of RUNNING) {
      const us = workerSteps(running, Math.max(50, Math.floor(calls / (1 + running / 100))));
      console.log(JSON.stringify({ machine: "worker", running, us }));
      rows.push(`| ${running.toLocaleString("en-US")} | ${us.toFixed(1)} µs |`);
    }
    console.log(rows.join("\n"));
    return Promise.resolve(0);
  },
};
