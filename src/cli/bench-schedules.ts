/**
 * `drover bench-schedules`: what schedules cost. First pure computation (a next tick of a
 * cron expression in UTC and in a zone with daylight saving, of an interval; one look's plan),
 * then, for 10, 100 and 1,000 schedules firing every second together, a leader on a throwaway
 * nats-server: fires per second, how late each tick's task was submitted (p50, p99, max), CPU
 * per fire of the leader's process and of nats-server, and the size of a schedule's record.
 */
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { newScheduleRecord, planSchedule, tickAfter } from "../actors/index.ts";
import type { ScheduleSpec } from "../protocol/index.ts";
import { DroverError, encode, ErrorCode, ScheduleSpec as Spec } from "../protocol/index.ts";
import { pino } from "pino";
import {
  connectNats,
  DroverClient,
  ensureResources,
  LATE_SAMPLES,
  SchedulerReplica,
} from "../runtime/index.ts";
import type { Command } from "./command.ts";
import { positiveIntFlag } from "./flags.ts";
import { runGuard, startThrowawayNats } from "./local.ts";
import { medianMicros } from "./median-micros.ts";

const T0 = Date.parse("2026-06-01T00:00:00Z");

function spec(o: Record<string, unknown>): ScheduleSpec {
  return Spec.parse({ task: { type: "bench" }, ...o });
}

/** µs per next tick of `s`, stepping through consecutive ticks. */
function tickMicros(s: ScheduleSpec, calls: number): number {
  let t = T0;
  return medianMicros(() => {
    t = tickAfter(s, T0, t) ?? T0;
  }, calls);
}

/** µs per look at one schedule with one due tick. */
function planMicros(calls: number): number {
  const s = spec({ everyMs: 1_000, overlap: "allow" });
  const rec = newScheduleRecord("bench", s, T0);
  return medianMicros((i) => void planSchedule(rec, T0 + 1_000 + (i % 500), []), calls);
}

/** CPU seconds of a process so far, from /proc (Linux), or null. */
function procCpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

interface LiveResult {
  schedules: number;
  seconds: number;
  fires: number;
  firesPerSecond: number;
  lateMsP50: number;
  lateMsP99: number;
  lateMsMax: number;
  leaderCpuMsPerFire: number;
  natsCpuMsPerFire: number | null;
  recordBytes: number;
}

/** `n` schedules every second, all on the same ticks, for `seconds` of firing. */
async function live(n: number, seconds: number, signal: AbortSignal): Promise<LiveResult> {
  const { guard } = runGuard(signal, "bench-schedules");
  const server = await guard(startThrowawayNats(signal));
  const prefix = "bench";
  const nc = await connectNats({ servers: [server.url], name: "bench-schedules" });
  const replica = new SchedulerReplica(nc, pino({ level: "silent" }), {
    prefix,
    replicaId: "bench-leader",
  });
  try {
    await ensureResources(nc, prefix);
    await replica.start();
    const client = new DroverClient(nc, { prefix, timeoutMs: 30_000 });
    while (!replica.leading) await new Promise((r) => setTimeout(r, 50));
    // Every schedule's first tick is the same second, a moment after they are all created.
    const startAt = Math.ceil((Date.now() + 3_000 + n * 2) / 1_000) * 1_000;
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < n) {
          const i = next++;
          await client.schedules.create({
            id: `s${i}`,
            task: { type: "bench", payload: { i } },
            everyMs: 1_000,
            startAt,
            overlap: "allow",
          });
        }
      }),
    );
    const runner = replica.scheduleRunner!;
    while (Date.now() < startAt) await new Promise((r) => setTimeout(r, 20));
    const firedBefore = runner.stats.fired;
    const cpu0 = process.cpuUsage();
    const nats0 = procCpuSeconds(server.pid);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1_000));
    const cpu = process.cpuUsage(cpu0);
    const nats1 = procCpuSeconds(server.pid);
    const elapsed = (performance.now() - t0) / 1_000;
    const fires = runner.stats.fired - firedBefore;
    if (fires === 0) throw new DroverError(ErrorCode.Internal, `no schedule fired in ${seconds} s`);
    // A record with its ten recent runs, as every replica holds it.
    const recordBytes = encode(await client.schedules.get("s0")).length;
    const ring = runner.lateness();
    const late: number[] = [];
    for (
      let i = Math.max(firedBefore, runner.stats.fired - LATE_SAMPLES);
      i < runner.stats.fired;
      i++
    )
      late.push(ring[i % LATE_SAMPLES]!);
    return {
      schedules: n,
      seconds,
      fires,
      firesPerSecond: Math.round(fires / elapsed),
      lateMsP50: pct(late, 50),
      lateMsP99: pct(late, 99),
      lateMsMax: Math.max(...late),
      leaderCpuMsPerFire: Math.round(((cpu.user + cpu.system) / 1_000 / fires) * 100) / 100,
      natsCpuMsPerFire:
        nats0 === null || nats1 === null
          ? null
          : Math.round((((nats1 - nats0) * 1_000) / fires) * 100) / 100,
      recordBytes,
    };
  } finally {
    await replica.close();
    await nc.close();
    await server.stop();
  }
}

export const benchSchedulesCommand: Command = {
  name: "bench-schedules",
  summary: "measure schedules: tick and plan costs, then 10 to 1,000 schedules firing every second",
  usage: "drover bench-schedules [--seconds 10] [--sizes 10,100,1000] [--calls 20000]",
  options: {
    seconds: { type: "string" },
    sizes: { type: "string" },
    calls: { type: "string" },
  },
  async run({ values, signal }) {
    const calls = positiveIntFlag(values, "calls", 20_000);
    const seconds = positiveIntFlag(values, "seconds", 10);
    const sizes = String(values.sizes ?? "10,100,1000")
      .split(",")
      .map(Number);
    if (sizes.some((x) => !Number.isInteger(x) || x < 1 || x > 100_000))
      throw new DroverError(ErrorCode.ValidationFailed, "--sizes: whole numbers from 1 to 100000");
    const pure = {
      "cron * * * * * * (UTC)": tickMicros(spec({ cron: "* * * * * *" }), calls),
      "cron * * * * * * (Europe/Berlin)": tickMicros(
        spec({ cron: "* * * * * *", timezone: "Europe/Berlin" }),
        calls,
      ),
      "cron 30 2 * * * (Europe/Berlin)": tickMicros(
        spec({ cron: "30 2 * * *", timezone: "Europe/Berlin" }),
        Math.max(1, Math.floor(calls / 10)),
      ),
      "everyMs 1000": tickMicros(spec({ everyMs: 1_000 }), calls),
    };
    for (const [what, us] of Object.entries(pure))
      console.log(JSON.stringify({ nextTick: what, us }));
    console.log(JSON.stringify({ plan: "one look, one due tick", us: planMicros(calls) }));
    for (const n of sizes) {
      if (signal.aborted) return 130;
      console.log(JSON.stringify(await live(n, seconds, signal)));
    }
    return 0;
  },
};
