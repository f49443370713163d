import { describe, expect, it } from "vitest";
import { RequestQueue } from "../../src/runtime/request-queue.ts";

/** A handler whose calls finish when the test says so. */
function gated(): {
  handle: (n: number) => Promise<void>;
  started: number[];
  finish: (n: number) => void;
} {
  const gates = new Map<number, () => void>();
  const started: number[] = [];
  return {
    started,
    handle: (n) =>
      new Promise<void>((resolve) => {
        started.push(n);
        gates.set(n, resolve);
      }),
    finish: (n) => gates.get(n)?.(),
  };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe("request queue", () => {
  it("handles at most maxConcurrent at once, in arrival order, and refuses beyond maxQueued", async () => {
    const g = gated();
    const q = new RequestQueue(g.handle, 2, 3);
    expect([1, 2, 3].map((n) => q.offer(n))).toEqual([true, true, true]);
    expect(q.offer(4)).toBe(false);
    // Nothing starts inside the delivery: the pump runs on a turn of its own.
    expect(g.started).toEqual([]);
    await turn();
    expect(g.started).toEqual([1, 2]);
    expect(q.offer(4)).toBe(true);
    g.finish(1);
    await turn();
    await turn();
    expect(g.started).toEqual([1, 2, 3]);
  });

  it("run() goes past the queue; settled() waits for everything taken, or the grace period", async () => {
    const g = gated();
    const q = new RequestQueue(g.handle, 1, 10);
    q.offer(1);
    q.offer(2);
    q.run(9);
    expect(g.started).toEqual([9]);
    let done = false;
    const settled = q.settled(60_000).then(() => (done = true));
    await turn();
    g.finish(9);
    await turn();
    await turn();
    g.finish(1);
    await turn();
    await turn();
    expect(done).toBe(false);
    g.finish(2);
    await settled;
    expect(g.started).toEqual([9, 1, 2]);
    // With something stuck, the grace period ends the wait.
    q.run(7);
    const at = Date.now();
    await q.settled(50);
    expect(Date.now() - at).toBeGreaterThanOrEqual(45);
  });
});
