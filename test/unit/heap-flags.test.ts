import { execFile } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { heapFlags } from "../../src/cli/heap-flags.ts";

const run = promisify(execFile);
const probe = join(
  resolve(dirname(fileURLToPath(import.meta.url)), ".."),
  "fixtures",
  "heap-flags-probe.ts",
);

describe("heap flags", () => {
  it("come from the environment, with defaults, and 0 turns one off", () => {
    expect(heapFlags({})).toEqual(["--max-semi-space-size=16", "--heap-growing-percent=30"]);
    expect(heapFlags({ DROVER_MAX_SEMI_SPACE_MB: "0", DROVER_HEAP_GROWING_PERCENT: "50" })).toEqual(
      ["--heap-growing-percent=50"],
    );
    expect(
      heapFlags({ DROVER_MAX_SEMI_SPACE_MB: "lots", DROVER_HEAP_GROWING_PERCENT: "0" }),
    ).toEqual([]);
  });

  it("a process started without them replaces itself with one that has them, with the same arguments", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, DROVER_MAX_SEMI_SPACE_MB: "4" };
    delete env.DROVER_HEAP_FLAGS_APPLIED;
    const { stdout } = await run(process.execPath, [probe, "scheduler", "--id", "s1"], { env });
    const out = JSON.parse(stdout) as {
      execArgv: string[];
      newSpaceBytes: number;
      args: string[];
    };
    expect(out.execArgv).toEqual(
      expect.arrayContaining(["--max-semi-space-size=4", "--heap-growing-percent=30"]),
    );
    expect(out.args).toEqual(["scheduler", "--id", "s1"]);
    // V8's default young generation on this machine is far larger than 3 × 4 MiB.
    expect(out.newSpaceBytes).toBeLessThanOrEqual(12 * 1_048_576);
  });
});
