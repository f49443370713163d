/**
 * `drover bench-placement`: what one placement costs the leader with 10, 100, 1,000 and 10,000
 * live workers (every worker checked against the task, the fitting ones ranked), what trimming
 * the decision for the task's record costs, and how large the record is with and without the
 * trim. Pure computation, no NATS: CPU time on the leader's event loop.
 */
import type { WorkerView } from "../actors/index.ts";
import {
  applyTaskEvent,
  createStrategy,
  isStrategyName,
  recordedDecision,
  STRATEGY_NAMES,
} from "../actors/index.ts";
import type { Placement } from "../protocol/index.ts";
import { newTaskRecord, SubmitTaskRequest } from "../protocol/index.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";
import { positiveIntFlag } from "./flags.ts";
import { medianMicros } from "./median-micros.ts";

const SIZES = [10, 100, 1_000, 10_000];

/** `n` workers: every 10th runs another type, every 10th (offset 5) is full, the rest fit. */
function fleet(n: number): WorkerView[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `worker-${i}`,
    types: i % 10 === 0 ? ["other"] : ["build"],
    labels: {},
    capacity: { cpu: 8, memoryMb: 16_384, slots: 16 },
    used:
      i % 10 === 5
        ? { cpu: 8, memoryMb: 16_384, slots: 16 }
        : { cpu: i % 8, memoryMb: 512 * (i % 16), slots: i % 16 },
    lastAssignedAt: i,
    state: "ready",
  }));
}

/** Bytes of the record of a task assigned with `placement`. */
function recordBytes(placement: Placement): number {
  const r = newTaskRecord(
    "t_0123456789abcdefghijkl",
    SubmitTaskRequest.parse({ type: "build" }),
    0,
  );
  const res = applyTaskEvent(r, {
    type: "ASSIGN",
    at: 1,
    workerId: placement.workerId ?? "none",
    term: 1,
    placement,
  });
  return Buffer.byteLength(JSON.stringify(res.ok ? res.record : r));
}

export const benchPlacementCommand: Command = {
  name: "bench-placement",
  summary: "measure one placement and its record with 10, 100, 1,000 and 10,000 workers",
  usage: `drover bench-placement [--strategy ${STRATEGY_NAMES.join("|")}] [--calls 20000]`,
  options: { strategy: { type: "string", default: "best-fit" }, calls: { type: "string" } },
  run({ values }) {
    const name = String(values.strategy);
    if (!isStrategyName(name))
      throw new UsageError(`unknown --strategy '${name}' (one of: ${STRATEGY_NAMES.join(", ")})`);
    const budget = positiveIntFlag(values, "calls", 20_000);
    const rows: string[] = [
      `| ${name}: workers | placement | trimming for the record | record (every candidate) | record (as kept) |`,
      "| ---: | ---: | ---: | ---: | ---: |",
    ];
    const task = {
      id: "t1",
      type: "build",
      resources: { cpu: 1, memoryMb: 256, slots: 1 },
      labels: {},
      key: null,
    };
    for (const n of SIZES) {
      const workers = fleet(n);
      const strategy = createStrategy(name);
      const ctx = { random: Math.random };
      // About `budget` worker checks a round, so every size takes similar time.
      const calls = Math.max(5, Math.floor(budget / n));
      const placeUs = medianMicros(() => strategy.place(task, workers, ctx), calls);
      const decision = strategy.place(task, workers, ctx);
      const trimUs = medianMicros(() => recordedDecision(decision), calls);
      const full = recordBytes({ ...decision, at: 1 });
      const kept = recordBytes({ ...recordedDecision(decision), at: 1 });
      console.log(
        JSON.stringify({
          strategy: name,
          workers: n,
          placeUs,
          trimUs,
          fullBytes: full,
          keptBytes: kept,
        }),
      );
      rows.push(
        `| ${n.toLocaleString("en-US")} | ${placeUs.toFixed(1)} µs | ${trimUs.toFixed(1)} µs | ${full.toLocaleString("en-US")} B | ${kept.toLocaleString("en-US")} B |`,
      );
    }
    console.log(rows.join("\n"));
    return Promise.resolve(0);
  },
};
