/**
 * The leader's reports consumer stops whenever its term ends, including at once after it
 * started: a leader elected and deposed within a moment (a NATS restart) steps down through
 * `stop()`, and every later leadership change waits for that.
 */
import { jetstream } from "@nats-io/jetstream";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { resourceNames, subjects } from "../../src/protocol/index.ts";
import type { EventOutbox } from "../../src/runtime/event-outbox.ts";
import type { Mirror } from "../../src/runtime/mirror.ts";
import { ReportConsumer } from "../../src/runtime/report-consumer.ts";
import { ensureResources } from "../../src/runtime/resources.ts";
import type { TaskStore } from "../../src/runtime/task-store.ts";
import { useNats } from "../fixtures/nats.ts";

const env = useNats();

/** Resolves with what `p` gave, or with "hung" after `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | "hung"> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<"hung">((r) => (timer = setTimeout(() => r("hung"), ms))),
  ]).finally(() => clearTimeout(timer));
}

async function consumer(prefix: string): Promise<ReportConsumer> {
  await ensureResources(env.nc, prefix);
  return new ReportConsumer(
    {
      js: jetstream(env.nc),
      reportsStream: resourceNames(prefix).streams.reports,
      // No report is sent: what the consumer would apply them to is never reached.
      store: {} as TaskStore,
      mirror: {} as Mirror,
      events: {} as EventOutbox,
      subjects: subjects(prefix),
      log: pino({ level: "silent" }),
      stats: { refusedReports: 0, legacyReports: 0, droppedReports: 0, acceptedCompletions: 0 },
      serial: () => undefined,
    },
    1,
  );
}

describe("ReportConsumer.stop", () => {
  it("returns when called at once, before the consumer is open", async () => {
    const c = await consumer("rcstop1");
    expect(await within(c.stop(), 10_000)).toBeUndefined();
  });

  it("returns when called while the consumer is reading", async () => {
    const c = await consumer("rcstop2");
    // The consumer is open once the server lists a waiting pull on it.
    const jsm = await jetstream(env.nc).jetstreamManager();
    await expect
      .poll(
        async () =>
          (await jsm.consumers.info(resourceNames("rcstop2").streams.reports, "leader"))
            .num_waiting,
        { timeout: 10_000, interval: 50 },
      )
      .toBeGreaterThan(0);
    expect(await within(c.stop(), 10_000)).toBeUndefined();
  });
});
