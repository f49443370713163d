/** `drover watch`'s pure parts: counting a batch, the progress line, colours only when asked. */
import { describe, expect, it } from "vitest";
import { batchCounts, progressLine, stateList } from "../../src/cli/watch.ts";

describe("drover watch, rendering", () => {
  it("counts finished tasks (terminal or gone) and each state", () => {
    expect(batchCounts(["queued", "running", "succeeded", "dead", "missing"])).toEqual({
      total: 5,
      finished: 3,
      byState: { queued: 1, running: 1, succeeded: 1, dead: 1, missing: 1 },
    });
    expect(batchCounts([])).toEqual({ total: 0, finished: 0, byState: {} });
  });

  it("draws the share finished as a bar, and the states in a fixed order", () => {
    const c = batchCounts(["succeeded", "running", "queued", "failed"]);
    expect(progressLine(c, 20, false)).toBe(
      "[##########..........]  50% 2/4 finished · queued 1 · running 1 · succeeded 1 · failed 1",
    );
    expect(progressLine(batchCounts([]), 4, false)).toBe("[####] 100% 0/0 finished");
  });

  it("colours only when told to: succeeded green, failures red", () => {
    const byState = { succeeded: 2, dead: 1, queued: 1 };
    expect(stateList(byState, false)).toBe("queued 1 · succeeded 2 · dead 1");
    expect(stateList(byState, false)).not.toContain("\x1b");
    const coloured = stateList(byState, true);
    expect(coloured).toContain("\x1b[32msucceeded 2\x1b[0m");
    expect(coloured).toContain("\x1b[31mdead 1\x1b[0m");
    expect(coloured).toContain("queued 1");
  });
});
