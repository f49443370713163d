/**
 * `drover bench-demand`: what the leader's autoscaler costs per tick (once a second), at 1×,
 * 10× and 100× a small cluster: pool demand over the live workers and the queued shapes, and
 * one autoscaler machine step per pool. Pure computation, no NATS: the numbers are CPU time on
 * the leader's event loop.
 */
import { performance } from "node:perf_hooks";
import type { AutoscalerSnapshot, DemandWorker, Shape } from "../actors/index.ts";
import { applyAutoscalerEvent, initialAutoscalerSnapshot, poolDemand } from "../actors/index.ts";
import type { PoolTemplate } from "../protocol/index.ts";
import { ScalePolicy } from "../protocol/index.ts";
import type { Command } from "./command.ts";
import { positiveIntFlag } from "./flags.ts";

interface Size {
  pools: number;
  workers: number;
  shapes: number;
  queued: number;
  /** Every third shape of a type no pool runs (a full scan of the pools without an index). */
  strangers?: boolean;
}

const SIZES: Record<string, Size> = {
  "1x": { pools: 2, workers: 10, shapes: 10, queued: 1_000 },
  "10x": { pools: 8, workers: 100, shapes: 100, queued: 10_000 },
  "100x": { pools: 32, workers: 1_000, shapes: 1_000, queued: 100_000 },
  // Many pools and many shapes at once (what a client creating pools freely can cause).
  pools: { pools: 3_000, workers: 100, shapes: 3_000, queued: 6_000, strangers: true },
};

function inputs(s: Size): {
  templates: Map<string, PoolTemplate>;
  workers: DemandWorker[];
  queued: { shape: Shape; size: number }[];
} {
  const templates = new Map<string, PoolTemplate>();
  for (let p = 0; p < s.pools; p++)
    templates.set(`pool-${p}`, {
      types: [`type-${p}`, "shared"],
      labels: { zone: `z${p % 3}` },
      capacity: { cpu: 8, memoryMb: 16_384, slots: 16 },
    });
  const workers: DemandWorker[] = Array.from({ length: s.workers }, (_, i) => {
    const p = i % s.pools;
    const t = templates.get(`pool-${p}`)!;
    return {
      id: `w-${i}`,
      pool: `pool-${p}`,
      types: t.types,
      labels: t.labels,
      capacity: t.capacity,
      // Full: every queued shape waits (the most work for the demand function).
      used: { cpu: 8, memoryMb: 16_384, slots: 16 },
      lastAssignedAt: 0,
      state: "ready",
    };
  });
  const queued = Array.from({ length: s.shapes }, (_, i) => {
    const p = i % s.pools;
    const shape: Shape = {
      id: `shape-${i}`,
      type:
        s.strangers === true && i % 3 === 2
          ? `stranger-${i}`
          : i % 2 === 0
            ? "shared"
            : `type-${p}`,
      resources: { cpu: (i % 4) + 1, memoryMb: 512 * ((i % 3) + 1), slots: 1 },
      labels: { zone: `z${p % 3}` },
    };
    return { shape, size: Math.round(s.queued / s.shapes) };
  });
  return { templates, workers, queued };
}

export const benchDemandCommand: Command = {
  name: "bench-demand",
  summary:
    "measure the leader's autoscaler tick (pool demand + one machine step per pool) at 1x, 10x, 100x",
  usage: "drover bench-demand [--ticks 200]",
  options: { ticks: { type: "string" } },
  run({ values }) {
    const ticks = positiveIntFlag(values, "ticks", 200);
    const policy = ScalePolicy.parse({ min: 1, max: 100 });
    const rows: string[] = [
      "| size | pools | workers | queued shapes | queued tasks | tick p50 | tick p99 |",
      "| --- | --- | --- | --- | --- | --- | --- |",
    ];
    for (const [name, size] of Object.entries(SIZES)) {
      const { templates, workers, queued } = inputs(size);
      const autoscaled = new Set(templates.keys());
      let actors = new Map<string, AutoscalerSnapshot>(
        [...templates.keys()].map((pool) => [
          pool,
          initialAutoscalerSnapshot({ pool, policy, desired: 1, at: 0 }),
        ]),
      );
      const times: number[] = [];
      for (let t = 1; t <= ticks; t++) {
        const t0 = performance.now();
        const { pools } = poolDemand({ templates, workers, queued, autoscaled });
        const next = new Map<string, AutoscalerSnapshot>();
        for (const [pool, snap] of actors)
          next.set(
            pool,
            applyAutoscalerEvent(snap, { type: "DEMAND", at: t * 1_000, demand: pools.get(pool)! }),
          );
        actors = next;
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      const p = (q: number): string =>
        `${times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(2)} ms`;
      console.log(
        JSON.stringify({
          size: name,
          ...size,
          ticks,
          p50Ms: Number(p(0.5).split(" ")[0]),
          p99Ms: Number(p(0.99).split(" ")[0]),
        }),
      );
      rows.push(
        `| ${name} | ${size.pools} | ${size.workers} | ${size.shapes} | ${size.queued} | ${p(0.5)} | ${p(0.99)} |`,
      );
    }
    console.log(rows.join("\n"));
    return Promise.resolve(0);
  },
};
