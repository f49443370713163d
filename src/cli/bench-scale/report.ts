/** The scale benchmark's report for people (`--json` prints the figures object instead). */
import type { FailoverFigures } from "./failover.ts";
import type { FloodFigures } from "./flood.ts";
import type { ListingFigures } from "./listing.ts";
import { LIST_PAGE } from "./listing.ts";
import { formatMiB } from "./stats.ts";
import type { Role, RssFigures } from "./support.ts";
import { BACKLOG_TYPE, GOALS, MIB, PROBE_TYPE, RSS_GOAL_BACKLOG } from "./support.ts";

export function printReport(
  f: {
    backlog: number;
    submitted: number;
    schedulers: number;
    workers: number;
    inflight: number;
    fill: {
      durationMs: number;
      submitsPerS: number;
      retries: number;
      mirrorsCaughtUpMs: number;
      cpuSeconds: Record<string, number>;
    };
    rssBytes: Record<string, RssFigures>;
    idleCpu: { leader: string; windowS: number; percentOfCore: Record<string, number> };
    probes: {
      sent: number;
      missed: number;
      submitToStartRecordMs: { count: number; median: number; max: number };
      submitToStartSeenMs: { count: number; median: number; max: number };
      submitAckMs: { count: number; median: number; max: number };
    };
    listing: ListingFigures;
    flood: FloodFigures | null;
    failover: FailoverFigures | null;
    eventLoopDelayMs: {
      fill: Record<string, { maxMs: number; p99Ms: number; windows: number } | null>;
      failover: FailoverFigures["eventLoopDelay"] | null;
    };
  },
  roles: readonly Role[],
  leaderId: string,
): void {
  const ok = (met: boolean): string => (met ? "meets goal" : "MISSES goal");
  const ms = (v: number | null): string =>
    v === null || !Number.isFinite(v) ? "n/a" : `${v.toFixed(1)} ms`;
  const lines: string[] = [];
  const table = (rows: string[][]): void => {
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
    for (const r of rows)
      lines.push(
        `  ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")}`,
      );
  };
  lines.push(
    `scale bench: backlog ${f.backlog} '${BACKLOG_TYPE}' tasks, ${f.schedulers} schedulers, ` +
      `${f.workers} worker(s), ${f.inflight} submits in flight`,
  );
  lines.push("");
  lines.push(
    `fill: ${f.submitted} submitted in ${(f.fill.durationMs / 1_000).toFixed(1)} s ` +
      `(${f.fill.submitsPerS.toFixed(0)}/s), ${f.fill.retries} retries; every mirror held the ` +
      `backlog ${(f.fill.mirrorsCaughtUpMs / 1_000).toFixed(1)} s after the last submit`,
  );
  lines.push(
    `      CPU during fill: ${Object.entries(f.fill.cpuSeconds)
      .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
      .join(", ")}`,
  );
  lines.push("");
  lines.push(`RSS (goal: ≤ ${GOALS.rssMiB} MiB on every scheduler replica with 1,000,000 queued)`);
  const killedName = f.failover?.killed;
  table([
    ["process", "before", "after fill", "peak (1 s samples)", "at end"],
    ...Object.entries(f.rssBytes).map(([name, r]) => [
      `${name}${name === leaderId ? " (leader)" : ""}`,
      formatMiB(r.before),
      formatMiB(r.afterFill),
      formatMiB(r.peak),
      name === killedName ? "killed" : formatMiB(r.end),
    ]),
  ]);
  const peak = Math.max(
    ...roles.filter((r) => r.kind === "scheduler").map((r) => r.peakRssBytes / MIB),
  );
  const growth = Object.entries(f.rssBytes)
    .filter(([name]) => name.startsWith("scheduler-"))
    .flatMap(([name, r]) =>
      r.before !== null && r.afterFill !== null && f.submitted > 0
        ? [`${name} ${((r.afterFill - r.before) / f.submitted / 1_024).toFixed(2)} KiB`]
        : [],
    );
  lines.push(`  RSS growth per queued task (after fill − before): ${growth.join(", ")}`);
  lines.push(
    `  highest scheduler peak ${peak.toFixed(1)} MiB: ${
      f.backlog >= RSS_GOAL_BACKLOG
        ? ok(peak <= GOALS.rssMiB)
        : `no verdict (the goal is for ${RSS_GOAL_BACKLOG} queued, this run had ${f.backlog})`
    }`,
  );
  lines.push("");
  const leaderCpu = f.idleCpu.percentOfCore[f.idleCpu.leader] ?? Number.NaN;
  lines.push(
    `idle CPU over ${f.idleCpu.windowS} s, nothing placeable (goal: leader ≤ ${GOALS.idleCpuPercent}% of a core)`,
  );
  lines.push(
    `  leader ${f.idleCpu.leader}: ${leaderCpu.toFixed(1)}% of a core: ${ok(leaderCpu <= GOALS.idleCpuPercent)}`,
  );
  lines.push(
    `  others: ${Object.entries(f.idleCpu.percentOfCore)
      .filter(([k]) => k !== f.idleCpu.leader)
      .map(([k, v]) => `${k} ${v.toFixed(1)}%`)
      .join(", ")}`,
  );
  lines.push("");
  const l = f.listing;
  const listMax = Math.max(...Object.values(l.pages).map((x) => x.max));
  lines.push(
    `listing: pages of ${LIST_PAGE} from tasks.list, request → reply (goal: ≤ ${GOALS.listPageMs} ms a page)`,
  );
  table([
    ["request", "median", "max", "n"],
    ...Object.entries(l.pages).map(([kind, x]) => [kind, ms(x.median), ms(x.max), String(x.count)]),
  ]);
  lines.push(
    `  scheduler RSS after ${l.requests} pages minus before: ${Object.entries(l.rssGrowthBytes)
      .map(([k, v]) => `${k} ${v === null ? "n/a" : `${(v / MIB).toFixed(1)} MiB`}`)
      .join(", ")}`,
  );
  lines.push(`  ${ok(listMax <= GOALS.listPageMs)}`);
  const dash = Object.entries(l.dashboard);
  if (dash.length > 0) {
    const dashMax = Math.max(...dash.map(([, x]) => x.max));
    lines.push(
      `dashboard: what its page asks one replica for over HTTP, request → whole body (goal: ≤ ${GOALS.dashboardPageMs} ms)`,
    );
    table([
      ["request", "median", "max", "n"],
      ...dash.map(([kind, x]) => [kind, ms(x.median), ms(x.max), String(x.count)]),
    ]);
    lines.push(`  ${ok(dashMax <= GOALS.dashboardPageMs)}`);
  }
  lines.push("");
  if (f.flood !== null) {
    const fl = f.flood;
    lines.push(
      `flood: ${fl.rounds.length} rounds of ${fl.perRound} submits sent at once from one connection (goal: the lease never lapses)`,
    );
    table([
      [
        "round",
        "took",
        "accepted",
        "refused",
        "unanswered",
        "leader (term) before → after",
        "event-loop max",
      ],
      ...fl.rounds.map((r, i) => [
        String(i + 1),
        ms(r.durationMs),
        String(r.accepted),
        Object.entries(r.refused)
          .map(([code, n]) => `${n} ${code}`)
          .join(", ") || "0",
        String(r.unanswered),
        `${r.before.leader} (${r.before.term}) → ${r.after.leader} (${r.after.term})`,
        Object.entries(r.eventLoopDelay)
          .map(([id, w]) => `${id} ${w === null ? "n/a" : ms(w.maxMs)}`)
          .join(", "),
      ]),
    ]);
    lines.push(
      `  ${fl.leaseKept ? "same leader and term throughout: meets goal" : "the leader or its term changed: MISSES goal"}`,
    );
    lines.push("");
  }
  const p = f.probes;
  lines.push(
    `probes: ${p.sent} '${PROBE_TYPE}' tasks behind the backlog, one at a time (goal: median submit→start ≤ ${GOALS.probeMedianMs} ms)`,
  );
  table([
    ["submit→start", "median", "max", "n"],
    [
      "record (startedAt or assignedAt)",
      ms(p.submitToStartRecordMs.median),
      ms(p.submitToStartRecordMs.max),
      String(p.submitToStartRecordMs.count),
    ],
    [
      "first seen assigned/running (watch)",
      ms(p.submitToStartSeenMs.median),
      ms(p.submitToStartSeenMs.max),
      String(p.submitToStartSeenMs.count),
    ],
    [
      "submit acknowledged",
      ms(p.submitAckMs.median),
      ms(p.submitAckMs.max),
      String(p.submitAckMs.count),
    ],
  ]);
  lines.push(
    `  ${p.missed > 0 ? `${p.missed} probes did not start within 10 s; ` : ""}${ok(
      p.missed === 0 && p.submitToStartRecordMs.median <= GOALS.probeMedianMs,
    )}`,
  );
  lines.push("");
  const fo = f.failover;
  if (fo === null) {
    lines.push("failover: skipped (needs --schedulers 2 or more)");
  } else {
    lines.push(
      `failover: SIGKILL the leader ${fo.killed} (term ${fo.oldTerm}) with the backlog ` +
        `(goals: first assignment under the new term ≤ ${GOALS.firstAssignmentMs} ms; requests sent ≥ 1 s after the kill answered within 1 s)`,
    );
    table([
      ["figure", "value"],
      [
        "a follower holds the lease",
        fo.leaseTakenMs === null
          ? `not within the window`
          : `${ms(fo.leaseTakenMs)} (${fo.newLeader})`,
      ],
      [
        "first assignment under the new term",
        fo.firstAssignmentMs === null
          ? "none seen within 15 s"
          : `${ms(fo.firstAssignmentMs)} seen by the watch, ${ms(fo.firstAssignmentRecordMs)} by the record's assignedAt (term ${fo.newTerm})`,
      ],
      [
        `API '${fo.pingSubject.split(".").slice(-2).join(".")}' every 100 ms`,
        `${fo.pings.sent} sent from the kill on`,
      ],
      [
        "  sent < 1 s after the kill",
        `${fo.pings.before.sent} sent, max answer ${ms(fo.pings.before.maxAnswerMs)}, ` +
          `${fo.pings.before.noAnswerWithinLimit} without an answer within 1 s`,
      ],
      [
        "  sent ≥ 1 s after the kill",
        `${fo.pings.after.sent} sent, max answer ${ms(fo.pings.after.maxAnswerMs)}, ` +
          `${fo.pings.after.noAnswerWithinLimit} without an answer within 1 s`,
      ],
    ]);
    if (fo.pings.before.errorReplies + fo.pings.after.errorReplies > 0)
      lines.push(
        `  (${fo.pings.before.errorReplies + fo.pings.after.errorReplies} of the answers were error replies)`,
      );
    if (fo.probeSubmitRetries > 0)
      lines.push(`  the probe's submit was retried ${fo.probeSubmitRetries} times`);
    lines.push(
      `  first assignment: ${ok(fo.firstAssignmentMs !== null && fo.firstAssignmentMs <= GOALS.firstAssignmentMs)}; ` +
        `API after 1 s: ${ok(fo.pings.after.noAnswerWithinLimit === 0)}`,
    );
  }
  lines.push("");
  lines.push(
    `event-loop delay, max / p99 (monitorEventLoopDelay, 10 ms resolution: idle reads ≈ 10 ms; goal ≤ ${GOALS.eventLoopDelayMs} ms)`,
  );
  const eld = (w: { maxMs: number; p99Ms: number } | null | undefined): string =>
    w == null ? "n/a" : `${w.maxMs.toFixed(1)} / ${w.p99Ms.toFixed(1)} ms`;
  table([
    ["replica", "fill (submit → mirrors caught up)", "failover (kill → +window)"],
    ...Object.keys(f.eventLoopDelayMs.fill).map((id) => [
      id,
      eld(f.eventLoopDelayMs.fill[id]),
      fo === null ? "n/a" : id === fo.killed ? "killed" : eld(f.eventLoopDelayMs.failover?.[id]),
    ]),
  ]);
  const maxima = [
    ...Object.values(f.eventLoopDelayMs.fill),
    ...Object.values(f.eventLoopDelayMs.failover ?? {}),
  ]
    .filter((w) => w != null)
    .map((w) => w.maxMs);
  if (maxima.length > 0)
    lines.push(
      `  highest max ${Math.max(...maxima).toFixed(1)} ms: ${ok(Math.max(...maxima) <= GOALS.eventLoopDelayMs)}`,
    );
  lines.push(
    "  (p99 over a phase is the highest p99 of the health windows it spans; the max is exact)",
  );
  for (const line of lines) console.log(line);
}
