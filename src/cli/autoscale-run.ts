/**
 * An autoscaling run, as `drover up --autoscale --demo` and the tests drive it: a burst of
 * sleep tasks, a sample of the queue and the pool every half second, and a check of every
 * task's history at the end.
 */
import type { TaskRecord } from "../protocol/index.ts";
import type { DroverClient } from "../runtime/index.ts";
import type { ScaleSample } from "./chart.ts";

/** Submits `n` sleep tasks of `ms` each (in parallel batches); their ids, in order. */
export async function submitBurst(client: DroverClient, n: number, ms: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, (_, k) =>
        client.submit({ type: "sleep", payload: { ms, n: i + k }, timeoutMs: 60_000 }),
      ),
    );
    ids.push(...batch.map((b) => b.id));
  }
  return ids;
}

/** Samples the queue and a pool until `signal` aborts; `onSample` sees each one. */
export async function samplePool(
  client: DroverClient,
  pool: string,
  startedAt: number,
  signal: AbortSignal,
  onSample: (s: ScaleSample) => void,
  everyMs = 500,
): Promise<void> {
  while (!signal.aborted) {
    const next = Date.now() + everyMs;
    try {
      const [health, pools] = await Promise.all([client.health(), client.pools()]);
      const p = pools.find((x) => x.pool === pool);
      onSample({
        t: (Date.now() - startedAt) / 1_000,
        queued: health.tasks.queued ?? 0,
        running: (health.tasks.running ?? 0) + (health.tasks.assigned ?? 0),
        workers: p?.ready ?? 0,
        desired: p?.decision?.desired ?? null,
      });
    } catch {
      // A sample lost to a failover is a gap in the chart, not a failure.
    }
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
  }
}

/** What the tasks' records say about the run. */
export interface RunCheck {
  tasks: number;
  succeeded: number;
  /** Tasks with another final state, or a failed attempt on the way. */
  failed: string[];
  /** Tasks that started more than once (an execution was cut short and run again). */
  ranTwice: string[];
  /** Tasks whose history does not hold exactly one success. */
  notOneCompletion: string[];
}

export function checkRecords(records: readonly TaskRecord[]): RunCheck {
  const check: RunCheck = {
    tasks: records.length,
    succeeded: 0,
    failed: [],
    ranTwice: [],
    notOneCompletion: [],
  };
  for (const r of records) {
    if (r.state === "succeeded") check.succeeded++;
    if (r.state !== "succeeded" || r.failures > 0) check.failed.push(r.id);
    if (r.history.filter((h) => h.event === "START").length > 1) check.ranTwice.push(r.id);
    if (r.history.filter((h) => h.to === "succeeded").length !== 1)
      check.notOneCompletion.push(r.id);
  }
  return check;
}

/** Reads every task's record (a few at a time). */
export async function readAll(client: DroverClient, ids: readonly string[]): Promise<TaskRecord[]> {
  const out: TaskRecord[] = [];
  for (let i = 0; i < ids.length; i += 50)
    out.push(...(await Promise.all(ids.slice(i, i + 50).map((id) => client.get(id)))));
  return out;
}
