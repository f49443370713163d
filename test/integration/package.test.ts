/**
 * The npm package, as a user gets it: `npm pack` (which compiles to dist/ with type
 * declarations), installed offline from the local npm cache into a fresh project of its own,
 * then, from that project, `drover up` from the package's bin, a worker running that project's
 * own handler module, a task submitted and awaited with the client imported by package name, a
 * TypeScript file type-checked against the package's declarations, and internals refused by its
 * exports map.
 */
import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/cli/local.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "drover-package-"));
const app = join(dir, "app");
const children: ChildProcess[] = [];
/** The NATS URL of the cluster the package's `drover up` runs (set by the test that starts it). */
let natsUrl = "";

/**
 * The app's lockfile: the tarball, and the repository's own locked production dependencies
 * (the entries not marked dev), so that `npm ci --offline` takes every one from the cache that
 * installing this repository filled, by its integrity, and needs no registry.
 */
function lockfile(tarball: string): object {
  const repoLock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
    packages: Record<string, { dev?: boolean }>;
  };
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Record<
    string,
    unknown
  >;
  const integrity = `sha512-${createHash("sha512")
    .update(readFileSync(join(dir, tarball)))
    .digest("base64")}`;
  const packages: Record<string, unknown> = {
    "": { name: "app", version: "1.0.0", dependencies: { drover: `file:../${tarball}` } },
    "node_modules/drover": {
      version: pkg.version,
      resolved: `file:../${tarball}`,
      integrity,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  for (const [k, v] of Object.entries(repoLock.packages))
    if (k.startsWith("node_modules/") && v.dev !== true) packages[k] = v;
  return { name: "app", version: "1.0.0", lockfileVersion: 3, requires: true, packages };
}

/** Starts `cmd` in the app; resolves once its output contains `ready` (or rejects on exit). */
async function start(cmd: string, args: string[], env: NodeJS.ProcessEnv, ready: string) {
  const p = spawn(cmd, args, { cwd: app, env: { ...process.env, ...env } });
  children.push(p);
  let out = "";
  await new Promise<void>((ok, fail) => {
    const seen = (d: Buffer): void => {
      out += d.toString();
      if (out.includes(ready)) ok();
    };
    p.stdout.on("data", seen);
    p.stderr.on("data", seen);
    p.once("exit", (code) => fail(new Error(`${args.join(" ")} exited ${code}: ${out}`)));
  });
  return p;
}

beforeAll(async () => {
  // `npm pack` runs `prepack`: a clean build into dist/.
  await run("npm", ["pack", "--pack-destination", dir], { cwd: root, timeout: 240_000 });
  const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"))!;
  mkdirSync(app);
  writeFileSync(
    join(app, "package.json"),
    JSON.stringify({
      name: "app",
      version: "1.0.0",
      type: "module",
      private: true,
      dependencies: { drover: `file:../${tarball}` },
    }),
  );
  writeFileSync(join(app, "package-lock.json"), JSON.stringify(lockfile(tarball)));
  await run("npm", ["ci", "--offline", "--no-audit", "--no-fund"], { cwd: app, timeout: 240_000 });
}, 600_000);

afterAll(async () => {
  for (const c of children.reverse()) {
    if (c.exitCode !== null) continue;
    c.kill("SIGINT");
    await new Promise((r) => c.once("exit", r));
  }
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("the npm package", () => {
  it("installed offline into a project of its own: compiled code, declarations, no sources", () => {
    const installed = join(app, "node_modules", "drover");
    const files = readdirSync(installed);
    expect(files).toEqual(expect.arrayContaining(["bin", "dist", "package.json"]));
    expect(files).not.toContain("src");
    expect(readdirSync(join(installed, "dist"))).toEqual(
      expect.arrayContaining(["index.js", "index.d.ts", "main.js"]),
    );
    // The dashboard's page is static files the build copies beside the compiled code.
    expect(readdirSync(join(installed, "dist", "dashboard", "assets")).sort()).toEqual([
      "app.css",
      "app.js",
      "index.html",
    ]);
  });

  it("runs drover up from its bin, a worker with the project's own handlers, and the client by package name", async () => {
    writeFileSync(
      join(app, "handlers.js"),
      [
        'import { defineHandlers, NonRetryableError } from "drover";',
        "export default defineHandlers({",
        "  shout: async ({ payload }) => {",
        '    if (typeof payload !== "string") throw new NonRetryableError("a string, please");',
        "    return payload.toUpperCase();",
        "  },",
        "});",
      ].join("\n"),
    );
    writeFileSync(
      join(app, "submit.js"),
      [
        'import { DroverClient } from "drover";',
        'const client = await DroverClient.connect({ servers: [process.env.NATS_URL] }, { prefix: "pkg" });',
        "const out = [];",
        'for (const payload of ["hello from the package", 42]) {',
        '  const { id } = await client.submit({ type: "shout", payload });',
        "  const t = await client.wait(id, { signal: AbortSignal.timeout(60_000) });",
        "  out.push({ state: t.state, result: t.result, error: t.error?.code ?? null, workerId: t.workerId });",
        "}",
        "console.log(JSON.stringify(out));",
        "await client.close();",
      ].join("\n"),
    );
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    natsUrl = url;
    const drover = join(app, "node_modules", ".bin", "drover");
    await start(
      drover,
      [
        "up",
        "--port",
        String(port),
        "--monitor-port",
        "0",
        "--metrics-port",
        "off",
        "--schedulers",
        "1",
        "--workers",
        "0",
        "--data-dir",
        join(dir, "nats"),
        "--log-dir",
        join(dir, "logs"),
      ],
      { DROVER_PREFIX: "pkg", DROVER_LOG_LEVEL: "warn" },
      "Press Ctrl-C to stop.",
    );
    await start(
      drover,
      ["worker", "--handlers", "./handlers.js", "--id", "pkg-worker", "--metrics-port", "off"],
      { DROVER_PREFIX: "pkg", DROVER_NATS_URL: url },
      '"msg":"ready"',
    );
    const { stdout } = await run(process.execPath, ["submit.js"], {
      cwd: app,
      env: { ...process.env, NATS_URL: url },
      timeout: 90_000,
    });
    expect(JSON.parse(stdout)).toEqual([
      {
        state: "succeeded",
        result: "HELLO FROM THE PACKAGE",
        error: null,
        workerId: "pkg-worker",
      },
      // The handler's NonRetryableError, imported from the package, fails the task at once.
      { state: "failed", result: null, error: "non_retryable", workerId: "pkg-worker" },
    ]);
  }, 180_000);

  it("runs a worker embedded in the project's own program with startWorker", async () => {
    writeFileSync(
      join(app, "embedded.js"),
      [
        'import { DroverClient, startWorker } from "drover";',
        "const servers = [process.env.NATS_URL];",
        "const running = await startWorker({",
        '  servers, prefix: "pkg", id: "embedded",',
        "  handlers: { double: async ({ payload }) => payload * 2 },",
        "});",
        'const client = await DroverClient.connect({ servers }, { prefix: "pkg" });',
        'const { id } = await client.submit({ type: "double", payload: 21 });',
        "const t = await client.wait(id, { signal: AbortSignal.timeout(60_000) });",
        "console.log(JSON.stringify({ state: t.state, result: t.result, workerId: t.workerId }));",
        "await client.close();",
        "await running.stop();",
      ].join("\n"),
    );
    const { stdout } = await run(process.execPath, ["embedded.js"], {
      cwd: app,
      env: { ...process.env, NATS_URL: natsUrl, DROVER_LOG_LEVEL: "warn" },
      timeout: 90_000,
    });
    expect(JSON.parse(stdout)).toEqual({ state: "succeeded", result: 42, workerId: "embedded" });
  }, 120_000);

  it("type-checks a TypeScript user against its declarations, and keeps internals out of reach", async () => {
    writeFileSync(
      join(app, "check.ts"),
      [
        'import { DroverClient, ErrorCode, type TaskRecord, type TaskHandler, type ScheduleRecord, type PutScheduleRequestInput } from "drover";',
        'export const summary = (t: TaskRecord): string => `${t.id} ${t.state} ${t.workerId ?? "-"}`;',
        "export const handler: TaskHandler = async ({ payload }) => payload;",
        "export const connect = DroverClient.connect;",
        "export const code: string = ErrorCode.RateLimited;",
        "// @ts-expect-error: a task's state is one of the known ones",
        'export const wrong: TaskRecord["state"] = "sleeping";',
        "export const nextFire = async (c: DroverClient): Promise<(number | null)[]> =>",
        "  (await c.schedules.list()).map((s: ScheduleRecord) => s.state.nextTick);",
        'export const nightly: PutScheduleRequestInput = { id: "n", task: { type: "x" }, cron: "@daily" };',
        "// @ts-expect-error: an overlap policy is one of the known ones",
        'export const badOverlap: PutScheduleRequestInput = { id: "n", task: { type: "x" }, everyMs: 1000, overlap: "queue" };',
      ].join("\n"),
    );
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "es2024",
          module: "nodenext",
          moduleResolution: "nodenext",
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: [],
        },
        files: ["check.ts"],
      }),
    );
    await run(
      process.execPath,
      [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "."],
      {
        cwd: app,
      },
    );
    const internal = await run(
      process.execPath,
      ["-e", 'import("drover/dist/runtime/scheduler.js").catch((e) => console.log(e.code))'],
      { cwd: app },
    );
    expect(internal.stdout.trim()).toBe("ERR_PACKAGE_PATH_NOT_EXPORTED");
  }, 60_000);
});
