import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DroverError, ErrorCode } from "../protocol/index.ts";
import { connectNats, ensureResources } from "../runtime/index.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

function natsServerBinary(): string {
  const local = join(root, ".tools", "bin", "nats-server");
  return existsSync(local) ? local : "nats-server";
}

/**
 * `drover up`: the embedded default. Starts a local nats-server with JetStream from
 * `nats.conf`, sets up Drover's streams and buckets, reports healthy and keeps running until
 * Ctrl-C, then stops what it started.
 */
export const upCommand: Command = {
  name: "up",
  summary: "run Drover locally: a nats-server, schedulers and workers on this machine",
  usage: "drover up [--port 4222] [--data-dir .drover/nats] [--no-nats]",
  options: {
    port: { type: "string", default: "4222" },
    "data-dir": { type: "string", default: ".drover/nats" },
    "no-nats": { type: "boolean", default: false },
  },
  async run({ config, values, log, signal }) {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port must be 1..65535, got ${String(values.port)}`);
    const url = `nats://127.0.0.1:${port}`;
    const children: ChildProcess[] = [];
    const stopAll = async (): Promise<void> => {
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((done) => {
              if (c.exitCode !== null || c.signalCode !== null) return done();
              c.once("exit", () => done());
              c.kill("SIGTERM");
              setTimeout(() => c.kill("SIGKILL"), 10_000).unref();
            }),
        ),
      );
    };
    try {
      if (values["no-nats"] !== true) {
        const dataDir = resolve(String(values["data-dir"]));
        mkdirSync(dataDir, { recursive: true });
        const server = spawn(natsServerBinary(), ["-c", join(root, "nats.conf"), "-p", String(port), "-sd", dataDir], {
          stdio: ["ignore", "ignore", "pipe"],
        });
        children.push(server);
        let serverLog = "";
        server.stderr?.on("data", (d: Buffer) => (serverLog = (serverLog + d.toString()).slice(-4_000)));
        const exited = new Promise<never>((_, reject) => {
          server.once("error", (err) => reject(new DroverError(ErrorCode.Unavailable, `cannot start nats-server: ${err.message} (run: npm run provision)`)));
          server.once("exit", (code) =>
            reject(new DroverError(ErrorCode.Unavailable, `nats-server exited (${code}): ${serverLog.trim().split("\n").slice(-2).join(" | ")}`)),
          );
        });
        exited.catch(() => undefined);
        const probing = new AbortController();
        const stopProbing = (): void => probing.abort();
        signal.addEventListener("abort", stopProbing, { once: true });
        server.once("exit", stopProbing);
        await Promise.race([waitForNats(url, probing.signal), exited]);
        signal.removeEventListener("abort", stopProbing);
        log.info({ url, dataDir }, "nats-server is up");
      }
      const nc = await connectNats({ servers: [url], name: "drover-up" });
      try {
        await ensureResources(nc, config.prefix, { replicas: 1, heartbeatTtlMs: config.heartbeatTtlMs, leaseTtlMs: config.leaseTtlMs });
        console.log(JSON.stringify({ healthy: true, nats: url, prefix: config.prefix, server: nc.info?.server_name, version: nc.info?.version }));
        console.log(`Drover is up. NATS: ${url}`);
        console.log(`Try: nats --server ${url} kv ls`);
        console.log("Press Ctrl-C to stop.");
        await new Promise<void>((done) => signal.addEventListener("abort", () => done(), { once: true }));
      } finally {
        await nc.close();
      }
      return 0;
    } finally {
      await stopAll();
    }
  },
};

async function waitForNats(url: string, signal: AbortSignal, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const nc = await connectNats({ servers: [url], name: "drover-up-probe", reconnectForever: false, timeoutMs: 500 });
      await nc.close();
      return;
    } catch (err) {
      if (signal.aborted || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
