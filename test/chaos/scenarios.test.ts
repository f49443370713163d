/**
 * Chaos suite: the actors run as containers on a 3-node NATS cluster (every stream and bucket
 * R3) with at least 2,000 tasks in flight when the fault hits. After each scenario the
 * independent checker (checker.ts) proves: every task terminal and succeeded, one accepted
 * completion each, none lost or stuck, executions ≥ completions, no epoch assigned twice.
 *
 * `npm run test:chaos` runs each scenario once (CI); `npm run chaos` repeats the timed ones
 * (CHAOS_RUNS, default 5) and prints the p50/p99 table of docs/resilience.md.
 */
import { appendFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Kvm } from "@nats-io/kv";
import Docker from "dockerode";
import { pino } from "pino";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { DockerDriver } from "../../src/drivers/docker-driver.ts";
import { resourceNames } from "../../src/protocol/index.ts";
import type { ScheduleRecord, TaskRecord } from "../../src/protocol/index.ts";
import { check, detours, scheduleTicks, summary } from "./checker.ts";
import type { CheckReport } from "./checker.ts";
import { ChaosCluster, HarnessError, retry, startChaosCluster } from "./cluster.ts";
import { images } from "../fixtures/docker.ts";

const FULL = process.env.CHAOS_FULL === "1";
const RUNS = FULL ? Number(process.env.CHAOS_RUNS ?? 5) : 1;
const IN_FLIGHT = 2_000;
/**
 * Bound on a dead worker's detection, the reassignment of its tasks when others have free
 * slots, and leader failover. The full run (`npm run chaos`: five runs, so p99 is the largest
 * value) asserts the documented p99 of 2 s; a single run on a loaded 2-core CI machine (beside
 * the build and the other suites) asserts twice that.
 */
const TIMING_BOUND_MS = FULL ? 2_000 : 4_000;
/** Submissions that go on while the fault happens. */
const AFTER_FAULT = 1_000;
const MAX_TASKS = 10_000;
/**
 * Tasks run more than once when one NATS node of three is SIGKILLed. Workers leave the dead
 * node before their heartbeat deadline, so nothing runs twice (measured 0) unless the workers
 * bucket's stream leader was on that node: then no heartbeat can be stored anywhere until a
 * new one is elected (seconds), workers fence themselves, and what they ran runs again (at
 * most 3 × 32 slots per round of fencing; 37 and 71 tasks handed back as "not in its
 * heartbeat" in two runs). The scenario kills the reports stream's leader: until start
 * timeouts consulted heartbeats, the reports waiting for its election also made tasks run
 * twice (183 and 177 "not started in time" in two runs; 298 re-runs in all in a fresh-clone
 * CI run at 7043834). Bound: three rounds of fencing.
 */
const RERUN_BOUND = 288;
/**
 * Client-visible unavailability: the longest one submit waited for its acceptance, through
 * its retries. A request in flight to a replica or a node that dies waits for the client's
 * 5 s timeout; a scenario that takes NATS nodes down says its own bound.
 */
const UNAVAILABLE_BOUND_MS = 10_000;
/**
 * When a NATS node dies, the streams whose leader it was elect a new one, which takes seconds
 * (measured 10.5–11.4 s of unavailability); writes to them wait until then.
 */
const NODE_KILL_UNAVAILABLE_BOUND_MS = 20_000;
/**
 * A paused (not dead) replica keeps its API subscription in the queue group: NATS still routes
 * requests to it until it resumes, and each waits for the client's 5 s timeout. A submit's
 * retry can land on it again, so two timeouts in a row happen (measured 10.8 s in a fresh-clone
 * CI run): the bound is three.
 */
const PAUSE_UNAVAILABLE_BOUND_MS = 15_000;
/** Schedules of the schedules scenario, each firing every second. */
const SCHEDULES = 20;
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const resultsFile = process.env.CHAOS_RESULTS ?? join(root, ".drover", "chaos-results.jsonl");

const figures: Record<string, number[]> = {};
function record(name: string, values: Record<string, number>): void {
  for (const [k, v] of Object.entries(values)) (figures[`${name}.${k}`] ??= []).push(v);
  mkdirSync(dirname(resultsFile), { recursive: true });
  appendFileSync(
    resultsFile,
    `${JSON.stringify({ scenario: name, at: new Date().toISOString(), ...values })}\n`,
  );
}

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

/** Saves the post-mortem material of every live cluster, before it goes away. */
async function postMortem(name: string): Promise<void> {
  const slug = name.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
  const dir = join(root, ".drover", "chaos-failures", `${Date.now()}-${slug}`);
  await Promise.allSettled([...ChaosCluster.live].map((c) => c.dumpDiagnostics(dir)));
  console.error(`chaos: diagnostics of "${name}" in ${dir}`);
}

async function disposeAll(): Promise<void> {
  await Promise.allSettled([...ChaosCluster.live].map((c) => c[Symbol.asyncDispose]()));
}

afterEach(async (ctx) => {
  if (ctx.task.result?.state === "fail") await postMortem(ctx.task.name);
  // Scenarios leave their cluster to this hook (not `await using`), so a failed one is still
  // there for the post-mortem above; then nothing may be left to slow the next one down.
  await disposeAll();
});

/** Scenarios run a second time because of a cause outside Drover, with that cause. */
const reruns: { scenario: string; cause: string }[] = [];

/**
 * A scenario. When a docker command fails (a cause outside Drover: see {@link HarnessError})
 * the scenario runs once more on a fresh cluster, after saving its post-mortem; the run's
 * summary lists every such re-run. Anything else — a broken invariant, a step that hangs (a
 * product bug until shown otherwise) — fails the scenario.
 */
function scenario(name: string, body: () => Promise<void>): void {
  it(name, async () => {
    try {
      await body();
    } catch (err) {
      if (!(err instanceof HarnessError)) throw err;
      console.error(`chaos: "${name}": ${err.message}; running it once more`);
      reruns.push({ scenario: name, cause: err.message });
      await postMortem(name);
      await disposeAll();
      await body();
    }
  });
}

afterAll(() => {
  console.log(
    reruns.length === 0
      ? "chaos: no scenario was re-run"
      : `chaos: ${reruns.length} scenario(s) re-run for a cause outside Drover:\n${reruns
          .map((r) => `  - ${r.scenario}: ${r.cause}`)
          .join("\n")}`,
  );
  const rows = Object.entries(figures).map(
    ([k, v]) => `| ${k} | ${v.length} | ${pct(v, 50)} | ${pct(v, 99)} | ${Math.max(...v)} |`,
  );
  if (rows.length > 0)
    console.log(
      ["| figure (ms) | runs | p50 | p99 | max |", "| --- | --- | --- | --- | --- |", ...rows].join(
        "\n",
      ),
    );
});

/**
 * Submits until IN_FLIGHT tasks are not yet terminal (the fault moment, returned at once),
 * then AFTER_FAULT more while the fault happens. How many that takes depends on the
 * machine's speed, not on a guess: `ids` resolves to every submitted id.
 */
async function load(c: ChaosCluster): Promise<{ ids: Promise<string[]>; inFlight: number }> {
  // 400–800 ms tasks on 3 × 32 slots: ~160 complete per second, fewer than are submitted,
  // so the backlog grows while the submits go on.
  let faultAt: number | null = null;
  const ids = c.submit(
    MAX_TASKS,
    () => 400 + Math.floor(Math.random() * 400),
    (submitted) => faultAt !== null && submitted >= faultAt + AFTER_FAULT,
  );
  let submitted: string[] | null = null;
  // Handled here too: a scenario that fails before awaiting `ids` must not leave an
  // unhandled rejection behind when its cluster goes away.
  ids.then(
    (x) => (submitted = x),
    () => undefined,
  );
  // Decided on the KV update that crosses the line, so the fault comes while it holds.
  await c.until(
    () => c.unfinished() >= IN_FLIGHT || submitted !== null,
    () => `fewer than ${IN_FLIGHT} tasks in flight after 120 s`,
    120_000,
  );
  faultAt = c.states.size;
  return { ids, inFlight: c.unfinished() };
}

/**
 * Awaits one step of a scenario, bounded and named: a step that hangs fails the scenario
 * with its name (and the post-mortem files) instead of running into the test timeout.
 */
async function step<T>(what: string, p: Promise<T>, ms = 120_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t0 = Date.now();
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`step "${what}" did not finish in ${ms} ms`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (Date.now() - t0 > 10_000) console.error(`chaos: step "${what}" took ${Date.now() - t0} ms`);
  }
}

/**
 * The invariants every scenario must keep, and the client-visible unavailability it caused:
 * the longest a submit took to be accepted through its retries (at most
 * `maxUnavailableMs`, {@link UNAVAILABLE_BOUND_MS} unless the scenario says otherwise).
 */
async function verify(
  name: string,
  c: ChaosCluster,
  ids: string[],
  extra: Record<string, unknown> = {},
  maxUnavailableMs = UNAVAILABLE_BOUND_MS,
  allTerminal: () => Promise<void> = () => c.allTerminal(ids),
): Promise<CheckReport> {
  await allTerminal();
  const r = await step("the checker", check(c.nc, c.prefix, ids));
  const unavailableMs = c.longestSubmitWaitMs;
  console.log(summary(name, r, { ...extra, unavailableMs, retriedSubmits: c.retriedSubmits }));
  record(name, { unavailableMs, reruns: r.executions - r.completions });
  expect(unavailableMs).toBeLessThanOrEqual(maxUnavailableMs);
  expect(r.lost).toEqual([]);
  expect(r.stuck).toEqual([]);
  expect(r.unsuccessful).toEqual([]);
  expect(r.records).toBe(ids.length);
  expect(r.stored).toBe(ids.length);
  expect(r.duplicateCompletions).toEqual([]);
  expect(r.completions).toBe(ids.length);
  expect(r.completedWithoutExecution).toEqual([]);
  expect(r.executions).toBeGreaterThanOrEqual(r.completions);
  expect(r.duplicateAssignments).toEqual([]);
  return r;
}

const historyAt = (t: TaskRecord, event: string, after = 0): number | undefined =>
  t.history.find((h) => h.event === event && h.at >= after)?.at;

/**
 * For the tasks a killed worker held: detection = first WORKER_LOST, requeue = last
 * WORKER_LOST (all of them back in the queue), reassignment = last new ASSIGN elsewhere;
 * each in ms after the kill.
 */
function lossTimes(
  lost: TaskRecord[],
  killedAt: number,
): { detection: number; requeue: number; reassignment: number } {
  const lostAt = lost.map((t) => historyAt(t, "WORKER_LOST", killedAt)!);
  const reassignedAt = lost.map((t, i) => historyAt(t, "ASSIGN", lostAt[i])!);
  return {
    detection: Math.min(...lostAt) - killedAt,
    requeue: Math.max(...lostAt) - killedAt,
    reassignment: Math.max(...reassignedAt) - killedAt,
  };
}

/**
 * Finds the tasks a worker killed at `killedAt` held (they carry a WORKER_LOST after it),
 * asserts there were some, and records how fast they were handled under `name`.
 */
function measureLoss(
  name: string,
  r: CheckReport,
  killedAt: number,
  extra: Record<string, number> = {},
): { detection: number; requeue: number; reassignment: number } {
  const lost = [...r.byId.values()].filter(
    (t) => historyAt(t, "WORKER_LOST", killedAt) !== undefined,
  );
  expect(lost.length).toBeGreaterThan(0);
  const times = lossTimes(lost, killedAt);
  record(name, {
    detectionMs: times.detection,
    requeueMs: times.requeue,
    reassignmentMs: times.reassignment,
    lostTasks: lost.length,
    executions: r.executions,
    completions: r.completions,
    ...extra,
  });
  return times;
}

async function busiestWorker(c: ChaosCluster): Promise<string> {
  const ws = await c.client.workers();
  return [...ws].sort((a, b) => b.running.length - a.running.length)[0]!.id;
}

describe("chaos: actors as containers, 3-node NATS", () => {
  for (let run = 1; run <= RUNS; run++) {
    scenario(`SIGKILL a worker mid-task: its tasks finish elsewhere (run ${run})`, async () => {
      const c = await startChaosCluster();
      const { ids, inFlight } = await load(c);
      const victim = await busiestWorker(c);
      const killedAt = await c.kill(victim);
      const all = await step("the submissions", ids);
      const r = await verify("worker-kill", c, all, { inFlight, victim });
      const { detection } = measureLoss("worker-kill", r, killedAt, { inFlight });
      expect(inFlight).toBeGreaterThanOrEqual(IN_FLIGHT);
      expect(detection).toBeLessThanOrEqual(TIMING_BOUND_MS);
    });

    scenario(
      `SIGKILL a worker while the others have free slots: its tasks run elsewhere at once (run ${run})`,
      async () => {
        // The saturated scenario above measures reassignment plus the wait for a slot to free
        // up. Here the survivors have room, so the figure is detection plus re-placement only:
        // the "running elsewhere within 2 s" promise. 3 × 32 slots, 45 long tasks running.
        const c = await startChaosCluster();
        const ids = await c.submit(45, () => 8_000);
        await c.until(
          () => ids.every((id) => c.states.get(id) === "running"),
          () => "45 tasks not all running after 30 s",
          30_000,
        );
        const victim = await busiestWorker(c);
        const killedAt = await c.kill(victim);
        const r = await verify("worker-kill-spare", c, ids, { victim });
        const { reassignment } = measureLoss("worker-kill-spare", r, killedAt);
        expect(reassignment).toBeLessThanOrEqual(TIMING_BOUND_MS);
      },
    );

    scenario(`SIGKILL the leader: a follower leads and dispatch resumes (run ${run})`, async () => {
      const c = await startChaosCluster();
      const { ids, inFlight } = await load(c);
      const before = await c.leaderInfo();
      const killedAt = await c.kill(before.leaderId);
      const after = await c.leaderInfo(30_000);
      expect(after.leaderId).not.toBe(before.leaderId);
      expect(after.term).toBeGreaterThan(before.term);
      const all = await step("the submissions", ids);
      const r = await verify("leader-kill", c, all, { inFlight });
      const firstAssign = Math.min(
        ...r.assigned.filter((e) => e.term === after.term).map((e) => e.at),
      );
      const failover = firstAssign - killedAt;
      record("leader-kill", {
        failoverMs: failover,
        executions: r.executions,
        completions: r.completions,
        inFlight,
      });
      expect(inFlight).toBeGreaterThanOrEqual(IN_FLIGHT);
      expect(failover).toBeLessThanOrEqual(TIMING_BOUND_MS);
    });
  }

  scenario(
    "kill one NATS node of three under load, restart it later: nothing lost, clients reconnect",
    async () => {
      const c = await startChaosCluster();
      const { ids, inFlight } = await load(c);
      // The node that leads the reports stream: every `started` report then waits for an
      // election, and the leader must not hand back the tasks their workers hold meanwhile.
      const { streams, buckets } = resourceNames(c.prefix);
      const leaders = await c.streamLeaders([streams.reports, `KV_${buckets.workers}`]);
      const victim = leaders.get(streams.reports)!;
      const led = [...leaders].filter(([, i]) => i === victim).map(([s]) => s);
      await c.nats.kill(victim);
      await new Promise((r) => setTimeout(r, 5_000)); // the fault lasts a while on purpose
      await c.nats.restart(victim);
      const r = await verify(
        "nats-node-kill",
        c,
        await step("the submissions", ids),
        { inFlight, killedNodeLed: led },
        NODE_KILL_UNAVAILABLE_BOUND_MS,
      );
      const reruns = r.executions - r.completions;
      record("nats-node-kill", { executions: r.executions, completions: r.completions, inFlight });
      // A start timeout never hands back a task its worker's heartbeat lists: with the
      // workers bucket led elsewhere, heartbeats keep listing every task the workers hold
      // while the reports wait. (When the node led the bucket too, workers fence and drop
      // their tasks, and a start timeout may rightly hand those back first.)
      if (!led.includes(`KV_${buckets.workers}`))
        expect(detours(r)["RELEASE: not started in time"] ?? 0).toBe(0);
      // Workers on the killed node move to another one before their heartbeat deadline
      // (a server silent for a sixth of the TTL is left): tasks run again only where a
      // heartbeat could not be stored in time anywhere (the workers bucket changing leader).
      expect(reruns).toBeLessThanOrEqual(RERUN_BOUND);
      expect(inFlight).toBeGreaterThanOrEqual(IN_FLIGHT);
    },
  );

  scenario(
    "cut a worker off the network: it fences itself, its tasks rerun elsewhere, late results are refused",
    async () => {
      const c = await startChaosCluster();
      const { ids, inFlight } = await load(c);
      const victim = await busiestWorker(c);
      const cutAt = await c.cut(victim);
      await c.waitFor(
        async () => !(await c.client.workers()).some((w) => w.id === victim),
        "the victim's heartbeat to expire",
        20_000,
      );
      await c.heal(victim);
      await c.waitFor(
        async () => (await c.client.workers()).some((w) => w.id === victim),
        "the victim to re-register",
        60_000,
      );
      const all = await step("the submissions", ids);
      const r = await verify("worker-partition", c, all, { inFlight, victim });
      const logs = await c.actor(victim).handle.logs();
      expect(logs).toMatch(/fencing/);
      const requeued = [...r.byId.values()].filter(
        (t) => historyAt(t, "WORKER_LOST", cutAt) !== undefined,
      );
      expect(requeued.length).toBeGreaterThan(0);
      record("worker-partition", {
        executions: r.executions,
        completions: r.completions,
        refusedReports: r.refusedReports,
        requeued: requeued.length,
        inFlight,
      });
      expect(inFlight).toBeGreaterThanOrEqual(IN_FLIGHT);
    },
  );

  scenario(
    "pause the leader past its lease, then resume it: it never assigns under its stale term",
    async () => {
      const c = await startChaosCluster();
      const { ids, inFlight } = await load(c);
      const before = await c.leaderInfo();
      const pausedAt = Date.now();
      await c.pause(before.leaderId);
      const after = await c.leaderInfo(30_000);
      expect(after.term).toBeGreaterThan(before.term);
      await new Promise((r) => setTimeout(r, 1_000)); // keep it paused well past its lease
      await c.unpause(before.leaderId);
      const r = await verify(
        "leader-pause",
        c,
        await step("the submissions", ids),
        { inFlight },
        PAUSE_UNAVAILABLE_BOUND_MS,
      );
      const takeover = Math.min(
        ...r.assigned.filter((e) => e.term === after.term).map((e) => e.at),
      );
      // Under its old term the paused leader assigned nothing after the new leader began.
      const stale = r.assigned.filter((e) => e.term <= before.term && e.at >= takeover);
      expect(stale).toEqual([]);
      const logs = await c.actor(before.leaderId).handle.logs();
      expect(logs).toMatch(/stepping down|lost leadership/);
      record("leader-pause", {
        takeoverMs: takeover - pausedAt,
        executions: r.executions,
        completions: r.completions,
        inFlight,
      });
      expect(inFlight).toBeGreaterThanOrEqual(IN_FLIGHT);
    },
  );

  scenario(
    "20 schedules every second through a SIGKILLed leader and NATS node: every tick makes exactly one task",
    async () => {
      const c = await startChaosCluster();
      const ids = Array.from({ length: SCHEDULES }, (_, i) => `every-second-${i}`);
      // Every missed tick is fired within a minute: longer than any failover here. Runs may
      // overlap, so that no tick is skipped because a run was slow during the fault.
      await Promise.all(
        ids.map((id) =>
          retry(() =>
            c.client.schedules
              .create({
                id,
                task: { type: "work", payload: { ms: 50 } },
                everyMs: 1_000,
                overlap: "allow",
                catchUp: { windowMs: 60_000, fire: "all" },
              })
              // A retried create whose first try was stored but not answered.
              .catch((err: unknown) => {
                if ((err as { code?: string }).code !== "conflict") throw err;
              }),
          ),
        ),
      );
      const list = (): Promise<ScheduleRecord[]> => retry(() => c.client.schedules.list());
      await step(
        "three runs of every schedule",
        c.waitFor(async () => (await list()).every((s) => s.state.runs >= 3), "runs", 60_000),
      );
      // The leader and the NATS node that leads the schedules bucket die together.
      const bucket = `KV_${resourceNames(c.prefix).buckets.schedules}`;
      const node = (await c.streamLeaders([bucket])).get(bucket)!;
      const before = await c.leaderInfo();
      const faultAt = Date.now();
      await Promise.all([c.kill(before.leaderId), c.nats.kill(node)]);
      const after = await c.leaderInfo(30_000);
      expect(after.term).toBeGreaterThan(before.term);
      // Ten seconds of ticks after the fault have been handled by the new leader.
      await step(
        "ticks after the fault",
        c.waitFor(
          async () => (await list()).every((s) => (s.state.lastTick ?? 0) >= faultAt + 10_000),
          "ticks after the fault",
          90_000,
        ),
      );
      await c.nats.restart(node);
      await Promise.all(ids.map((id) => retry(() => c.client.schedules.pause(id))));
      const schedules = await list();
      // The tasks are read from the bucket, not from the test's watch of it: a watch whose
      // server was the node killed may miss what was written while it moved.
      const finished = (): Promise<void> =>
        c.waitFor(
          async () =>
            (
              await c.client.list({
                state: ["queued", "delayed", "assigned", "running", "retrying"],
                limit: 1,
              })
            ).tasks.length === 0,
          "every scheduled task to finish",
          60_000,
        );
      await step("every scheduled task to finish", finished());
      const tasksKv = await new Kvm(c.nc).open(resourceNames(c.prefix).buckets.tasks);
      const taskIds = await retry(async () => {
        const keys: string[] = [];
        for await (const k of await tasksKv.keys()) keys.push(k);
        return keys;
      });
      const r = await verify(
        "schedules",
        c,
        taskIds,
        { schedules: SCHEDULES },
        NODE_KILL_UNAVAILABLE_BOUND_MS,
        finished,
      );
      const ticks = scheduleTicks(schedules, r.byId.values());
      console.log(JSON.stringify({ scheduleTicks: ticks, faultAt, killedNode: node }));
      record("schedules", {
        ticksExpected: ticks.expected,
        tasksCreated: ticks.created,
        duplicates: ticks.doubled.length,
        missing: ticks.missing.length,
        unrecorded: ticks.unrecorded,
        maxLateMs: ticks.maxLateMs,
        lateOverOneSecond: ticks.lateOverOneSecond,
      });
      expect(ticks.missing).toEqual([]);
      expect(ticks.doubled).toEqual([]);
      expect(ticks.expected).toBeGreaterThanOrEqual(SCHEDULES * 13);
      expect(ticks.created).toBe(ticks.expected + ticks.unrecorded);
      for (const s of schedules) expect(s.state.skipped, s.id).toBe(0);
    },
  );

  scenario("restart all three NATS nodes: the cluster resumes with its state intact", async () => {
    const c = await startChaosCluster();
    const { ids, inFlight } = await load(c);
    await c.restartNats();
    // Nothing can accept a submit while all three nodes restart (16 s measured with a 10 s
    // client timeout).
    const r = await verify(
      "nats-full-restart",
      c,
      await step("the submissions", ids),
      { inFlight },
      40_000,
    );
    record("nats-full-restart", { executions: r.executions, completions: r.completions, inFlight });
    expect(inFlight).toBeGreaterThanOrEqual(IN_FLIGHT);
  });

  scenario("rolling restart of every scheduler and worker under load: no loss", async () => {
    const c = await startChaosCluster();
    const { ids, inFlight } = await load(c);
    const steps: Record<string, number> = {};
    for (const id of ["s1", "s2", "w1", "w2", "w3"]) {
      const t0 = Date.now();
      await c.restart(id);
      steps[`${id}Ms`] = Date.now() - t0;
    }
    console.log(JSON.stringify({ rollingRestartSteps: steps }));
    const r = await verify("rolling-restart", c, await step("the submissions", ids), { inFlight });
    record("rolling-restart", { executions: r.executions, completions: r.completions, inFlight });
    expect(inFlight).toBeGreaterThanOrEqual(IN_FLIGHT);
  });
  scenario(
    "autoscaled pool: grows for a burst, a SIGKILLed leader's successor continues, shrinks after, nothing lost or run twice",
    async () => {
      const c = await startChaosCluster({ workers: 0 });
      const driver = new DockerDriver(new Docker(), c.client, {
        prefix: c.prefix,
        pool: "elastic",
        image: images.drover,
        network: c.nats.network.getName(),
        natsUrl: c.nats.internalServers.join(","),
        capacity: { cpu: 4, memoryMb: 4096, slots: 16 },
        labels: {},
        handlers: "/app/test/chaos/handlers.ts",
        mounts: [`${join(root, "test", "chaos", "handlers.ts")}:/app/test/chaos/handlers.ts`],
        drainGraceMs: 20_000,
        env: { DROVER_REPLICAS: "3" },
        log: pino({ level: "silent" }),
      });
      const pool = async (): Promise<{
        ready: number;
        draining: number;
        desired: number | null;
        term: number | null;
      }> => {
        const p = (await c.client.pools()).find((x) => x.pool === "elastic");
        return {
          ready: p?.ready ?? 0,
          draining: p?.draining ?? 0,
          desired: p?.decision?.desired ?? null,
          term: p?.decision?.term ?? null,
        };
      };
      try {
        await c.client.setPool({
          pool: "elastic",
          template: { types: ["work"], capacity: { cpu: 4, memoryMb: 4096, slots: 16 } },
          scale: { min: 1, max: 4, scaleUpWindowMs: 2_000, scaleDownWindowMs: 10_000, maxStep: 4 },
        });
        driver.start();
        await step(
          "the first worker container",
          c.waitFor(async () => (await pool()).ready === 1, "one worker", 90_000),
        );
        // 1,200 tasks of 0.4–0.8 s: about 10 s of work for 4 × 16 slots, far more for one.
        const submitted = c.submit(1_200, () => 400 + Math.floor(Math.random() * 400));
        await step(
          "the pool to reach 4",
          c.waitFor(async () => (await pool()).ready === 4, "4 workers", 60_000),
        );
        const { leaderId, term } = await c.leaderInfo();
        await c.kill(leaderId);
        await step(
          "the new leader's first decision",
          c.waitFor(
            async () => {
              const p = await pool();
              return p.term !== null && p.term > term;
            },
            "a decision of a newer term",
            60_000,
          ),
        );
        const continued = await pool();
        const ids = await step("the submissions", submitted);
        const r = await verify("autoscale", c, ids);
        await step(
          "the pool to shrink to 1",
          c.waitFor(
            async () => {
              const p = await pool();
              return p.ready === 1 && p.draining === 0 && p.desired === 1;
            },
            "one worker again",
            10_000 + 60_000,
          ),
        );
        console.log(
          JSON.stringify({
            autoscale: {
              continuedFrom: continued.desired,
              created: driver.stats.created,
              stopped: driver.stats.stopped,
            },
          }),
        );
        record("autoscale", { executions: r.executions, completions: r.completions });
        // The new leader went on from the 4 containers that exist.
        expect(continued.desired).toBe(4);
        // No task ran twice: neither the leader's death nor a scale-in cut one short.
        expect(r.executions).toBe(r.completions);
        expect(driver.stats.stopped).toBeGreaterThanOrEqual(3);
      } finally {
        await driver.stop(true);
      }
    },
  );
});
