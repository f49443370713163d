/**
 * Recurring schedules against a real nats-server: the API's validation and changes, one task
 * per tick with its tick's idempotency key, missed ticks inside and beyond the catch-up window,
 * every overlap policy, and a failover that neither misses nor doubles a tick.
 */
import { describe, expect, it } from "vitest";
import type { ScheduleRecord, TaskRecord } from "../../src/protocol/index.ts";
import { DroverClient } from "../../src/runtime/index.ts";
import { scheduleTickKey } from "../../src/protocol/index.ts";
import examples from "../../src/examples/handlers.ts";
import type { TestDrover } from "../fixtures/drover.ts";
import { startDrover } from "../fixtures/drover.ts";
import { useNats } from "../fixtures/nats.ts";

const env = useNats();

/** The error code a rejected call carries. */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as { code: string }).code;
  }
  return "none";
}

/** Waits until the schedule satisfies `check`, and returns it. */
async function until(
  d: TestDrover,
  id: string,
  check: (s: ScheduleRecord) => boolean,
  what: string,
): Promise<ScheduleRecord> {
  let last: ScheduleRecord | null = null;
  await d.waitFor(async () => check((last = await d.client.schedules.get(id))), `${id}: ${what}`);
  return last!;
}

/** Each recorded run's task, read back by the tick's idempotency key. */
async function tasksOf(d: TestDrover, s: ScheduleRecord): Promise<TaskRecord[]> {
  return await Promise.all(
    s.state.recent.map((r) => d.client.getByKey(scheduleTickKey(s.id, r.tick))),
  );
}

/**
 * Every recent run of `s` is the next tick of the one before (none missing, none doubled, no
 * skip recorded), and each has a task of its own, the one its tick's key names.
 */
async function expectEveryTickOnce(d: TestDrover, s: ScheduleRecord): Promise<TaskRecord[]> {
  const ticks = s.state.recent.map((r) => r.tick);
  expect(ticks.slice(1).map((t, i) => t - ticks[i]!)).toEqual(ticks.slice(1).map(() => 1_000));
  expect(s.state.skipped).toBe(0);
  const tasks = await tasksOf(d, s);
  expect(tasks.map((t) => t.id)).toEqual(s.state.recent.map((r) => r.taskId));
  expect(new Set(tasks.map((t) => t.id)).size).toBe(ticks.length);
  return tasks;
}

describe("schedules API", () => {
  it("validates at the edge, creates, lists, pauses, resumes, updates and deletes", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    const s = d.client.schedules;
    const task = { type: "echo" };
    expect(await codeOf(s.create({ id: "bad", task, cron: "every day" }))).toBe(
      "validation_failed",
    );
    expect(
      await codeOf(s.create({ id: "bad", task, cron: "@daily", timezone: "Mars/Olympus" })),
    ).toBe("validation_failed");
    expect(await codeOf(s.create({ id: "bad", task, cron: "@daily", everyMs: 5_000 }))).toBe(
      "validation_failed",
    );
    expect(await codeOf(s.create({ id: "a.b", task, everyMs: 5_000 }))).toBe("validation_failed");
    // Every replica holds every schedule: a record is at most 64 KiB, its template included.
    expect(
      await codeOf(
        s.create({
          id: "big",
          task: { type: "echo", payload: "x".repeat(70_000) },
          everyMs: 5_000,
        }),
      ),
    ).toBe("payload_too_large");
    expect(await s.list()).toEqual([]);

    const created = await s.create({
      id: "nightly",
      task,
      cron: "30 2 * * *",
      timezone: "Europe/Berlin",
    });
    expect(created.state.nextTick).toBeGreaterThan(Date.now());
    expect(
      new Date(created.state.nextTick!).toLocaleTimeString("en-GB", { timeZone: "Europe/Berlin" }),
    ).toBe("02:30:00");
    expect(await codeOf(s.create({ id: "nightly", task, everyMs: 5_000 }))).toBe("conflict");
    expect((await s.list()).map((x) => x.id)).toEqual(["nightly"]);
    expect((await s.pause("nightly")).paused).toBe(true);
    expect((await s.resume("nightly")).paused).toBe(false);
    const updated = await s.update({ id: "nightly", task, everyMs: 60_000 });
    expect(updated.spec.everyMs).toBe(60_000);
    expect(updated.createdAt).toBe(created.createdAt);
    await s.delete("nightly");
    expect(await codeOf(s.get("nightly"))).toBe("not_found");
    expect(await codeOf(s.delete("nightly"))).toBe("not_found");
    expect(await codeOf(s.pause("nightly"))).toBe("not_found");

    // Changing schedules is an admin's request: a named submitter may only read them.
    const asSubmitter = new DroverClient(d.client.nc, { prefix: d.prefix, submitter: "team-a" });
    expect(await codeOf(asSubmitter.schedules.create({ id: "mine", task, everyMs: 5_000 }))).toBe(
      "forbidden",
    );
    expect(await asSubmitter.schedules.list()).toEqual([]);
  });
});

describe("firing", () => {
  it("submits one task per tick with the tick's idempotency key, and the task runs", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    await d.addWorker({ id: "w1", handlers: examples });
    // Every tick caught up and runs allowed to overlap: on a loaded machine a look may come a
    // tick late, or a run outlast its second, and neither may leave a gap here (the defaults'
    // behaviour is tested below and in schedule-plan.test.ts).
    await d.client.schedules.create({
      id: "every-second",
      task: { type: "echo", payload: 7 },
      everyMs: 1_000,
      overlap: "allow",
      catchUp: { windowMs: 60_000, fire: "all" },
    });
    const s = await until(d, "every-second", (x) => x.state.runs >= 3, "three runs");
    await d.client.schedules.pause("every-second");
    expect(s.state.recent[0]!.tick - s.createdAt).toBe(1_000);
    const tasks = await expectEveryTickOnce(d, s);
    for (const t of tasks) {
      expect(t.type).toBe("echo");
      expect(t.payload).toBe(7);
    }
    await d.waitFor(
      async () => (await d.client.get(tasks[0]!.id)).state === "succeeded",
      "the first run to succeed",
    );
    // The leader fired each tick at its time, not before it.
    for (const r of s.state.recent) expect(r.firedAt).toBeGreaterThanOrEqual(r.tick);
    // …and counts what it fired for Prometheus.
    const text = await d.leader()!.metrics.registry.metrics();
    expect(
      Number(/^drover_schedule_fires_total\{[^}]*\} (\d+)$/m.exec(text)?.[1]),
    ).toBeGreaterThanOrEqual(3);
    expect(text).toMatch(/^drover_schedules\{[^}]*\} 1$/m);
  });

  it("a tick already submitted (a leader that died before recording it) creates nothing new", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    const tick = Math.ceil((Date.now() + 3_000) / 1_000) * 1_000;
    // What the dead leader submitted for the tick.
    const first = await d.client.submit({
      type: "echo",
      idempotencyKey: scheduleTickKey("once", tick),
    });
    await d.client.schedules.create({ id: "once", task: { type: "echo" }, at: tick });
    const s = await until(d, "once", (x) => x.state.runs === 1, "its run");
    expect(s.state.recent[0]).toMatchObject({ tick, taskId: first.id });
    expect(s.state.nextTick).toBeNull();
  });
});

describe("missed ticks", () => {
  it("ticks that passed while paused: `all` submits each of them, `once` the latest and records the rest", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    const make = (id: string, fire: "all" | "once") =>
      d.client.schedules.create({
        id,
        task: { type: "echo" },
        everyMs: 1_000,
        overlap: "allow",
        catchUp: { windowMs: 60_000, fire },
      });
    await make("all", "all");
    await make("once", "once");
    const all0 = await d.client.schedules.pause("all");
    const once0 = await d.client.schedules.pause("once");
    // Four ticks or more pass with both paused: the leader's clock is what decides they were missed.
    const from = Math.max(all0.state.nextTick!, once0.state.nextTick!);
    await d.waitFor(() => Date.now() > from + 3_500, "four ticks to pass");
    expect((await d.client.schedules.get("all")).state.runs).toBe(all0.state.runs);
    await d.client.schedules.resume("all");
    await d.client.schedules.resume("once");

    const all = await until(
      d,
      "all",
      (x) => x.state.runs >= all0.state.runs + 4,
      "the missed ticks",
    );
    const ticks = all.state.recent.map((r) => r.tick).filter((t) => t >= all0.state.nextTick!);
    expect(ticks.slice(0, 4)).toEqual([0, 1, 2, 3].map((k) => all0.state.nextTick! + k * 1_000));
    expect(all.state.skipped).toBe(0);

    const once = await until(d, "once", (x) => x.state.runs > once0.state.runs, "one catch-up run");
    const caughtUp = once.state.recent.at(-1)!;
    expect(once.state.skipped).toBeGreaterThanOrEqual(3);
    expect(once.state.lastSkip).toMatchObject({ reason: "missed", tick: caughtUp.tick - 1_000 });
    expect(caughtUp.tick).toBeGreaterThanOrEqual(once0.state.nextTick! + 3_000);
  });

  it("a single time that passed is submitted within the catch-up window, and skipped beyond it", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    const at = Date.now() - 5_000;
    await d.client.schedules.create({
      id: "late",
      task: { type: "echo" },
      at,
      catchUp: { windowMs: 60_000 },
    });
    await d.client.schedules.create({
      id: "stale",
      task: { type: "echo" },
      at,
      catchUp: { windowMs: 2_000 },
    });
    const late = await until(d, "late", (x) => x.state.nextTick === null, "its look");
    expect(late.state).toMatchObject({ runs: 1, skipped: 0 });
    expect(late.state.recent[0]!.tick).toBe(at);
    const stale = await until(d, "stale", (x) => x.state.nextTick === null, "its look");
    expect(stale.state).toMatchObject({ runs: 0, skipped: 1, recent: [] });
    expect(stale.state.lastSkip).toMatchObject({ tick: at, reason: "missed" });
    // Nothing was submitted for it.
    expect(await codeOf(d.client.getByKey(scheduleTickKey("stale", at)))).toBe("not_found");
  });
});

describe("overlap policies", () => {
  it("skip, buffer-one, allow and cancel-previous, with runs longer than the interval", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    await d.addWorker({
      id: "w1",
      handlers: examples,
      capacity: { cpu: 8, memoryMb: 8_192, slots: 16 },
    });
    const task = { type: "sleep", payload: { ms: 2_500 } };
    // Every tick caught up: a look a tick late on a loaded machine skips nothing as missed.
    const catchUp = { windowMs: 60_000, fire: "all" } as const;
    for (const overlap of ["skip", "buffer-one", "allow", "cancel-previous"] as const)
      await d.client.schedules.create({ id: overlap, task, everyMs: 1_000, overlap, catchUp });

    const skip = await until(d, "skip", (x) => x.state.runs >= 2, "two runs");
    expect(skip.state.lastSkip?.reason).toBe("overlap");
    const skipped = await tasksOf(d, skip);
    // A new run starts only after the previous one finished.
    await d.waitFor(
      async () => (await d.client.get(skipped[0]!.id)).finishedAt !== null,
      "the first run to finish",
    );
    const firstDone = (await d.client.get(skipped[0]!.id)).finishedAt!;
    expect(skipped[1]!.createdAt).toBeGreaterThanOrEqual(firstDone);

    const buffered = await until(d, "buffer-one", (x) => x.state.runs >= 2, "the held tick's run");
    const [b1, b2] = await tasksOf(d, buffered);
    const [r1, r2] = buffered.state.recent;
    // The second run is a tick held while the first ran: submitted once the first finished,
    // well after its own tick (the first runs 2.5 s; the held tick came within it).
    await d.waitFor(async () => (await d.client.get(b1!.id)).finishedAt !== null, "the first run");
    expect(b2!.createdAt).toBeGreaterThanOrEqual((await d.client.get(b1!.id)).finishedAt!);
    expect(r2!.tick).toBeGreaterThan(r1!.tick);
    expect(r2!.firedAt - r2!.tick).toBeGreaterThan(400);
    expect(buffered.state.lastSkip?.reason ?? "overlap").toBe("overlap");

    const allow = await until(d, "allow", (x) => x.state.runs >= 3, "three runs");
    expect(allow.state.skipped).toBe(0);
    const allowed = await tasksOf(d, allow);
    await d.waitFor(
      async () => (await d.client.get(allowed[1]!.id)).startedAt !== null,
      "the second run to start",
    );
    // Overlapping: the second started before the first finished.
    const [a1, a2] = await Promise.all([
      d.client.get(allowed[0]!.id),
      d.client.get(allowed[1]!.id),
    ]);
    expect(a1.finishedAt === null || a2.startedAt! < a1.finishedAt).toBe(true);

    const cancel = await until(d, "cancel-previous", (x) => x.state.runs >= 3, "three runs");
    const cancelled = await tasksOf(d, cancel);
    await d.waitFor(
      async () => (await d.client.get(cancelled[0]!.id)).state === "cancelled",
      "the first run to be cancelled by the second",
    );
    for (const id of ["skip", "buffer-one", "allow", "cancel-previous"])
      await d.client.schedules.pause(id);
  });
});

describe("failover", () => {
  it("a new leader fires every tick the old one did not, once", async () => {
    await using d = await startDrover({ servers: env.nats.servers, schedulers: 2 });
    await d.addWorker({ id: "w1", handlers: examples });
    await d.client.schedules.create({
      id: "ha",
      task: { type: "echo" },
      everyMs: 1_000,
      overlap: "allow",
      catchUp: { windowMs: 60_000, fire: "all" },
    });
    await until(d, "ha", (x) => x.state.runs >= 2, "two runs under the first leader");
    const first = d.leader()!;
    await first.close();
    await d.waitFor(() => d.leader() !== undefined && d.leader() !== first, "a new leader");
    const s = await until(d, "ha", (x) => x.state.runs >= 6, "runs under the new leader");
    await d.client.schedules.pause("ha");
    // No tick missing and none doubled, across the handover.
    await expectEveryTickOnce(d, s);
  });
});

describe("every scheduler down", () => {
  it("ticks missed while no scheduler ran are fired once each by the next one (`all`)", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    await d.addWorker({ id: "w1", handlers: examples });
    await d.client.schedules.create({
      id: "outage",
      task: { type: "echo" },
      everyMs: 1_000,
      overlap: "allow",
      catchUp: { windowMs: 60_000, fire: "all" },
    });
    const before = await until(d, "outage", (x) => x.state.runs >= 2, "two runs");
    await d.replicas[0]!.close();
    // Three ticks or more pass with no scheduler at all.
    const downUntil = before.state.nextTick! + 3_500;
    await d.waitFor(() => Date.now() > downUntil, "three ticks without a scheduler");
    const back = await d.addScheduler("s2");
    await d.waitFor(() => back.leading, "the new scheduler to lead");
    const s = await until(
      d,
      "outage",
      (x) => (x.state.lastTick ?? 0) >= downUntil,
      "the missed ticks and one more",
    );
    await d.client.schedules.pause("outage");
    await expectEveryTickOnce(d, s);
    // The ticks of the outage were fired late, when the scheduler came back.
    // (The tick due at the close may have been fired on time just before it.)
    const late = s.state.recent.filter(
      (r) => r.tick > before.state.nextTick! && r.tick <= downUntil - 500,
    );
    expect(late.length).toBe(3);
    // Fired once the new scheduler led, after `downUntil`: the latest of them 500 ms late or more.
    for (const r of late) expect(r.firedAt).toBeGreaterThan(downUntil);
  });
});

describe("clock skew", () => {
  it("leaders whose clocks run 3 s ahead, then 3 s behind, fire every tick once", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    await d.addWorker({ id: "w1", handlers: examples });
    const [first] = d.replicas;
    const ahead = await d.addScheduler("ahead", { scheduleClock: () => Date.now() + 3_000 });
    await first!.close();
    await d.waitFor(() => ahead.leading, "the replica ahead to lead");
    await d.client.schedules.create({
      id: "skew",
      task: { type: "echo" },
      everyMs: 1_000,
      overlap: "allow",
      catchUp: { windowMs: 60_000, fire: "all" },
    });
    const early = await until(d, "skew", (x) => x.state.runs >= 3, "runs by the leader ahead");
    const behind = await d.addScheduler("behind", { scheduleClock: () => Date.now() - 3_000 });
    await ahead.close();
    await d.waitFor(() => behind.leading, "the replica behind to lead");
    const s = await until(
      d,
      "skew",
      (x) => x.state.runs >= early.state.runs + 3,
      "runs by the leader behind",
    );
    await d.client.schedules.pause("skew");
    // Each leader judged the ticks by its own clock (the one ahead fired them early), and
    // the ticks themselves came from the schedule: none doubled, none missed.
    expect(early.state.recent.some((r) => r.firedAt < r.tick + 3_000)).toBe(true);
    await expectEveryTickOnce(d, s);
  });
});
