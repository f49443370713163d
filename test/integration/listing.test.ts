/**
 * `tasks.list` pages through the mirror's compact index and reads each page's records from KV:
 * every match once, oldest first, full records (payload included), a cursor that ends.
 */
import { execFile } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import type { TaskRecord } from "../../src/protocol/index.ts";
import type { HandlerMap } from "../../src/runtime/index.ts";
import { startDrover } from "../fixtures/drover.ts";
import { useNats } from "../fixtures/nats.ts";

const env = useNats();
const run = promisify(execFile);
const bin = join(resolve(dirname(fileURLToPath(import.meta.url)), "..", ".."), "bin", "drover.js");

describe("listing", () => {
  it("pages by state and type, oldest first, with full records and a cursor that ends", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    const ids: string[] = [];
    // Sequential submits: distinct creation times in submission order.
    for (let n = 0; n < 25; n++)
      ids.push((await d.client.submit({ type: "nohandler", payload: { n } })).id);
    const other = await d.client.submit({ type: "elsewhere" });
    await d.waitFor(
      async () => ((await d.client.health()).tasks.queued ?? 0) === 26,
      "the mirror to hold every task",
    );
    const seen: TaskRecord[] = [];
    let cursor: string | undefined;
    const sizes: number[] = [];
    do {
      const page = await d.client.list({
        state: "queued",
        type: "nohandler",
        limit: 10,
        ...(cursor !== undefined ? { cursor } : {}),
      });
      sizes.push(page.tasks.length);
      seen.push(...page.tasks);
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    const listOrder = (a: TaskRecord, b: TaskRecord): number =>
      a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1);
    expect(sizes).toEqual([10, 10, 5]);
    // Every task once, in list order (creation time, then id: two submits may share a ms).
    expect(seen.map((t) => t.id)).toEqual([...seen].sort(listOrder).map((t) => t.id));
    expect(new Set(seen.map((t) => t.id))).toEqual(new Set(ids));
    for (const t of seen) expect((t.payload as { n: number }).n).toBe(ids.indexOf(t.id));
    const all = await d.client.list({ state: ["queued", "running"], limit: 1000 });
    expect(all.tasks).toHaveLength(26);
    expect(all.tasks.map((t) => t.id)).toContain(other.id);
    expect(all.nextCursor).toBeNull();
  });

  it("lists finished tasks from the finished index, in the order they finished, each once", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    let flaky = 0;
    const handlers: HandlerMap = {
      echo: ({ payload }) => payload,
      // Fails its first run; a retry (by the API) succeeds.
      flaky: () => {
        if (flaky++ === 0) throw new Error("first run fails");
        return "ok";
      },
    };
    await d.addWorker({ id: "w1", handlers });
    const finishedOrder: string[] = [];
    for (let n = 0; n < 5; n++) {
      const { id } = await d.client.submit({ type: "echo", payload: n });
      expect((await d.client.wait(id)).state).toBe("succeeded");
      finishedOrder.push(id);
    }
    const waiting = await d.client.submit({ type: "nohandler" });
    const cancelled = await d.client.submit({ type: "nohandler" });
    expect((await d.client.cancel(cancelled.id)).state).toBe("cancelled");
    finishedOrder.push(cancelled.id);
    const re = await d.client.submit({ type: "flaky", retry: { maxAttempts: 1 } });
    expect((await d.client.wait(re.id)).state).toBe("dead");
    await d.client.retry(re.id);
    expect((await d.client.wait(re.id)).state).toBe("succeeded");
    finishedOrder.push(re.id);

    // Everything, three at a time: the unfinished task first, then the finished ones in the
    // order they finished; the re-run task once (its earlier finish no longer matches).
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await d.client.list({ limit: 3, ...(cursor !== undefined ? { cursor } : {}) });
      seen.push(...page.tasks.map((t) => t.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    expect(seen).toEqual([waiting.id, ...finishedOrder]);
    // By state and type; records are complete (results included).
    const succeeded = await d.client.list({ state: "succeeded", type: "echo" });
    expect(succeeded.tasks.map((t) => t.result)).toEqual([0, 1, 2, 3, 4]);
    expect((await d.client.list({ state: "dead" })).tasks).toEqual([]);
    // The replicas keep no finished task in memory (only the queued one is in their tables);
    // health counts finished ones from the index.
    await d.waitFor(
      () => d.replicas.every((r) => r.mirror?.tasks.size === 1),
      "every replica's table to hold only the unfinished task",
    );
    const h = await d.client.health();
    expect(h.tasks.queued).toBe(1);
    expect(h.tasks.cancelled).toBe(1);
    expect(h.tasks.succeeded).toBe(6);
  });

  it("pages by creation time, in the API and in `drover ls`", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    const records: TaskRecord[] = [];
    for (let n = 0; n < 12; n++) {
      const { id } = await d.client.submit({ type: "nohandler", payload: { n } });
      records.push(await d.client.get(id));
    }
    await d.waitFor(
      async () => ((await d.client.health()).tasks.queued ?? 0) === 12,
      "the mirror to hold every task",
    );
    // A window from the 4th task's creation time to the 9th's (exclusive).
    const since = records[3]!.createdAt;
    const until = records[8]!.createdAt;
    const expected = records
      .filter((r) => r.createdAt >= since && r.createdAt < until)
      .map((r) => r.id);
    const page = await d.client.list({ since, until, limit: 2 });
    expect(page.tasks.map((t) => t.id)).toEqual(expected.slice(0, 2));
    const rest = await d.client.list({ since, until, limit: 100, cursor: page.nextCursor! });
    expect([...page.tasks, ...rest.tasks].map((t) => t.id)).toEqual(expected);
    expect(rest.nextCursor).toBeNull();
    expect((await d.client.list({ since: Date.now() + 60_000 })).tasks).toEqual([]);
    // The CLI takes the same window (absolute times here; a duration ago is relative to now).
    const ls = async (...args: string[]): Promise<string[]> => {
      const { stdout } = await run(process.execPath, [bin, "ls", ...args, "--json"], {
        env: {
          ...process.env,
          DROVER_NATS_URL: env.nats.servers.join(","),
          DROVER_PREFIX: d.prefix,
        },
      });
      return (JSON.parse(stdout) as { tasks: TaskRecord[] }).tasks.map((t) => t.id);
    };
    expect(await ls("--since", String(since), "--until", new Date(until).toISOString())).toEqual(
      expected,
    );
    expect(await ls("--since", "1h", "--limit", "1000")).toEqual(records.map((r) => r.id));
    expect(await ls("--until", "1h")).toEqual([]);
  });
});
