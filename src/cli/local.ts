/**
 * Helpers for the commands that run Drover on this machine (`up`, `bench`): the nats-server
 * binary, child role processes, and waiting for NATS and for a cluster to be ready.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DroverError, ErrorCode } from "../protocol/index.ts";
import type { DroverClient } from "../runtime/index.ts";
import { connectNats } from "../runtime/index.ts";

/** The repository (package) root. */
export const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The entry point child roles are started with: src/main.ts, or dist/main.js in the package. */
export const mainScript = fileURLToPath(
  new URL(import.meta.url.endsWith(".ts") ? "../main.ts" : "../main.js", import.meta.url),
);

/** The provisioned nats-server in .tools/bin, else the one on PATH. */
export function natsServerBinary(): string {
  const local = join(root, ".tools", "bin", "nats-server");
  return existsSync(local) ? local : "nats-server";
}

export interface LocalNats {
  readonly proc: ChildProcess;
}

/**
 * Spawns nats-server with `args` and resolves once it answers at `url`. Rejects with a clear
 * error when the binary is missing, the server exits (with its last log lines) or `signal`
 * aborts; the process is stopped then.
 */
export async function startNatsServer(
  args: string[],
  url: string,
  signal: AbortSignal,
): Promise<LocalNats> {
  const proc = spawn(natsServerBinary(), args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  proc.stderr?.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-4_000)));
  const tail = (): string => log.trim().split("\n").slice(-2).join(" | ");
  const exited = new Promise<never>((_, reject) => {
    proc.once("error", (err) =>
      reject(
        new DroverError(
          ErrorCode.Unavailable,
          `cannot start nats-server: ${err.message} (run: npm run provision)`,
        ),
      ),
    );
    proc.once("exit", (code) =>
      reject(new DroverError(ErrorCode.Unavailable, `nats-server exited (${code}): ${tail()}`)),
    );
  });
  exited.catch(() => undefined);
  const probing = new AbortController();
  const stopProbing = (): void => probing.abort();
  signal.addEventListener("abort", stopProbing, { once: true });
  proc.once("exit", stopProbing);
  try {
    await Promise.race([waitForNats(url, probing.signal), exited]);
    return { proc };
  } catch (err) {
    await stopChildren([proc]);
    throw err;
  } finally {
    signal.removeEventListener("abort", stopProbing);
  }
}

/** Stops child processes: SIGTERM (they drain), SIGKILL after 10 s. */
export async function stopChildren(procs: ChildProcess[]): Promise<void> {
  await Promise.all(
    procs.map(
      (c) =>
        new Promise<void>((done) => {
          if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return done();
          const kill = setTimeout(() => c.kill("SIGKILL"), 10_000);
          c.once("exit", () => {
            clearTimeout(kill);
            done();
          });
          c.kill("SIGTERM");
        }),
    ),
  );
}

/** Resolves once a NATS server answers at `url` (15 s at most). */
export async function waitForNats(
  url: string,
  signal: AbortSignal,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const nc = await connectNats({
        servers: [url],
        name: "drover-probe",
        reconnectForever: false,
        timeoutMs: 500,
      });
      await nc.close();
      return;
    } catch (err) {
      if (signal.aborted || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Waits until some scheduler answers health as (or naming) the leader and `workers` workers are registered. */
export async function waitForCluster(
  client: DroverClient,
  workers: number,
  signal: AbortSignal,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      const ws = await client.workers();
      const reply = await client.nc.request(client.api.health, "{}", { timeout: 1_000 });
      const health = JSON.parse(reply.string()) as { leaderId?: string | null; role?: string };
      if (ws.length >= workers && (health.role === "leader" || (health.leaderId ?? null) !== null))
        return;
      last = `${ws.length}/${workers} workers registered, leader ${health.leaderId ?? "not elected"}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (signal.aborted) return;
    if (Date.now() > deadline)
      throw new DroverError(
        ErrorCode.Unavailable,
        `schedulers and workers did not come up in ${timeoutMs / 1000} s (${last})`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Waits until every URL answers an HTTP request (any status): the roles' `/healthz`, so that
 * the URLs a banner lists work once it is printed. A leader and the workers are known through
 * NATS before a slower scheduler process has opened its port.
 */
export async function waitForHttp(
  urls: string[],
  signal: AbortSignal,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const url of urls) {
    for (;;) {
      try {
        await fetch(url, { signal: AbortSignal.timeout(1_000) });
        break;
      } catch (err) {
        if (signal.aborted) return;
        if (Date.now() > deadline)
          throw new DroverError(
            ErrorCode.Unavailable,
            `${url} did not answer in ${timeoutMs / 1000} s (${(err as Error).message})`,
          );
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}

/** A nats-server started for one run (see {@link startThrowawayNats}). */
export interface ThrowawayNats {
  url: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return await new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === "object" && addr !== null ? res(addr.port) : rej(new Error("no port")),
      );
    });
  });
}

/** Whether a TCP port on 127.0.0.1 can be listened on now. */
export async function portFree(port: number): Promise<boolean> {
  return await new Promise((res) => {
    const srv = createServer();
    srv.once("error", () => res(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => res(true)));
  });
}

/** A nats-server with JetStream on a free loopback port and a temporary store, removed on stop. */
export async function startThrowawayNats(signal: AbortSignal): Promise<ThrowawayNats> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "drover-bench-"));
    const url = `nats://127.0.0.1:${port}`;
    try {
      const nats = await startNatsServer(
        ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", dir],
        url,
        signal,
      );
      const stop = async (): Promise<void> => {
        await stopChildren([nats.proc]);
        rmSync(dir, { recursive: true, force: true });
      };
      return { url, pid: nats.proc.pid, stop };
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      // Another process may have taken the port between probe and bind: try another one.
      if (signal.aborted || attempt >= 3 || !/address already in use/i.test(String(err))) throw err;
    }
  }
}

/** What a benchmark run waits on besides its own step: a dead role process or an interrupt. */
export interface RunGuard {
  /** Races `p` against both: rejects as soon as a role process died or the run was interrupted. */
  guard: <T>(p: Promise<T>) => Promise<T>;
  /** Reports a role process that exited on its own. */
  roleFailed: (err: Error) => void;
}

/** Builds the {@link RunGuard} of a run that `signal` interrupts (`what` names it in the error). */
export function runGuard(signal: AbortSignal, what: string): RunGuard {
  let roleFailed!: (err: Error) => void;
  const roleFailure = new Promise<never>((_, reject) => (roleFailed = reject));
  roleFailure.catch(() => undefined);
  const aborted = new Promise<never>((_, reject) => {
    const fail = (): void => reject(new DroverError(ErrorCode.Unavailable, `${what} interrupted`));
    if (signal.aborted) fail();
    else signal.addEventListener("abort", fail, { once: true });
  });
  aborted.catch(() => undefined);
  return {
    guard: <T>(p: Promise<T>): Promise<T> => Promise.race([p, roleFailure, aborted]),
    roleFailed,
  };
}

/**
 * The NATS a benchmark runs against: `configured` servers when `external`, else a throwaway
 * nats-server started here (stop it with the returned `server.stop()`).
 */
export async function benchNats(
  external: boolean,
  configured: string[],
  signal: AbortSignal,
  guard: RunGuard["guard"],
): Promise<{ servers: string[]; server: ThrowawayNats | null }> {
  if (external) return { servers: configured, server: null };
  const server = await guard(startThrowawayNats(signal));
  return { servers: [server.url], server };
}
