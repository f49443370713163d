/**
 * A worker report whose write keeps failing used to be redelivered forever (the reports
 * consumer had no `max_deliver`). Now it comes back with a growing delay up to the consumer's
 * bound, and the last failure is recorded: an error log, the `droppedReports` count and a
 * `report.dropped` event. The report is then removed from the work queue.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import { decode, ReportDroppedEvent, resourceNames, subjects } from "../../src/protocol/index.ts";
import type { HandlerMap } from "../../src/runtime/index.ts";
import { startDrover } from "../fixtures/drover.ts";
import { useNats } from "../fixtures/nats.ts";

const env = useNats();

describe("a report whose write keeps failing", () => {
  it("is given up on after max_deliver deliveries, and that is recorded", async () => {
    await using d = await startDrover({ servers: env.nats.servers, reportMaxDeliver: 3 });
    let release = (): void => undefined;
    const released = new Promise<void>((r) => (release = r));
    const handlers: HandlerMap = {
      hold: async () => {
        await released;
        return { done: true };
      },
    };
    await d.addWorker({ id: "w1", handlers });
    const dropped: ReportDroppedEvent[] = [];
    let onDropped = (): void => undefined;
    const sub = env.nc.subscribe(subjects(d.prefix).event("report.dropped"), {
      callback: (_err, msg) => {
        dropped.push(decode(ReportDroppedEvent, msg.data));
        onDropped();
      },
    });
    const gotDropped = new Promise<void>((r) => (onDropped = r));
    try {
      const { id } = await d.client.submit({ type: "hold" });
      await d.waitFor(async () => (await d.client.get(id)).state === "running", "task running");
      // The record is damaged while the task runs: every write of its result now fails.
      const n = resourceNames(d.prefix);
      const tasks = await new Kvm(env.nc).open(n.buckets.tasks);
      await tasks.put(id, "{ not a task record");
      release();
      await gotDropped;
      expect(dropped).toHaveLength(1);
      expect(dropped[0]).toMatchObject({
        taskId: id,
        report: "succeeded",
        workerId: "w1",
        deliveries: 3,
      });
      expect(dropped[0]!.error).not.toBe("");
      expect(d.leader()?.scheduler?.stats.droppedReports).toBe(1);
      // Gone from the work queue: not redelivered again.
      const jsm = await jetstreamManager(env.nc);
      await expect
        .poll(
          async () =>
            (await jsm.consumers.info(n.streams.reports, "leader")).num_pending +
            (await jsm.consumers.info(n.streams.reports, "leader")).num_ack_pending,
        )
        .toBe(0);
      expect((await jsm.streams.info(n.streams.reports)).state.messages).toBe(0);
    } finally {
      release();
      sub.unsubscribe();
    }
  });
});
