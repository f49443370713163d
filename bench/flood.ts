/**
 * `npm run bench:flood`: admission control under a flood. One submitter ("mallory", in a
 * process of its own) wants N tasks accepted and sends every refused submit again at once;
 * meanwhile another ("bob") submits one task every `--probe-ms` and we measure how long each
 * of his tasks waits to start. Each phase runs a fresh cluster (1 scheduler, W workers × C
 * concurrency, no-op tasks) on one throwaway nats-server, with the phase's limits:
 *
 * - `off`: no limits (`--submitter-rate 0 --submitter-max-unfinished 0`);
 * - `defaults`: the scheduler's defaults;
 * - `tight`: `--submitter-max-unfinished 1000 --submitter-rate 5000`.
 *
 *   node bench/flood.ts [--flood 50000] [--workers 2] [--concurrency 50] [--probe-ms 100]
 *                       [--phases off,tight] [--json]
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_ADMISSION_LIMITS } from "../src/actors/index.ts";
import {
  mainScript,
  root,
  startThrowawayNats,
  stopChildren,
  waitForCluster,
} from "../src/cli/local.ts";
import { percentile } from "../src/cli/bench-scale/stats.ts";
import { connectNats, DroverClient } from "../src/runtime/index.ts";

const PHASES = {
  off: { rate: 0, burst: 1, maxUnfinished: 0 },
  defaults: DEFAULT_ADMISSION_LIMITS,
  tight: { rate: 5_000, burst: 5_000, maxUnfinished: 1_000 },
} as const;
type Phase = keyof typeof PHASES;

const { values } = parseArgs({
  options: {
    flood: { type: "string", default: "50000" },
    workers: { type: "string", default: "2" },
    concurrency: { type: "string", default: "50" },
    "probe-ms": { type: "string", default: "100" },
    phases: { type: "string", default: "off,tight" },
    json: { type: "boolean", default: false },
  },
});
const positive = (name: "flood" | "workers" | "concurrency" | "probe-ms"): number => {
  const v = Number(values[name]);
  if (!Number.isInteger(v) || v <= 0) {
    console.error(`bench:flood: --${name} must be a positive integer (got '${values[name]}')`);
    process.exit(2);
  }
  return v;
};
const flood = positive("flood");
const workers = positive("workers");
const concurrency = positive("concurrency");
const probeMs = positive("probe-ms");
const phases = values.phases.split(",").map((p) => p.trim());
for (const p of phases)
  if (!(p in PHASES)) {
    console.error(`bench:flood: unknown phase '${p}' (one of: ${Object.keys(PHASES).join(", ")})`);
    process.exit(2);
  }

interface PhaseFigures {
  phase: Phase;
  limits: { rate: number; burst: number; maxUnfinished: number };
  mallory: {
    accepted: number;
    refused: Record<string, number>;
    seconds: number;
    perSecond: number;
  };
  bob: {
    probes: number;
    /** Client-side submit round trip, ms. */
    submitMs: { p50: number; p99: number; max: number };
    /** Record's createdAt → startedAt (or assignedAt), ms. */
    startMs: { p50: number; p99: number; max: number };
    notSucceeded: number;
  };
}

const say = (line: string): void => console.error(line);
const summary = (xs: number[]): { p50: number; p99: number; max: number } => ({
  p50: Math.round(percentile(xs, 50)),
  p99: Math.round(percentile(xs, 99)),
  max: Math.round(Math.max(...xs)),
});

async function runPhase(url: string, phase: Phase, signal: AbortSignal): Promise<PhaseFigures> {
  const limits = PHASES[phase];
  const prefix = `flood${randomBytes(4).toString("hex")}`;
  const env = {
    ...process.env,
    DROVER_NATS_URL: url,
    DROVER_PREFIX: prefix,
    DROVER_LOG_LEVEL: "error",
    DROVER_SUBMITTER_RATE: String(limits.rate),
    DROVER_SUBMITTER_BURST: String(limits.burst),
    DROVER_SUBMITTER_MAX_UNFINISHED: String(limits.maxUnfinished),
  };
  const procs: ChildProcess[] = [];
  const role = (args: string[]): void => {
    const p = spawn(process.execPath, [mainScript, ...args, "--metrics-port", "off"], {
      env,
      stdio: ["ignore", "ignore", "inherit"],
    });
    procs.push(p);
  };
  role(["scheduler", "--id", "s1"]);
  for (let i = 1; i <= workers; i++)
    role(["worker", "--id", `w${i}`, "--slots", String(concurrency), "--cpu", "1000"]);
  const nc = await connectNats({ servers: [url], name: "bench-flood", reconnectForever: false });
  try {
    const bob = new DroverClient(nc, { prefix, submitter: "bob", timeoutMs: 30_000 });
    await waitForCluster(bob, workers, signal);
    say(
      `[${phase}] cluster up; mallory floods ${flood} submits (insisting), bob probes every ${probeMs} ms`,
    );
    const mallory = spawn(
      process.execPath,
      [
        join(root, "bench", "flood-client.ts"),
        url,
        bob.subjects.apiAs("mallory").submit,
        String(flood),
        JSON.stringify({ type: "echo", payload: null }),
        "insist",
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    mallory.stdout.on("data", (d: Buffer) => (out += d.toString()));
    let floodDone = false;
    const malloryExit = new Promise<number | null>((resolve) =>
      mallory.once("exit", (code) => {
        floodDone = true;
        resolve(code);
      }),
    );
    const submitMs: number[] = [];
    const waits: Promise<{ state: string; start: number | null }>[] = [];
    let last = Date.now();
    while (!floodDone && !signal.aborted) {
      const t0 = performance.now();
      const { id } = await bob.submit({ type: "echo", payload: null });
      submitMs.push(performance.now() - t0);
      // A finished record no longer says when it started: take it from the first record that
      // does (a task that finished before the watch saw it start counts its finish).
      let start: number | null = null;
      waits.push(
        bob
          .wait(id, {
            signal: AbortSignal.timeout(600_000),
            onUpdate: (t) => {
              const at = t.startedAt ?? t.assignedAt;
              if (start === null && at !== null) start = at - t.createdAt;
            },
          })
          .then((t) => ({
            state: t.state,
            start: start ?? (t.finishedAt === null ? null : t.finishedAt - t.createdAt),
          })),
      );
      if (Date.now() - last > 5_000) {
        last = Date.now();
        say(`[${phase}] ${waits.length} probes so far`);
      }
      await new Promise((r) => setTimeout(r, probeMs));
    }
    const code = await malloryExit;
    const figures = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as {
      accepted?: string[];
      refused?: Record<string, number>;
      ms?: number;
    };
    if (code !== 0 || figures.accepted === undefined)
      throw new Error(`mallory's flood client exited (${code})`);
    say(`[${phase}] flood done; waiting for bob's ${waits.length} probes`);
    const done = await Promise.all(waits);
    const starts = done.flatMap((d) => (d.start === null ? [] : [d.start]));
    const seconds = (figures.ms ?? 0) / 1_000;
    return {
      phase,
      limits: { ...limits },
      mallory: {
        accepted: figures.accepted.length,
        refused: figures.refused ?? {},
        seconds: Math.round(seconds * 10) / 10,
        perSecond: Math.round(figures.accepted.length / seconds),
      },
      bob: {
        probes: done.length,
        submitMs: summary(submitMs),
        startMs: summary(starts),
        notSucceeded: done.filter((d) => d.state !== "succeeded").length,
      },
    };
  } finally {
    await nc.close();
    await stopChildren(procs);
  }
}

const ac = new AbortController();
process.once("SIGINT", () => ac.abort());
const nats = await startThrowawayNats(ac.signal);
const results: PhaseFigures[] = [];
let failed = false;
try {
  for (const phase of phases as Phase[]) results.push(await runPhase(nats.url, phase, ac.signal));
} catch (err) {
  failed = true;
  console.error(`bench:flood: ${(err as Error).message}`);
} finally {
  await nats.stop();
}
const limitText = (l: PhaseFigures["limits"]): string =>
  l.rate === 0 && l.maxUnfinished === 0
    ? "none"
    : `${l.rate || "∞"}/s, ${l.maxUnfinished || "∞"} unfinished`;
if (values.json) console.log(JSON.stringify({ flood, workers, concurrency, probeMs, results }));
else {
  console.log(
    `\nflood of ${flood} insisting submits from one submitter; ${workers} workers × ${concurrency}; a probe every ${probeMs} ms from another\n`,
  );
  console.log(
    "| limits per submitter | flooder accepted/s | flooder refused | probes | probe submit p50 / p99 ms | probe submit→start p50 / p99 / max ms |",
  );
  console.log("|---|---|---|---|---|---|");
  for (const r of results)
    console.log(
      `| ${r.phase}: ${limitText(r.limits)} | ${r.mallory.perSecond} (${r.mallory.accepted} in ${r.mallory.seconds} s) | ${Object.values(r.mallory.refused).reduce((a, b) => a + b, 0)} | ${r.bob.probes}${r.bob.notSucceeded > 0 ? ` (${r.bob.notSucceeded} not succeeded)` : ""} | ${r.bob.submitMs.p50} / ${r.bob.submitMs.p99} | ${r.bob.startMs.p50} / ${r.bob.startMs.p99} / ${r.bob.startMs.max} |`,
    );
}
process.exit(failed || results.some((r) => r.bob.notSucceeded > 0) ? 1 : 0);
