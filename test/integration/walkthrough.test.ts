/**
 * The README's run command and its `nats` CLI walkthrough, executed as written: `drover up`
 * (a local nats-server, 2 schedulers, 2 workers) and the shell block between the
 * walkthrough markers, with the nats CLI pointed at this test's port through NATS_URL.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { freePort } from "../../src/cli/local.ts";
import { bannerOf, ownUpArgs, root, startUp } from "../fixtures/drover-up.ts";

const run = promisify(execFile);

describe("README", () => {
  it("`drover up` comes up healthy and the nats CLI walkthrough works as written", async () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const block =
      /<!-- walkthrough:start -->\s*```sh\n([\s\S]*?)```\s*<!-- walkthrough:end -->/.exec(
        readme,
      )?.[1];
    expect(block).toBeDefined();
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "drover-up-"));
    const up = await startUp(ownUpArgs(port, dir));
    let exitCode: number | null;
    try {
      const out = up.out();
      expect(out).toMatch(/"healthy":true/);
      expect(out).toContain(`nats://127.0.0.1:${port}`);
      // The banner names every role's /metrics; a leader is among the schedulers.
      const banner = bannerOf(out);
      expect(Object.keys(banner.metrics).sort()).toEqual([
        "scheduler-1",
        "scheduler-2",
        "worker-1",
        "worker-2",
      ]);
      const leaders = await Promise.all(
        ["scheduler-1", "scheduler-2"].map(async (r) => {
          const text = await (await fetch(banner.metrics[r]!)).text();
          return /^drover_replica_leader\{[^}]*\} 1$/m.test(text);
        }),
      );
      expect(leaders.filter(Boolean)).toHaveLength(1);
      expect((await fetch(banner.metrics["worker-1"]!.replace("/metrics", "/readyz"))).status).toBe(
        200,
      );
      // The nats-server's monitoring port is printed, and answers for this server.
      expect(out).toContain(`NATS monitoring: ${banner.natsMonitor}`);
      const varz = (await (await fetch(`${banner.natsMonitor}/varz`)).json()) as { port: number };
      expect(varz.port).toBe(port);
      // A second `drover up` beside it opens no port the first holds: it comes up on its own
      // client port with a monitoring port of its own (once: "can't listen to the monitor port").
      const dir2 = mkdtempSync(join(tmpdir(), "drover-up-"));
      const second = await startUp([
        "--port",
        String(await freePort()),
        "--schedulers",
        "1",
        "--workers",
        "0",
        "--data-dir",
        join(dir2, "nats"),
        "--log-dir",
        join(dir2, "logs"),
        "--metrics-port",
        "off",
      ]);
      try {
        const other = bannerOf(second.out()).natsMonitor;
        expect(other).not.toBe(banner.natsMonitor);
        expect((await fetch(`${other}/varz`)).status).toBe(200);
      } finally {
        expect(await second.stop()).toBe(0);
        rmSync(dir2, { recursive: true, force: true });
      }

      const env = {
        ...process.env,
        NATS_URL: `nats://127.0.0.1:${port}`,
        DROVER_NATS_URL: `nats://127.0.0.1:${port}`,
      };
      const { stdout } = await run("bash", ["-euo", "pipefail", "-c", block!], {
        cwd: root,
        env,
        timeout: 60_000,
      });
      const replies = stdout
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      // submit replies, the record, the worker list, the duplicate, the cancel and the bad input
      expect(
        replies.filter((r) => r.ok === true && typeof r.id === "string").length,
      ).toBeGreaterThanOrEqual(6);
      expect(replies.some((r) => r.duplicate === true)).toBe(true);
      // The batch submit: three results in order, the last a duplicate of the keyed task.
      const batch = replies.find((r) => Array.isArray(r.results))?.results as
        { ok: boolean; duplicate: boolean }[] | undefined;
      expect(batch?.map((r) => [r.ok, r.duplicate])).toEqual([
        [true, false],
        [true, false],
        [true, true],
      ]);
      expect(
        replies.some((r) => (r.task as { state?: string } | undefined)?.state === "cancelled"),
      ).toBe(true);
      expect(
        replies.some(
          (r) => (r.error as { code?: string } | undefined)?.code === "validation_failed",
        ),
      ).toBe(true);
      expect(replies.some((r) => Array.isArray(r.workers) && r.workers.length === 2)).toBe(true);
      expect(replies.some((r) => Array.isArray(r.tasks))).toBe(true);

      // The drover CLI lines after the block work too.
      const cli = await run(
        process.execPath,
        [join(root, "bin", "drover.js"), "submit", "sleep", '{"ms":300,"steps":3}', "--wait"],
        { cwd: root, env },
      );
      expect(cli.stdout).toMatch(/ succeeded /);
      expect(cli.stderr).toMatch(/progress \{"step":1,"of":3\}/);
      // The schedule the block created and paused, as `drover schedule ls` lists it.
      const drover = join(root, "bin", "drover.js");
      const ls = await run(process.execPath, [drover, "schedule", "ls"], { cwd: root, env });
      expect(ls.stdout).toMatch(/^ID +TASK +WHEN +STATE +LAST FIRE +NEXT FIRE +RUNS +SKIPPED$/m);
      expect(ls.stdout).toMatch(
        /^tick +echo +cron \*\/2 \* \* \* \* \* \(Europe\/Berlin\) +paused /m,
      );
      const resumed = await run(process.execPath, [drover, "schedule", "resume", "tick"], {
        cwd: root,
        env,
      });
      expect(resumed.stdout).toMatch(/^schedule tick: resumed, next fire \d{4}-\d\d-\d\dT/m);
      const bad = await run(
        process.execPath,
        [drover, "schedule", "create", "x", "echo", "--every-ms", "1000", "--overlap", "never"],
        { cwd: root, env },
      ).catch((err: { code: number; stderr: string }) => err);
      expect((bad as { code: number }).code).toBe(2);
      expect((bad as { stderr: string }).stderr).toMatch(/overlap/);
    } finally {
      exitCode = await up.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(exitCode).toBe(0);
  });
});
