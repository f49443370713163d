/**
 * A write that times out may still have landed. Its retry then conflicts with it: that
 * conflict is the write's own success, not a concurrent change. Without this, a submit whose
 * create timed out was answered `conflict: task exists` for a task that will run, and a
 * transition whose write timed out was refused as illegal although it had been written (an
 * assignment stored and never sent).
 */
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { TimeoutError } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { newTaskRecord, resourceNames, SubmitTaskRequest } from "../../src/protocol/index.ts";
import type { TaskRecord } from "../../src/protocol/index.ts";
import { ensureResources, TaskStore } from "../../src/runtime/index.ts";
import type { PublishFn } from "../../src/runtime/js-publisher.ts";
import { JsPublisher } from "../../src/runtime/js-publisher.ts";
import { useNats } from "../fixtures/nats.ts";
import { uniquePrefix } from "../fixtures/prefix.ts";

const env = useNats();

/** `publish`, except that its first call writes and then fails as if it timed out. */
function landsThenTimesOut(publish: PublishFn): { publish: PublishFn; trips: () => number } {
  let trips = 0;
  return {
    publish: async (subject, data, o) => {
      const ack = await publish(subject, data, o);
      if (trips === 0) {
        trips++;
        throw new TimeoutError();
      }
      return ack;
    },
    trips: () => trips,
  };
}

async function store(transitions: string[] = []) {
  const prefix = uniquePrefix("ow");
  await ensureResources(env.nc, prefix, { replicas: 1 });
  const names = resourceNames(prefix).buckets;
  const real = await new Kvm(env.nc).open(names.tasks);
  const faulty = landsThenTimesOut(new JsPublisher(env.nc).publish);
  return {
    real,
    trips: faulty.trips,
    store: new TaskStore(real, {
      js: jetstream(env.nc),
      publish: faulty.publish,
      bucket: names.tasks,
      idempotencyBucket: names.idempotency,
      onTransition: (_b, after, event) => transitions.push(`${event}→${after.state}`),
    }),
  };
}

function task(): TaskRecord {
  return newTaskRecord(
    `t${Date.now()}`,
    SubmitTaskRequest.parse({ type: "echo", payload: 1 }),
    Date.now(),
  );
}

describe("a write that timed out but landed", () => {
  it("create: the retry's conflict with its own first attempt is success", async () => {
    const { store: s, real, trips } = await store();
    const r = task();
    const revision = await s.create(r);
    expect(trips()).toBe(1);
    const stored = await real.get(r.id);
    expect(stored?.revision).toBe(revision);
    // A create of another task under the same id is still a conflict.
    await expect(s.create({ ...r, createdAt: r.createdAt + 1 })).rejects.toMatchObject({
      code: "conflict",
    });
  });

  it("a transition (an assignment): applied once, reported once, not refused as illegal", async () => {
    const transitions: string[] = [];
    const { store: s, real, trips } = await store(transitions);
    const r = task();
    // Created through the real bucket, so the fault hits the transition's update.
    await real.create(r.id, new TextEncoder().encode(JSON.stringify(r)));
    const placement = {
      strategy: "first-fit",
      workerId: "w1",
      candidates: [],
      reason: "test",
      at: 1,
    };
    const res = await s.apply(r.id, () => ({
      type: "ASSIGN",
      at: Date.now(),
      workerId: "w1",
      term: 1,
      placement,
    }));
    expect(trips()).toBe(1);
    expect(res.ok).toBe(true);
    expect(res.record?.state).toBe("assigned");
    expect(transitions).toEqual(["ASSIGN→assigned"]);
    const stored = await s.get(r.id);
    expect(stored?.record.state).toBe("assigned");
    expect(stored?.record.epoch).toBe(1);
    expect(res.ok && res.revision).toBe(stored?.revision);
  });
});
