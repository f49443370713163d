import { describe, expect, it } from "vitest";
import { HealthProcessStats } from "../../src/protocol/index.ts";
import { processStats } from "../../src/runtime/process-stats.ts";

describe("process stats", () => {
  it("is one reader per process whose reads match the health schema", () => {
    const reader = processStats();
    expect(processStats()).toBe(reader);
    const s = reader.read();
    expect(HealthProcessStats.parse(s)).toEqual(s);
    expect(s.rssBytes).toBeGreaterThan(0);
  });

  it("sees a blocked event loop, and a reset starts a new window but keeps the total", async () => {
    const { read, readAndReset } = processStats();
    await new Promise((r) => setTimeout(r, 30));
    const blockedUntil = Date.now() + 60;
    while (Date.now() < blockedUntil); // block the loop on purpose
    await new Promise((r) => setTimeout(r, 30));
    const before = readAndReset();
    expect(before.eventLoopDelayMaxMs).toBeGreaterThanOrEqual(50);
    expect(before.sinceStart.eventLoopDelayMaxMs).toBeGreaterThanOrEqual(50);
    const after = read();
    expect(after.windowStartedAt).toBeGreaterThanOrEqual(before.windowStartedAt);
    expect(after.eventLoopDelayMaxMs).toBeLessThan(50);
    expect(after.sinceStart.eventLoopDelayMaxMs).toBe(before.sinceStart.eventLoopDelayMaxMs);
  });
});
