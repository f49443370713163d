/**
 * `drover bench-placement` runs (pure computation) and reports what the record keeps: at most
 * about 2 KB however many workers, where every candidate grew it with each worker.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { benchPlacementCommand } from "../../src/cli/bench-placement.ts";
import type { CommandContext } from "../../src/cli/command.ts";

afterEach(() => vi.restoreAllMocks());

describe("drover bench-placement", () => {
  it("prints one row per size; the kept record stays small while every candidate grows it", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((s: string) => void lines.push(s));
    const ctx = { values: { strategy: "best-fit", calls: "2000" } } as unknown as CommandContext;
    expect(await benchPlacementCommand.run(ctx)).toBe(0);
    const rows = lines
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { workers: number; fullBytes: number; keptBytes: number });
    expect(rows.map((r) => r.workers)).toEqual([10, 100, 1_000, 10_000]);
    for (const r of rows) expect(r.keptBytes).toBeLessThan(2_500);
    expect(rows[0]!.fullBytes).toBe(rows[0]!.keptBytes);
    expect(rows[3]!.fullBytes).toBeGreaterThan(50 * rows[3]!.keptBytes);
  });

  it("refuses an unknown strategy", () => {
    const ctx = { values: { strategy: "fastest" } } as unknown as CommandContext;
    expect(() => benchPlacementCommand.run(ctx)).toThrow(/unknown --strategy 'fastest'/);
  });
});
