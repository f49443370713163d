/**
 * `drover watch` against a real cluster, as a process (not a terminal, so plain lines): a batch
 * given as arguments or on stdin is followed until every task has finished, each line printed
 * when the figures change, exit 0 only if all succeeded; without ids, the cluster's counts.
 */
import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import examples from "../../src/examples/handlers.ts";
import type { BatchCounts } from "../../src/cli/watch.ts";
import { subjects } from "../../src/protocol/index.ts";
import { startDrover } from "../fixtures/drover.ts";
import { useNats } from "../fixtures/nats.ts";

const env = useNats();
const bin = join(resolve(dirname(fileURLToPath(import.meta.url)), "..", ".."), "bin", "drover.js");

/** Starts `drover watch ...`: its first line, and its end (exit code, stdout lines, stderr). */
function startWatch(
  prefix: string,
  args: string[],
  stdin?: string,
): {
  firstLine: Promise<void>;
  done: Promise<{ code: number; lines: string[]; stderr: string }>;
} {
  const p = spawn(process.execPath, [bin, "watch", "--interval-ms", "100", ...args], {
    env: { ...process.env, DROVER_NATS_URL: env.nats.servers.join(","), DROVER_PREFIX: prefix },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  let stderr = "";
  const firstLine = new Promise<void>((seen) =>
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("\n")) seen();
    }),
  );
  p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  p.stdin.end(stdin ?? "");
  const done = new Promise<number>((r) => p.once("exit", (c) => r(c ?? -1))).then((code) => ({
    code,
    lines: out.split("\n").filter((l) => l !== ""),
    stderr,
  }));
  return { firstLine, done };
}

/** Runs `drover watch ...` to its end. */
const watch = (prefix: string, args: string[], stdin?: string) =>
  startWatch(prefix, args, stdin).done;

describe("drover watch", () => {
  it("follows a batch to its end: a line per change, exit 0 when all succeeded, 1 otherwise", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    const ids = await Promise.all(
      Array.from({ length: 6 }, async (_, n) => {
        const { id } = await d.client.submit({ type: "sleep", payload: { ms: 100 + n * 100 } });
        return id;
      }),
    );
    // Every tasks.get the watch sends (a plain subscriber gets a copy of each request).
    let gets = 0;
    const counter = env.nc.subscribe(subjects(d.prefix).api.get, {
      callback: () => {
        gets++;
      },
    });
    const started = Date.now();
    // The tasks wait for a worker until the watch has shown them queued.
    const w = startWatch(d.prefix, [...ids, "--json"]);
    await w.firstLine;
    await d.addWorker({ id: "w1", handlers: examples });
    const ok = await w.done;
    counter.unsubscribe();
    expect(ok.code).toBe(0);
    // Read once, then followed through the events stream: another read of the 6 only every
    // 5 s (reading every 100 ms, as it did before, sends 6 per tick).
    expect(gets).toBeLessThanOrEqual(6 * (1 + Math.ceil((Date.now() - started) / 5_000)));
    const counts = ok.lines.map((l) => JSON.parse(l) as BatchCounts);
    expect(counts[0]).toEqual({ total: 6, finished: 0, byState: { queued: 6 } });
    expect(counts.at(-1)).toEqual({ total: 6, finished: 6, byState: { succeeded: 6 } });
    // Printed as it went (a change per line), finishing never going back.
    expect(counts.length).toBeGreaterThan(1);
    for (let i = 1; i < counts.length; i++) {
      expect(counts[i]!.finished).toBeGreaterThanOrEqual(counts[i - 1]!.finished);
      expect(JSON.stringify(counts[i])).not.toBe(JSON.stringify(counts[i - 1]));
    }

    // Ids on stdin, as `drover submit` prints them; one task fails for good.
    const failing = await d.client.submit({
      type: "fail",
      payload: { times: 5 },
      retry: { maxAttempts: 1 },
    });
    const plain = await watch(d.prefix, ["-"], `${ids[0]}\n${failing.id}\n`);
    expect(plain.code).toBe(1);
    const last = plain.lines.at(-1)!;
    expect(last).toMatch(/^\[#{30}\] 100% 2\/2 finished · succeeded 1 · (dead|failed) 1$/);
    // Not a terminal: no escape codes.
    expect(plain.lines.join("")).not.toContain("\x1b");
  });

  it("without ids, shows the cluster's leader, workers and unfinished tasks until stopped", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    await d.client.submit({ type: "nohandler" });
    await d.client.submit({ type: "nohandler" });
    const p = spawn(process.execPath, [bin, "watch", "--interval-ms", "100"], {
      env: { ...process.env, DROVER_NATS_URL: env.nats.servers.join(","), DROVER_PREFIX: d.prefix },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    await new Promise<void>((seen) =>
      p.stdout.on("data", (b: Buffer) => {
        out += b.toString();
        if (out.includes("\n")) seen();
      }),
    );
    p.kill("SIGINT");
    const code = await new Promise<number>((r) => p.once("exit", (c) => r(c ?? -1)));
    expect(code).toBe(0);
    expect(out.split("\n")[0]).toMatch(/^leader \S+ · 0 workers · queued 2$/);
  });

  it("refuses an empty stdin with a usage error", async () => {
    const r = await watch("drover", ["-"], "\n");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no task ids on stdin/);
  });
});
