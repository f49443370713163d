/**
 * The `drover` command's failure modes: bad flags, an unreachable NATS and an invalid task
 * each give one line on stderr and a non-zero exit code (2 for usage, 1 otherwise).
 * Runs the real entry point; "unreachable" is a closed loopback port, so no network is used.
 */
import { execFile } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const bin = join(resolve(dirname(fileURLToPath(import.meta.url)), "..", ".."), "bin", "drover.js");

function drover(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, DROVER_NATS_URL: "nats://127.0.0.1:1" }, timeout: 20_000 },
      (err, stdout, stderr) => {
        done({
          code: err === null ? 0 : typeof err.code === "number" ? err.code : -1,
          stdout,
          stderr,
        });
      },
    );
  });
}

const oneLine = (s: string): string[] => s.trim().split("\n");

describe("drover CLI errors", () => {
  it.each([
    [["submit", "echo", "--bogus"], /Unknown option '--bogus'/],
    [["frobnicate"], /unknown command 'frobnicate'/],
    [["submit"], /usage: drover submit <type>/],
    [["submit", "echo", "{not json"], /payload is not valid JSON/],
    [["submit", "echo", "--priority", "high"], /invalid task: priority/],
    [["submit", "echo", "--delay-ms=-5"], /--delay-ms must be a non-negative number/],
    [
      ["submit", "echo", "--delay-ms", "10", "--run-at", "2030-01-01T00:00:00Z"],
      /mutually exclusive/,
    ],
    [["submit", "bad type!"], /invalid task: type/],
    [["ls", "--state", "sleeping"], /unknown --state 'sleeping'/],
    [
      ["ls", "--since", "yesterday-ish"],
      /--since must be an ISO time, ms since the epoch or a duration/,
    ],
    [["scheduler", "--strategy", "fastest"], /unknown --strategy 'fastest'/],
    [["worker", "--handlers", "./does-not-exist.ts"], /cannot load --handlers/],
    [["get"], /usage: drover get <task-id>/],
    [["submit-many"], /usage: drover submit-many <file\|->/],
    [["submit-many", "/nonexistent/tasks.jsonl"], /cannot read \/nonexistent\/tasks.jsonl/],
  ])("drover %j → exit 2 with one line", async (args, message) => {
    const r = await drover(...args);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^drover: /);
    expect(r.stderr).toMatch(message);
  });

  it.each([[["submit", "echo"]], [["ls"]], [["health"]]])(
    "drover %j with NATS unreachable → exit 1 with one line",
    async (args) => {
      const r = await drover(...args);
      expect(r.code).toBe(1);
      expect(oneLine(r.stderr)).toEqual([
        expect.stringMatching(/^drover: cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/),
      ]);
    },
  );

  it("--help lists every command", async () => {
    const r = await drover("--help");
    expect(r.code).toBe(0);
    for (const c of [
      "up",
      "scheduler",
      "worker",
      "submit",
      "get",
      "cancel",
      "retry",
      "ls",
      "watch",
      "workers",
      "bench",
    ])
      expect(r.stdout).toMatch(new RegExp(`^  ${c} `, "m"));
  });
});
