/**
 * `drover bench --backlog N`: the scale benchmark. Fills the queue with N tasks of a type no
 * worker runs, then measures what a large backlog costs and whether the cluster stays
 * responsive: RSS of every scheduler replica, the leader's CPU with nothing placeable, listing
 * pages of the backlog, how soon a runnable task behind the backlog starts, a SIGKILLed
 * leader's failover, and each replica's event-loop delay (reported by the replica itself in
 * its health reply).
 */
import { randomBytes } from "node:crypto";
import { isStrategyName, STRATEGY_NAMES } from "../../actors/index.ts";
import type { NatsConnection } from "../../runtime/index.ts";
import { authEnv, connectNats, DroverClient, ensureResources } from "../../runtime/index.ts";
import { resourceSettings } from "../config.ts";
import type { CommandContext } from "../command.ts";
import { UsageError } from "../command.ts";
import { intFlag, numFlag, positiveIntFlag } from "../flags.ts";
import type { ThrowawayNats } from "../local.ts";
import { benchNats, freePort, runGuard, stopChildren, waitForCluster } from "../local.ts";
import type { FailoverFigures } from "./failover.ts";
import { measureFailover } from "./failover.ts";
import { fillBacklog } from "./fill.ts";
import { measureFlood } from "./flood.ts";
import { judgeGoals } from "./goals.ts";
import { LIST_PAGE, measureListing } from "./listing.ts";
import { runProbes } from "./probes.ts";
import { printReport } from "./report.ts";
import { startRoles } from "./roles.ts";
import { cpuPercent, mergeDelayWindows, summarize } from "./stats.ts";
import type { Role, RssFigures } from "./support.ts";
import {
  lastLines,
  MIB,
  now,
  pollHealth,
  ProbeWatch,
  readCpuTicks,
  readRssBytes,
  roundSummary,
  sleep,
  delayWindows,
  PROBE_TYPE,
  round1,
} from "./support.ts";
import { BENCH_LIMITS_ENV, BENCH_SUBMITTER } from "../bench-limits.ts";

export async function runScaleBench(ctx: CommandContext): Promise<number> {
  const { values, config, signal } = ctx;
  const positive = (name: string, def: number): number => positiveIntFlag(values, name, def);
  const backlog = positive("backlog", 100_000);
  const schedulers = positive("schedulers", 2);
  const workers = positive("workers", 1);
  const inflight = positive("inflight", 256);
  const concurrency = positive("concurrency", 16);
  const probes = positive("probes", 20);
  const idleS = numFlag(values, "idle-s", 10);
  const failoverS = numFlag(values, "failover-s", 5);
  const flood = intFlag(values, "flood", 0);
  const floodRounds = positive("rounds", 3);
  if (idleS <= 0) throw new UsageError("--idle-s must be positive");
  if (failoverS <= 0) throw new UsageError("--failover-s must be positive");
  const strategy = String(values.strategy);
  if (!isStrategyName(strategy))
    throw new UsageError(`unknown --strategy '${strategy}' (one of: ${STRATEGY_NAMES.join(", ")})`);
  const json = values.json === true;
  const external =
    values.nats !== undefined || (process.env.DROVER_NATS_URL ?? "").trim().length > 0;
  const prefix = `scale${randomBytes(4).toString("hex")}`;
  const replicas = external ? config.replicas : 1;
  const say = (line: string): void => console.error(`scale bench: ${line}`);

  const roles: Role[] = [];
  let stopping = false;
  let server: ThrowawayNats | null = null;
  let nc: NatsConnection | null = null;
  let stopWatch: (() => void) | null = null;
  let rssTimer: NodeJS.Timeout | null = null;
  // Rejects when a role process exits on its own, so no phase waits for a dead cluster.
  const { guard, roleFailed: roleFailed } = runGuard(signal, "scale bench");

  try {
    const nats = await benchNats(external, config.natsUrl, signal, guard);
    server = nats.server;
    const { servers } = nats;
    nc = await guard(
      connectNats({
        servers,
        name: "drover-bench-scale",
        reconnectForever: false,
        ...(external ? { auth: config.auth } : {}),
      }),
    );
    // Room for the whole backlog (about 1 KiB a record) under the 80 % admission line, unless
    // DROVER_TASKS_MAX_BYTES says otherwise.
    const settings = resourceSettings(config, replicas);
    const tasksBytes =
      process.env.DROVER_TASKS_MAX_BYTES === undefined
        ? Math.max(config.maxBytes.tasks, backlog * 2_048)
        : config.maxBytes.tasks;
    await guard(
      ensureResources(nc, prefix, {
        ...settings,
        maxBytes: { ...config.maxBytes, tasks: tasksBytes },
      }),
    );
    const env = {
      ...process.env,
      ...(external ? authEnv(config.auth) : {}),
      DROVER_NATS_URL: servers.join(","),
      DROVER_PREFIX: prefix,
      DROVER_LOG_LEVEL: "warn",
      DROVER_REPLICAS: String(replicas),
      ...BENCH_LIMITS_ENV,
    };
    const dashboardPort = await freePort();
    startRoles({
      schedulers,
      workers,
      strategy,
      concurrency,
      dashboardPort,
      env,
      stopping: () => stopping,
      roleFailed,
      into: roles,
    });
    const schedulerRoles = roles.filter((r) => r.kind === "scheduler");
    const schedulerIds = schedulerRoles.map((r) => r.name);
    // Every process's RSS once a second, for the peaks (cheap: one small /proc read each).
    const sampleRss = (): void => {
      for (const r of roles) {
        if (r.killed) continue;
        const rss = readRssBytes(r.proc.pid);
        if (rss !== null) r.peakRssBytes = Math.max(r.peakRssBytes, rss);
      }
    };
    rssTimer = setInterval(sampleRss, 1_000);

    const client = new DroverClient(nc, { prefix, timeoutMs: 10_000, submitter: BENCH_SUBMITTER });
    // Health and failover requests must not hide a stall behind a long timeout.
    const quick = new DroverClient(nc, { prefix, timeoutMs: 2_000, submitter: BENCH_SUBMITTER });
    await guard(waitForCluster(client, workers, signal));
    say(
      `cluster up (prefix ${prefix}, ${schedulers} schedulers, ${workers} worker(s)); filling ${backlog} tasks`,
    );

    // ---- before ----------------------------------------------------------------------------
    const pollOpts = (what: string, timeoutMs = 30_000, intervalMs = 0) => ({
      what,
      timeoutMs,
      intervalMs,
      signal,
    });
    // Also starts every replica's event-loop window: the fill's figures cover from here.
    const beforeHealth = await guard(
      pollHealth(quick, schedulerIds, () => true, pollOpts("asking every scheduler for health")),
    );
    const rssBefore = new Map(roles.map((r) => [r.name, readRssBytes(r.proc.pid)]));
    const natsRssBefore = readRssBytes(server?.pid);
    const processReported = [...beforeHealth.values()].every((hs) =>
      hs.some((h) => h.process !== undefined),
    );

    // ---- fill ------------------------------------------------------------------------------
    const cpuBeforeFill = new Map(roles.map((r) => [r.name, readCpuTicks(r.proc.pid)]));
    const fill = await guard(fillBacklog({ client, backlog, inflight, signal, say }));
    const { submitted, retries, firstId } = fill;
    const fillStarted = fill.startedAt;
    const fillMs = fill.durationMs;
    say(
      `fill done: ${submitted} in ${(fillMs / 1_000).toFixed(1)} s (${Math.round((submitted / fillMs) * 1_000)}/s), ` +
        `${retries} retries; waiting for every replica's mirror`,
    );
    // The figures "with the backlog" start once every replica holds all of it.
    const catchUpStarted = now();
    const fillHealth = await guard(
      pollHealth(
        quick,
        schedulerIds,
        (latest) => [...latest.values()].every((h) => (h.tasks.queued ?? 0) >= backlog),
        pollOpts("waiting for the mirrors to hold the backlog", Math.max(60_000, backlog * 2), 250),
      ),
    );
    const catchUpMs = now() - catchUpStarted;
    const cpuAfterFill = new Map(roles.map((r) => [r.name, readCpuTicks(r.proc.pid)]));
    const fillCpuS: Record<string, number> = {};
    for (const r of roles) {
      const a = cpuBeforeFill.get(r.name);
      const b = cpuAfterFill.get(r.name);
      if (a != null && b != null) fillCpuS[r.name] = round1((b - a) / 100);
    }
    sampleRss();
    const rssAfterFill = new Map(roles.map((r) => [r.name, readRssBytes(r.proc.pid)]));
    const natsRssAfterFill = readRssBytes(server?.pid);
    const eldFill = new Map(
      schedulerIds.map((id) => [id, mergeDelayWindows(delayWindows(fillHealth.get(id) ?? []))]),
    );

    // ---- idle leader CPU -------------------------------------------------------------------
    const leaderHealth = await guard(
      pollHealth(
        quick,
        schedulerIds,
        (latest) => [...latest.values()].some((h) => h.role === "leader"),
        pollOpts("finding the leader"),
      ),
    );
    const leaderReply = [...leaderHealth.values()]
      .flat()
      .findLast((h) => h.role === "leader" && h.term !== null)!;
    const leaderId = leaderReply.replicaId;
    // Let the end of the catch-up (the leader's first passes over the full queue) settle.
    await guard(sleep(2_000));
    say(`measuring idle CPU of the leader (${leaderId}) for ${idleS} s`);
    const cpuProcs: [string, number | undefined][] = [
      ...roles.map((r): [string, number | undefined] => [r.name, r.proc.pid]),
      ...(server !== null ? [["nats-server", server.pid] as [string, number | undefined]] : []),
    ];
    const idleBefore = cpuProcs.map(([, pid]) => ({ ticks: readCpuTicks(pid), atMs: now() }));
    await guard(sleep(idleS * 1_000));
    const idleCpu: Record<string, number> = {};
    cpuProcs.forEach(([name, pid], i) => {
      const b = idleBefore[i]!;
      const ticks = readCpuTicks(pid);
      if (b.ticks !== null && ticks !== null)
        idleCpu[name] = round1(
          cpuPercent({ ticks: b.ticks, atMs: b.atMs }, { ticks, atMs: now() }),
        );
    });

    // ---- listing ---------------------------------------------------------------------------
    say(`listing pages of ${LIST_PAGE} with the backlog in place`);
    const middle = fillStarted + fillMs / 2;
    const listing = await guard(
      measureListing({
        client,
        schedulers: schedulerRoles,
        window: {
          since: Math.floor(middle),
          until: Math.floor(middle + Math.min(10_000, fillMs / 4)),
        },
        dashboard: `http://127.0.0.1:${dashboardPort}/`,
        signal,
      }),
    );
    const listMaxMs = Math.max(...Object.values(listing.pages).map((p) => p.max));
    const dashboardMaxMs = Math.max(...Object.values(listing.dashboard).map((p) => p.max));

    // ---- flood (optional) ------------------------------------------------------------------
    const floodFigures =
      flood > 0
        ? await guard(
            measureFlood({
              client: new DroverClient(nc, {
                prefix,
                timeoutMs: 60_000,
                submitter: BENCH_SUBMITTER,
              }),
              quick,
              schedulerIds,
              perRound: flood,
              rounds: floodRounds,
              signal,
              say,
            }),
          )
        : null;

    // ---- probes ----------------------------------------------------------------------------
    const watch = new ProbeWatch();
    stopWatch = await guard(client.watchAll(watch.onRecord, signal));
    say(`${probes} ${PROBE_TYPE} probes behind the backlog, one at a time`);
    const probeTimes = await guard(runProbes({ client, watch, probes, signal }));
    const probesMissed = probeTimes.missed;

    // ---- failover --------------------------------------------------------------------------
    let failover: FailoverFigures | null = null;
    if (schedulers >= 2 && firstId !== null) {
      say("failover: SIGKILL the leader");
      failover = await guard(
        measureFailover({
          client,
          quick,
          prefix,
          roles: schedulerRoles,
          pingId: firstId,
          watch,
          failoverS,
          signal,
          pollOpts,
        }),
      );
    }
    sampleRss();
    const rssEnd = new Map(roles.map((r) => [r.name, r.killed ? null : readRssBytes(r.proc.pid)]));
    const natsRssEnd = readRssBytes(server?.pid);
    stopWatch();
    stopWatch = null;

    // ---- report ----------------------------------------------------------------------------
    const rss: Record<string, RssFigures> = {};
    for (const r of roles)
      rss[r.name] = {
        before: rssBefore.get(r.name) ?? null,
        afterFill: rssAfterFill.get(r.name) ?? null,
        peak: r.peakRssBytes > 0 ? r.peakRssBytes : null,
        end: rssEnd.get(r.name) ?? null,
      };
    if (server !== null)
      rss["nats-server"] = {
        before: natsRssBefore,
        afterFill: natsRssAfterFill,
        peak: null,
        end: natsRssEnd,
      };
    const probeRecord = summarize(probeTimes.recordMs);
    const probeSeen = summarize(probeTimes.seenMs);
    const probeAck = summarize(probeTimes.ackMs);
    const schedulerPeakMiB = Math.max(...schedulerRoles.map((r) => r.peakRssBytes)) / MIB;
    const leaderIdleCpu = idleCpu[leaderId] ?? Number.NaN;
    const goals = judgeGoals({
      backlog,
      schedulerPeakMiB,
      leaderIdleCpu,
      probeMedianMs: probeRecord.median,
      probesMissed,
      listMaxMs,
      dashboardMaxMs,
      eventLoopMaxMs: [
        ...[...eldFill.values()].map((w) => w?.maxMs ?? Number.NaN),
        ...(failover !== null
          ? Object.values(failover.eventLoopDelay).map((w) => w?.maxMs ?? Number.NaN)
          : []),
      ],
      failover,
      flood: floodFigures,
    });
    const figures = {
      backlog,
      submitted,
      schedulers,
      workers,
      inflight,
      strategy,
      prefix,
      nats: external ? servers.join(",") : "throwaway",
      processStatsReported: processReported,
      fill: {
        durationMs: round1(fillMs),
        submitsPerS: round1((submitted / fillMs) * 1_000),
        retries,
        mirrorsCaughtUpMs: round1(catchUpMs),
        cpuSeconds: fillCpuS,
      },
      rssBytes: rss,
      idleCpu: { leader: leaderId, windowS: idleS, percentOfCore: idleCpu },
      probes: {
        sent: probes,
        missed: probesMissed,
        submitToStartRecordMs: roundSummary(probeRecord),
        submitToStartSeenMs: roundSummary(probeSeen),
        submitAckMs: roundSummary(probeAck),
      },
      listing,
      flood: floodFigures,
      failover,
      eventLoopDelayMs: {
        fill: Object.fromEntries(eldFill),
        failover: failover?.eventLoopDelay ?? null,
      },
      goals,
    };
    if (json) {
      console.log(JSON.stringify(figures));
      say("done");
    } else {
      printReport(figures, roles, leaderId);
      console.log("scale bench: done");
    }
    if (!processReported)
      console.error(
        "note: the schedulers' health replies carry no `process` field, so there are no event-loop figures",
      );
    const warned = roles.filter((r) => /"level":(4|5|6)\d/.test(r.tail));
    if (warned.length > 0)
      console.error(
        `note: ${warned.map((r) => r.name).join(", ")} logged warnings; last lines of ${warned[0]!.name}: ${lastLines(warned[0]!.tail, 2).slice(0, 400)}`,
      );
    if (external)
      console.error(
        `note: the streams and buckets of prefix '${prefix}' stay on ${servers.join(",")} (delete them with the nats CLI)`,
      );
    return 0;
  } catch (err) {
    if (signal.aborted) {
      console.error("scale bench: interrupted; stopping what it started");
      return 130;
    }
    for (const r of roles)
      if (r.tail.trim() !== "" && !r.killed)
        console.error(`--- ${r.name} (last lines) ---\n${lastLines(r.tail, 5)}`);
    throw err;
  } finally {
    stopping = true;
    if (rssTimer !== null) clearInterval(rssTimer);
    stopWatch?.();
    await stopChildren(roles.map((r) => r.proc));
    await nc?.close().catch(() => undefined);
    await server?.stop();
  }
}
