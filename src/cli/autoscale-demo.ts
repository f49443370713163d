/**
 * `drover up --autoscale --demo N`: submits N sleep tasks to the autoscaled pool, prints the
 * queue and the pool every two seconds as the pool grows and shrinks, waits until every task
 * has finished and the pool is back at its minimum, checks every task's history, and writes a
 * chart. Returns the exit code (0 only when every task succeeded exactly once).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { SetPoolRequest } from "../protocol/index.ts";
import type { DroverClient } from "../runtime/index.ts";
import { checkRecords, readAll, samplePool, submitBurst } from "./autoscale-run.ts";
import type { ScaleSample } from "./chart.ts";
import { renderChart } from "./chart.ts";

export interface DemoOptions {
  tasks: number;
  taskMs: number;
  chart: string;
  signal: AbortSignal;
}

export async function runAutoscaleDemo(
  client: DroverClient,
  req: SetPoolRequest,
  o: DemoOptions,
): Promise<number> {
  const { pool, scale } = req;
  const samples: ScaleSample[] = [];
  const sampling = new AbortController();
  const stopSampling = (): void => sampling.abort();
  o.signal.addEventListener("abort", stopSampling, { once: true });
  let shown = -2;
  const startedAt = Date.now();
  const sampled = samplePool(client, pool, startedAt, sampling.signal, (s) => {
    samples.push(s);
    if (s.t - shown < 2) return;
    shown = s.t;
    console.log(
      `t=${s.t.toFixed(0).padStart(4)}s  queued ${String(s.queued).padStart(5)}  running ${String(s.running).padStart(4)}  ` +
        `workers ${s.workers} (desired ${s.desired ?? "-"})`,
    );
  });
  try {
    console.log(`Submitting ${o.tasks} sleep tasks of ${o.taskMs} ms to pool ${pool} …`);
    const ids = await submitBurst(client, o.tasks, o.taskMs);
    for (const id of ids) {
      if (o.signal.aborted) return 1;
      await client.wait(id, { signal: o.signal });
    }
    const emptyAt = (Date.now() - startedAt) / 1_000;
    console.log(
      `All ${o.tasks} tasks finished at t=${emptyAt.toFixed(0)}s; the pool shrinks to ${scale.min} after the scale-down window (${scale.scaleDownWindowMs / 1_000} s) …`,
    );
    const deadline = Date.now() + scale.scaleDownWindowMs + 60_000;
    for (;;) {
      const p = (await client.pools()).find((x) => x.pool === pool);
      if (
        p !== undefined &&
        p.ready === scale.min &&
        p.draining === 0 &&
        p.decision?.desired === scale.min
      )
        break;
      if (o.signal.aborted) return 1;
      if (Date.now() > deadline) {
        console.log(`the pool did not shrink back to ${scale.min} in time`);
        return 1;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const backAt = (Date.now() - startedAt) / 1_000;
    sampling.abort();
    await sampled;
    const check = checkRecords(await readAll(client, ids));
    mkdirSync(dirname(o.chart), { recursive: true });
    writeFileSync(
      o.chart,
      renderChart(
        samples,
        `${o.tasks} × ${o.taskMs / 1_000} s tasks, pool ${pool}: ${scale.min}..${scale.max} workers × ${req.template.capacity.slots} slots`,
      ),
    );
    const peak = Math.max(...samples.map((s) => s.workers));
    const reached = samples.find((s) => s.workers === peak)?.t ?? 0;
    const ok =
      check.succeeded === o.tasks &&
      check.failed.length === 0 &&
      check.ranTwice.length === 0 &&
      check.notOneCompletion.length === 0;
    console.log(
      JSON.stringify({
        demo: ok ? "passed" : "failed",
        tasks: o.tasks,
        succeeded: check.succeeded,
        failed: check.failed.length,
        ranTwice: check.ranTwice.length,
        notOneCompletion: check.notOneCompletion.length,
        peakWorkers: peak,
        peakReachedAtS: Math.round(reached * 10) / 10,
        queueEmptyAtS: Math.round(emptyAt * 10) / 10,
        backToMinAtS: Math.round(backAt * 10) / 10,
        chart: o.chart,
      }),
    );
    return ok ? 0 : 1;
  } finally {
    sampling.abort();
    o.signal.removeEventListener("abort", stopSampling);
    await sampled;
  }
}
