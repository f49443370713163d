/**
 * A worker from code, in one call: connects to NATS, opens (or creates) the workers bucket,
 * starts the worker and hands back a `stop()` that drains it and closes the connection. What
 * `drover worker` does, for a program that embeds its handlers.
 */
import { pino } from "pino";
import type { Logger } from "pino";
import { subjects } from "../protocol/index.ts";
import { connectNats, jetstreamClient } from "./connection.ts";
import type { NatsAuth } from "./nats-auth.ts";
import { workerResources } from "./resources.ts";
import { Worker } from "./worker.ts";
import type { WorkerOptions } from "./worker.ts";

export interface StartWorkerOptions extends WorkerOptions {
  /** Server URLs. @default ["nats://127.0.0.1:4222"] */
  servers?: string[];
  /** Credentials and TLS, as for the client. */
  auth?: NatsAuth;
  /** Subject and bucket prefix. @default "drover" */
  prefix?: string;
  /** @default a pino logger at `info` on stderr */
  log?: Logger;
}

export interface RunningWorker {
  readonly worker: Worker;
  /** Drains (running tasks get `drainGraceMs` to finish), then closes the connection. */
  stop(): Promise<void>;
}

export async function startWorker(o: StartWorkerOptions): Promise<RunningWorker> {
  const { servers = ["nats://127.0.0.1:4222"], auth, prefix = "drover", log, ...options } = o;
  const logger = log ?? pino({ level: "info" }, pino.destination(2));
  const nc = await connectNats({ servers, name: "drover-worker", ...(auth ? { auth } : {}) });
  try {
    const buckets = await workerResources(nc, prefix, {}, logger);
    const worker = new Worker(
      {
        nc,
        js: jetstreamClient(nc),
        workersKv: buckets.workers,
        subjects: subjects(prefix),
        log: logger,
      },
      { heartbeatTtlMs: buckets.heartbeatTtlMs, ...options },
    );
    await worker.start();
    return {
      worker,
      async stop() {
        await worker.drain();
        await nc.drain();
      },
    };
  } catch (err) {
    await nc.close();
    throw err;
  }
}
