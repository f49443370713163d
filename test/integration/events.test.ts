/**
 * Events are delivered at least once, each with a de-duplicating id. They used to be
 * published fire-and-forget after the write: an events stream that was briefly unavailable,
 * or a leader that died between its write and its publish, lost them for good.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import { resourceNames } from "../../src/protocol/index.ts";
import type { TaskRecord, TaskTransitionEvent } from "../../src/protocol/index.ts";
import { ensureResources, TaskStore } from "../../src/runtime/index.ts";
import { eventId } from "../../src/runtime/task-events.ts";
import examples from "../../src/examples/handlers.ts";
import type { TestDrover } from "../fixtures/drover.ts";
import { startDrover, TEST_MAX_BYTES } from "../fixtures/drover.ts";
import { useNats } from "../fixtures/nats.ts";

const env = useNats();

interface Stored {
  id: string | undefined;
  event: TaskTransitionEvent;
}

/** Every task event in the prefix's events stream, with its message id. */
async function storedEvents(prefix: string): Promise<Stored[]> {
  const jsm = await jetstreamManager(env.nc);
  const stream = resourceNames(prefix).streams.events;
  const { state } = await jsm.streams.info(stream);
  const out: Stored[] = [];
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (m === null || !m.subject.includes(".events.task.")) continue;
    out.push({
      id: m.header.get("Nats-Msg-Id") || undefined,
      event: m.json<TaskTransitionEvent>(),
    });
  }
  return out;
}

const states = (events: Stored[], taskId: string): string[] =>
  events.filter((e) => e.event.taskId === taskId).map((e) => e.event.to);

/**
 * The states a task's events say it entered, in the order it entered them (by the change's
 * time: a publish that had to be retried lands after later ones).
 */
const entered = (events: Stored[], taskId: string): string[] =>
  events
    .filter((e) => e.event.taskId === taskId)
    .sort((x, y) => x.event.at - y.event.at || x.event.epoch - y.event.epoch)
    .map((e) => e.event.to);

/** Submits `n` echo tasks and waits for each: their ids, final records and state changes. */
async function runEchoes(
  d: TestDrover,
  n: number,
): Promise<{ ids: string[]; records: TaskRecord[]; changes: number }> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await d.client.submit({ type: "echo", payload: i })).id);
  const records: TaskRecord[] = [];
  for (const id of ids)
    records.push(await d.client.wait(id, { signal: AbortSignal.timeout(30_000) }));
  return { ids, records, changes: records.reduce((k, r) => k + r.history.length, 0) };
}

describe("task events", () => {
  it("every state change is stored once, under its own id", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    await d.addWorker({ id: "w1", handlers: examples });
    const { records, changes } = await runEchoes(d, 5);
    // Publishes are acknowledged after the writes they follow: wait until all have landed.
    await d.waitFor(
      async () => (await storedEvents(d.prefix)).length >= changes,
      `${changes} events`,
    );
    const events = await storedEvents(d.prefix);
    expect(events).toHaveLength(changes);
    for (const r of records) expect(entered(events, r.id)).toEqual(r.history.map((h) => h.to));
    for (const e of events) expect(e.id).toBe(eventId(e.event));
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it("an event that cannot be stored for a while is stored once the stream is back", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    await d.addWorker({ id: "w1", handlers: examples });
    const jsm = await jetstreamManager(env.nc);
    const stream = resourceNames(d.prefix).streams.events;
    await jsm.streams.delete(stream);
    const { id } = await d.client.submit({ type: "echo", payload: "while the stream was gone" });
    expect((await d.client.wait(id, { signal: AbortSignal.timeout(30_000) })).state).toBe(
      "succeeded",
    );
    await ensureResources(env.nc, d.prefix, { maxBytes: TEST_MAX_BYTES });
    // Each event is retried on its own backoff (up to 2 s apart): wait for all of them.
    const record = await d.client.get(id);
    await d.waitFor(
      async () => states(await storedEvents(d.prefix), id).length >= record.history.length,
      "every event of the task",
      20_000,
    );
    expect(entered(await storedEvents(d.prefix), id)).toEqual(record.history.map((h) => h.to));
  });

  it("a new leader publishes what the old one wrote but never published", async () => {
    await using d = await startDrover({ servers: env.nats.servers, schedulers: 2 });
    const { id } = await d.client.submit({ type: "nobody-runs-this" });
    await d.waitFor(
      async () =>
        states(await storedEvents(d.prefix), id).length === 0 &&
        (await d.client.get(id)).state === "queued",
      "queued",
    );
    const follower = d.replicas.find((r) => !r.leading)!;
    await d.waitFor(
      () => follower.mirror?.tasks.revisionOf(id) !== undefined,
      "the follower has it",
    );
    // A write whose event never left its process (it died right after the write): written
    // here, with no event.
    const tasks = await new Kvm(env.nc).open(resourceNames(d.prefix).buckets.tasks);
    const store = new TaskStore(tasks, {
      js: jetstream(env.nc),
      bucket: resourceNames(d.prefix).buckets.tasks,
      idempotencyBucket: resourceNames(d.prefix).buckets.idempotency,
    });
    const res = await store.apply(id, () => ({
      type: "CANCEL",
      at: Date.now(),
      reason: "by the dead leader",
    }));
    expect(res.ok).toBe(true);
    // A finished task leaves the mirror once the mirror has seen it finish.
    await d.waitFor(
      () => follower.mirror?.tasks.revisionOf(id) === undefined,
      "the follower saw the write",
    );
    await d.leader()!.close();
    await d.waitFor(() => follower.leading, "the follower leads");
    await d.waitFor(
      async () => states(await storedEvents(d.prefix), id).includes("cancelled"),
      "the cancelled event",
      20_000,
    );
    const cancelled = (await storedEvents(d.prefix)).filter((e) => e.event.taskId === id);
    expect(cancelled).toHaveLength(1);
    expect(cancelled[0]!.event).toMatchObject({ from: "queued", to: "cancelled", event: "CANCEL" });
  });

  it("a cancel written by a replica that died before publishing: the leader publishes it", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    const { id } = await d.client.submit({ type: "nobody-runs-this" });
    await d.waitFor(async () => (await d.client.get(id)).state === "queued", "queued");
    const n = resourceNames(d.prefix).buckets;
    const store = new TaskStore(await new Kvm(env.nc).open(n.tasks), {
      js: jetstream(env.nc),
      bucket: n.tasks,
      idempotencyBucket: n.idempotency,
    });
    // The API replica's write, with no event after it.
    const res = await store.apply(id, () => ({ type: "CANCEL", at: Date.now(), reason: "gone" }));
    expect(res.ok).toBe(true);
    await d.waitFor(
      async () => states(await storedEvents(d.prefix), id).includes("cancelled"),
      "the cancelled event",
      20_000,
    );
    expect((await storedEvents(d.prefix)).filter((e) => e.event.taskId === id)).toHaveLength(1);
  });

  it("followTaskEvents: each stored change once, from now on, only the states asked for", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    await d.addWorker({ id: "w1", handlers: examples });
    const before = await d.client.submit({ type: "echo", payload: "before" });
    await d.client.wait(before.id, { signal: AbortSignal.timeout(30_000) });
    await d.waitFor(
      async () => states(await storedEvents(d.prefix), before.id).includes("succeeded"),
      "the first task's events",
    );
    const all: TaskTransitionEvent[] = [];
    const done: TaskTransitionEvent[] = [];
    const live: unknown[] = [];
    const stopAll = await d.client.followTaskEvents((e) => all.push(e));
    const stopDone = await d.client.followTaskEvents((e) => done.push(e), { to: ["succeeded"] });
    const stopLive = d.client.follow((subject, body) => {
      if (subject.endsWith(".task.succeeded")) live.push(body);
    });
    const { ids, records, changes } = await runEchoes(d, 5);
    await d.waitFor(() => all.length >= changes && done.length >= 5, `${changes} events`);
    expect(done.map((e) => e.taskId).sort()).toEqual([...ids].sort());
    expect(done.every((e) => e.to === "succeeded")).toBe(true);
    // Nothing from before the feed began, and every change of each task in the order made.
    expect(all.some((e) => e.taskId === before.id)).toBe(false);
    for (const r of records)
      expect(all.filter((e) => e.taskId === r.id).map((e) => e.to)).toEqual(
        r.history.map((h) => h.to),
      );

    // A re-published event (a retry, a new leader's catch-up) reaches plain subscribers
    // again; the stream drops it, so the feed does not.
    const again = (await storedEvents(d.prefix)).find(
      (e) => e.event.taskId === ids[0] && e.event.to === "succeeded",
    )!;
    const seen = live.length;
    const ack = await jetstream(env.nc).publish(
      `${d.prefix}.events.task.succeeded`,
      JSON.stringify(again.event),
      { msgID: again.id! },
    );
    expect(ack.duplicate).toBe(true);
    await d.waitFor(() => live.length > seen, "the plain subscriber saw the re-publish");
    // A later task's success is seen after it; the re-publish never was.
    const last = await d.client.submit({ type: "echo", payload: "last" });
    await d.waitFor(() => done.some((e) => e.taskId === last.id), "the last task's success");
    expect(done.filter((e) => e.taskId === ids[0])).toHaveLength(1);
    expect(done).toHaveLength(6);
    stopAll();
    stopDone();
    stopLive();
  });
});
