/**
 * The scale benchmark's failover phase: SIGKILL the leader with the backlog in place, then time
 * how soon a follower holds the lease, how soon a probe is assigned under the new term, and how
 * the API answers a request sent every 100 ms meanwhile.
 */
import { randomBytes } from "node:crypto";
import { DroverError, resourceNames } from "../../protocol/index.ts";
import { DroverClient } from "../../runtime/index.ts";
import type { Ping, PingFigures } from "./stats.ts";
import { mergeDelayWindows, parseLeaseMessage, summarizePings } from "./stats.ts";
import type { ProbeWatch, Role, Seen } from "./support.ts";
import {
  delayWindows,
  isRetryable,
  now,
  pollHealth,
  PROBE_TYPE,
  round1,
  sleep,
} from "./support.ts";
import { BENCH_SUBMITTER } from "../bench-limits.ts";

export interface FailoverFigures {
  killed: string;
  oldTerm: number;
  /** Who holds the lease after the kill, and its term (the lease message's sequence). */
  newLeader: string | null;
  newTerm: number | null;
  /** Kill → the lease key names another replica. */
  leaseTakenMs: number | null;
  /** Kill → the watch sees the probe running or succeeded under a term above the old one. */
  firstAssignmentMs: number | null;
  /** Kill → the probe's `assignedAt` under the new term (the new leader's clock). */
  firstAssignmentRecordMs: number | null;
  probeSubmitRetries: number;
  pingSubject: string;
  pings: { before: PingFigures; after: PingFigures; sent: number };
  eventLoopDelay: Record<string, { maxMs: number; p99Ms: number; windows: number } | null>;
}

export async function measureFailover(o: {
  client: DroverClient;
  quick: DroverClient;
  prefix: string;
  roles: Role[];
  pingId: string;
  watch: ProbeWatch;
  failoverS: number;
  signal: AbortSignal;
  pollOpts: (
    what: string,
    timeoutMs?: number,
    intervalMs?: number,
  ) => { what: string; timeoutMs: number; intervalMs: number; signal: AbortSignal };
}): Promise<FailoverFigures> {
  const { quick, signal } = o;
  const schedulerIds = o.roles.map((r) => r.name);
  // Right before the kill: who leads under which term, and every replica's event-loop window
  // restarts (each health answer starts a new one).
  const before = await pollHealth(
    quick,
    schedulerIds,
    (latest) => [...latest.values()].some((h) => h.role === "leader" && h.term !== null),
    o.pollOpts("asking every scheduler for health before the kill"),
  );
  const leaderReply = [...before.values()]
    .flat()
    .findLast((h) => h.role === "leader" && h.term !== null)!;
  const killed = leaderReply.replicaId;
  const oldTerm = leaderReply.term!;
  const leaderRole = o.roles.find((r) => r.name === killed)!;
  const survivors = schedulerIds.filter((id) => id !== killed);

  const bucket = resourceNames(o.prefix).buckets.leader;
  const leaseSubject = `$JS.API.STREAM.MSG.GET.KV_${bucket}`;
  const leaseQuery = JSON.stringify({ last_by_subj: `$KV.${bucket}.lease` });
  const horizonMs = Math.max(15_000, o.failoverS * 1_000);

  leaderRole.killed = true;
  const killAt = now();
  const killAtEpoch = Date.now();
  leaderRole.proc.kill("SIGKILL");

  // The lease: polled every 20 ms from the stream, so its figure does not depend on health.
  const leaseTask = (async (): Promise<{ replicaId: string; seq: number; at: number } | null> => {
    while (now() - killAt < horizonMs && !signal.aborted) {
      try {
        const reply = await quick.nc.request(leaseSubject, leaseQuery, { timeout: 1_000 });
        const lease = parseLeaseMessage(reply.string());
        if (lease !== null && lease.replicaId !== killed) return { ...lease, at: now() };
      } catch {
        // A slow or lost answer: ask again.
      }
      await sleep(20);
    }
    return null;
  })();

  // A runnable probe submitted right after the kill. A request sent before NATS has noticed
  // the dead connection can be routed to the killed replica and never answered, so the submit
  // gives up after 500 ms and is sent again; its idempotency key makes a retry of a submit that
  // was in fact stored return the same task instead of a second one.
  let probeSubmitRetries = 0;
  const submitter = new DroverClient(quick.nc, {
    prefix: o.prefix,
    timeoutMs: 500,
    submitter: BENCH_SUBMITTER,
  });
  const idempotencyKey = `failover-probe-${randomBytes(6).toString("hex")}`;
  const probeTask = (async (): Promise<{ seen: Seen | null }> => {
    let id: string | null = null;
    while (id === null && now() - killAt < horizonMs && !signal.aborted) {
      try {
        id = (
          await submitter.submit({
            type: PROBE_TYPE,
            payload: { probe: "failover" },
            idempotencyKey,
          })
        ).id;
      } catch (err) {
        if (!isRetryable(err)) throw err;
        probeSubmitRetries++;
      }
    }
    if (id === null) return { seen: null };
    const seen = await o.watch.waitFor(
      id,
      (s) => (s.state === "running" || s.state === "succeeded") && s.term > oldTerm,
      Math.max(1, horizonMs - (now() - killAt)),
      signal,
    );
    return { seen };
  })();

  // API answer times: a `get` every 100 ms (not health, whose replies close event-loop windows).
  const pings: Ping[] = [];
  const inFlight: Promise<void>[] = [];
  const pinger = new DroverClient(quick.nc, { prefix: o.prefix, timeoutMs: 3_000 });
  for (let i = 0; now() - killAt < o.failoverS * 1_000 && !signal.aborted; i++) {
    const sentAt = now();
    const ping: Ping = { sentOffsetMs: round1(sentAt - killAt), answerMs: null };
    pings.push(ping);
    inFlight.push(
      pinger.get(o.pingId).then(
        () => void (ping.answerMs = round1(now() - sentAt)),
        (err: unknown) => {
          // An error reply is an answer; a timeout or no responders is not.
          if (err instanceof DroverError && !err.retryable) {
            ping.answerMs = round1(now() - sentAt);
            ping.error = err.message;
          }
        },
      ),
    );
    await sleep(Math.max(0, killAt + (i + 1) * 100 - now()));
  }
  await Promise.all(inFlight);
  const [lease, probe] = await Promise.all([leaseTask, probeTask]);

  // Each survivor's first health answer now closes a window that began just before the kill.
  const after = await pollHealth(
    quick,
    survivors,
    () => true,
    o.pollOpts("asking the surviving schedulers for health"),
  );
  const eventLoopDelay: FailoverFigures["eventLoopDelay"] = {};
  for (const id of schedulerIds)
    eventLoopDelay[id] =
      id === killed ? null : mergeDelayWindows(delayWindows(after.get(id) ?? []));
  const seen = probe.seen;
  return {
    killed,
    oldTerm,
    newLeader: lease?.replicaId ?? null,
    newTerm: seen?.term ?? lease?.seq ?? null,
    leaseTakenMs: lease !== null ? round1(lease.at - killAt) : null,
    firstAssignmentMs: seen !== null ? round1(seen.at - killAt) : null,
    firstAssignmentRecordMs:
      seen?.assignedAt != null ? round1(seen.assignedAt - killAtEpoch) : null,
    probeSubmitRetries,
    pingSubject: quick.subjects.api.get,
    pings: { ...summarizePings(pings), sent: pings.length },
    eventLoopDelay,
  };
}

// ---- printing ------------------------------------------------------------------------------
