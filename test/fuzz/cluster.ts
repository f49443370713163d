/**
 * The cluster a fuzz run targets: a throwaway nats-server, a `drover scheduler` and a
 * `drover worker` as child processes (so that a crash shows as an exited process), and a client.
 */
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import {
  mainScript,
  startThrowawayNats,
  stopChildren,
  waitForCluster,
} from "../../src/cli/local.ts";
import { DroverClient } from "../../src/runtime/index.ts";

export interface FuzzCluster {
  client: DroverClient;
  prefix: string;
  workerId: string;
  /** Role processes that exited (must stay empty). */
  exited(): string[];
  stop(): Promise<void>;
}

export async function startFuzzCluster(prefix = "fuzz"): Promise<FuzzCluster> {
  const nats = await startThrowawayNats(new AbortController().signal);
  const env = {
    ...process.env,
    DROVER_NATS_URL: nats.url,
    DROVER_PREFIX: prefix,
    DROVER_LOG_LEVEL: process.env.DROVER_LOG_LEVEL ?? "error",
  };
  const exits: string[] = [];
  const role = (name: string, args: string[]): ChildProcess => {
    const p = spawn(process.execPath, [mainScript, ...args, "--metrics-port", "off"], {
      env,
      stdio: ["ignore", "ignore", "inherit"],
    });
    p.once("exit", (code, signal) => exits.push(`${name} exited (${signal ?? code})`));
    return p;
  };
  const procs = [
    role("scheduler", ["scheduler"]),
    role("worker", ["worker", "--id", "fuzz-worker"]),
  ];
  const client = await DroverClient.connect({ servers: [nats.url] }, { prefix, timeoutMs: 10_000 });
  await waitForCluster(client, 1, new AbortController().signal, 60_000);
  return {
    client,
    prefix,
    workerId: "fuzz-worker",
    exited: () => [...exits],
    async stop() {
      await client.close();
      await stopChildren(procs);
      await nats.stop();
    },
  };
}
