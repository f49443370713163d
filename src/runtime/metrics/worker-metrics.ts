/** A worker's Prometheus metrics, read from the worker at each scrape. */
import { Counter, Gauge, Registry } from "prom-client";
import type { Resources } from "../../protocol/index.ts";
import type { WorkerStats } from "../worker.ts";

/** What the metrics read from a worker. */
export interface WorkerSource {
  id: string;
  pool: string;
  readonly load: { capacity: Resources; used: Resources; running: number };
  readonly accepting: boolean;
  readonly stats: WorkerStats;
}

const RESOURCES = ["cpu", "memoryMb", "slots"] as const;

export function workerMetrics(w: WorkerSource): Registry {
  const registry = new Registry();
  const registers = [registry];
  registry.setDefaultLabels({ worker: w.id, pool: w.pool });
  new Gauge({
    name: "drover_worker_running_tasks",
    help: "Tasks this worker is running.",
    registers,
    collect() {
      this.set(w.load.running);
    },
  });
  for (const [name, help, key] of [
    ["drover_worker_capacity", "What this worker offers", "capacity"],
    ["drover_worker_used", "What this worker's running tasks hold", "used"],
  ] as const)
    new Gauge({
      name,
      help: `${help}, by resource (cpu, memoryMb, slots).`,
      labelNames: ["resource"],
      registers,
      collect() {
        const v = w.load[key];
        for (const r of RESOURCES) this.set({ resource: r }, v[r]);
      },
    });
  new Gauge({
    name: "drover_worker_free_slots",
    help: "Slots this worker has free.",
    registers,
    collect() {
      const { capacity, used } = w.load;
      this.set(Math.max(0, capacity.slots - used.slots));
    },
  });
  new Gauge({
    name: "drover_worker_accepting",
    help: "1 while this worker takes assignments (registered, not draining, not fenced).",
    registers,
    collect() {
      this.set(w.accepting ? 1 : 0);
    },
  });
  const counters: [keyof WorkerStats, string, string][] = [
    ["executions", "drover_worker_executions_total", "Handler runs started."],
    ["succeeded", "drover_worker_succeeded_total", "Handler runs that succeeded."],
    ["failed", "drover_worker_failed_total", "Handler runs that failed."],
    ["fenced", "drover_worker_fenced_total", "Times this worker fenced itself (heartbeat lost)."],
    [
      "reconnects",
      "drover_worker_reconnects_total",
      "Reconnects forced by a server silent during a heartbeat.",
    ],
  ];
  for (const [key, name, help] of counters)
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(w.stats[key]);
      },
    });
  return registry;
}
