import { describe, expect, it } from "vitest";
import { submitChunks } from "../../src/runtime/client.ts";

describe("submitMany's requests", () => {
  it("hold at most 1,000 tasks, in order", () => {
    const tasks = Array.from({ length: 2_500 }, (_, i) => ({ type: "t", payload: i }));
    const chunks = submitChunks(tasks);
    expect(chunks.map((c) => c.length)).toEqual([1_000, 1_000, 500]);
    expect(chunks.flat()).toEqual(tasks);
  });

  it("hold at most about the byte limit; a task larger than it goes alone", () => {
    const big = { type: "t", payload: "x".repeat(300) };
    const small = { type: "t" };
    const chunks = submitChunks([small, small, big, small, big, big], 350);
    expect(chunks.map((c) => c.length)).toEqual([2, 2, 1, 1]);
    for (const c of chunks.filter((c) => c.length > 1))
      expect(c.reduce((n, t) => n + JSON.stringify(t).length + 1, 0)).toBeLessThanOrEqual(350);
    expect(submitChunks([])).toEqual([]);
  });
});
