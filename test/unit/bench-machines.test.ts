/**
 * `drover bench-machines` runs (pure computation) and prints a figure for the task's steps and
 * one for each number of running tasks.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { benchMachinesCommand } from "../../src/cli/bench-machines.ts";
import type { CommandContext } from "../../src/cli/command.ts";

afterEach(() => vi.restoreAllMocks());

describe("drover bench-machines", () => {
  it("prints the task's steps and a row per number of running tasks", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((s: string) => void lines.push(s));
    const ctx = { values: { calls: "200" } } as unknown as CommandContext;
    expect(await benchMachinesCommand.run(ctx)).toBe(0);
    const rows = lines
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { machine: string; running?: number; us: number });
    expect(rows.map((r) => r.running ?? r.machine)).toEqual(["task", 0, 10, 100, 1_000, 10_000]);
    for (const r of rows) expect(r.us).toBeGreaterThan(0);
    expect(lines.at(-1)).toContain("| 10,000 |");
  });
});
