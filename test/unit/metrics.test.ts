/**
 * The metrics a replica counts from the state changes it writes, and the `--metrics-port`
 * flag; the endpoints themselves are tested against a real cluster (integration/metrics).
 */
import { afterEach, describe, expect, it } from "vitest";
import { metricsPort } from "../../src/cli/metrics.ts";
import { UsageError } from "../../src/cli/command.ts";
import type { TaskRecord } from "../../src/protocol/index.ts";
import { newTaskRecord, SubmitTaskRequest } from "../../src/protocol/index.ts";
import { ReplicaMetrics } from "../../src/runtime/index.ts";
import { metric, parseMetrics } from "../fixtures/prometheus.ts";

const base = newTaskRecord("t1", SubmitTaskRequest.parse({ type: "resize" }), 1_000);
const at = (o: Partial<TaskRecord>): TaskRecord => ({ ...base, ...o });

function replicaMetrics(): ReplicaMetrics {
  return new ReplicaMetrics({
    replicaId: "r1",
    leading: () => true,
    term: () => 7,
    mirror: () => null,
    scheduler: () => null,
    autoscaler: () => null,
  });
}

describe("ReplicaMetrics.transition", () => {
  it("measures submit→start on the first attempt only, from its start or else its assignment", async () => {
    const m = replicaMetrics();
    const assigned = at({ state: "assigned", attempt: 1, assignedAt: 1_100 });
    m.transition(assigned, { ...assigned, state: "running", startedAt: 1_250 }, "START");
    // Finished before saying it started: the assignment time stands in.
    m.transition(assigned, { ...assigned, state: "succeeded", finishedAt: 1_400 }, "SUCCEED");
    // A second attempt is not a submit→start.
    const second = at({ state: "assigned", attempt: 2, assignedAt: 5_000 });
    m.transition(second, { ...second, state: "running", startedAt: 5_100 }, "START");
    const s = parseMetrics(await m.registry.metrics());
    expect(metric(s, "drover_task_submit_to_start_seconds_count", { type: "resize" })).toBe(2);
    expect(metric(s, "drover_task_submit_to_start_seconds_sum", { type: "resize" })).toBeCloseTo(
      0.35,
    );
    expect(
      metric(s, "drover_task_submit_to_done_seconds_sum", { state: "succeeded", type: "resize" }),
    ).toBeCloseTo(0.4);
    expect(metric(s, "drover_tasks_finished_total", { state: "succeeded" })).toBe(1);
    expect(metric(s, "drover_leader_term")).toBe(7);
    expect(metric(s, "drover_replica_leader", { replica: "r1" })).toBe(1);
  });

  it("counts retries by policy and by user, and dead tasks", async () => {
    const m = replicaMetrics();
    const running = at({ state: "running", attempt: 1, startedAt: 1_100 });
    m.transition(running, { ...running, state: "retrying" }, "FAIL");
    m.transition(running, { ...running, state: "dead", finishedAt: 3_000 }, "FAIL");
    const dead = at({ state: "dead", finishedAt: 3_000 });
    m.transition(dead, { ...dead, state: "queued" }, "RETRY");
    const s = parseMetrics(await m.registry.metrics());
    expect(metric(s, "drover_task_retries_total", { by: "policy" })).toBe(1);
    expect(metric(s, "drover_task_retries_total", { by: "user" })).toBe(1);
    expect(metric(s, "drover_tasks_finished_total", { state: "dead", type: "resize" })).toBe(1);
  });
});

describe("--metrics-port", () => {
  afterEach(() => {
    delete process.env.DROVER_METRICS_PORT;
  });

  it("defaults, follows the flag over the environment, and refuses what is not a port", () => {
    expect(metricsPort({}, 9464)).toEqual({ port: 9464, explicit: false });
    process.env.DROVER_METRICS_PORT = "9700";
    expect(metricsPort({}, 9464)).toEqual({ port: 9700, explicit: true });
    expect(metricsPort({ "metrics-port": "0" }, 9464)).toEqual({ port: 0, explicit: true });
    expect(metricsPort({ "metrics-port": "off" }, 9464)).toBeNull();
    expect(() => metricsPort({ "metrics-port": "70000" }, 9464)).toThrow(UsageError);
    expect(() => metricsPort({ "metrics-port": "-1" }, 9464)).toThrow(/0\.\.65535 or 'off'/);
  });
});
