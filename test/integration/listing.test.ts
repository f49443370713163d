/**
 * `tasks.list` pages through the mirror's compact index and reads each page's records from KV:
 * every match once, oldest first, full records (payload included), a cursor that ends.
 */
import { describe, expect, it } from "vitest";
import type { TaskRecord } from "../../src/protocol/index.ts";
import { startDrover } from "../fixtures/drover.ts";
import { useNats } from "../fixtures/nats.ts";

const env = useNats();

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
});
