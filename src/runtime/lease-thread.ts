/**
 * The leadership lease, kept by a worker thread with its own NATS connection.
 *
 * Why a thread: the lease must be renewed every quarter TTL (300 ms by default). On the
 * replica's main thread, a renewal competes with everything else the replica does — a flood of
 * API requests, a mirror catching up on thousands of records, a scheduling pass — and one long
 * turn of the event loop is enough to miss it; the cluster then elects again and again under
 * exactly the load it should be serving. The thread's event loop does nothing but the lease.
 *
 * Safety does not depend on the thread being prompt: the thread publishes the time until
 * which the lease is certainly held (last renewal + TTL − margin), and the scheduler checks
 * that number before every assignment, so a stale leader stops assigning on time whatever
 * either thread is doing. Liveness has a watchdog: the main thread stamps the time every
 * 100 ms, and the thread stops renewing (letting another replica take over) once the main
 * thread has been silent for `watchdogMs`. A main thread stuck in a leadership change (an
 * `onElected` or `onDeposed` still running after `watchdogMs`) stops stamping too: a replica
 * that cannot take up or put down its duties must not hold the lease, where it would lead in
 * name only.
 */
import type { NatsAuth } from "./nats-auth.ts";
import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import { monotonicMs } from "./clock.ts";
import { LEASE_THREAD_BOOTSTRAP, leaseThreadSources } from "./lease-thread-code.ts";

/**
 * Index in the shared array: time on the monotonic clock (`monotonicMs`, the same in every
 * thread of the process) until which the lease is held (0: not leading).
 */
export const VALID_UNTIL = 0;
/** Index in the shared array: monotonic time at which the main thread last stamped it. */
export const ALIVE_AT = 1;

/** What the thread is started with (structured-cloned). */
export interface LeaseThreadData {
  servers: string[];
  auth: NatsAuth;
  connectionName: string;
  bucket: string;
  replicaId: string;
  leaseTtlMs: number;
  watchdogMs: number;
  logLevel: string;
  shared: SharedArrayBuffer;
}

/** Messages from the thread. */
export type LeaseThreadMessage =
  /** `typeStripper`: whether the thread loaded Node's (WebAssembly) type stripper; see lease-thread-code.ts. */
  | { type: "started"; typeStripper: boolean }
  | { type: "stopped" }
  | { type: "elected"; term: number }
  | { type: "deposed"; reason: string }
  | { type: "state"; state: string; term: number | null; leaderId: string | null }
  | { type: "log"; line: string };

/** Messages to the thread. */
export type MainToLeaseThread = { type: "stop" };

export interface LeaseThreadOptions {
  servers: string[];
  /** Credentials and TLS for the thread's own connection. */
  auth?: NatsAuth;
  /** Name of the leader bucket. */
  bucket: string;
  replicaId: string;
  leaseTtlMs: number;
  /** The thread lets the lease go once the main thread has not stamped for this long. @default 5000 */
  watchdogMs?: number;
  log: Logger;
  onElected(term: number): Promise<void> | void;
  onDeposed(reason: string): Promise<void> | void;
}

const LEVELS: Record<number, "trace" | "debug" | "info" | "warn" | "error" | "fatal"> = {
  10: "trace",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "fatal",
};

/** The same surface as {@link Leadership}, with the election running in a worker thread. */
export class LeaseThread {
  readonly #o: LeaseThreadOptions;
  readonly #shared = new BigInt64Array(new SharedArrayBuffer(16));
  #worker: Worker | null = null;
  #stamp: NodeJS.Timeout | null = null;
  #state = "follower";
  #term: number | null = null;
  #leaderId: string | null = null;
  #stopped: Promise<void> | null = null;
  /** Elected/deposed calls run one after another, in the order the thread sent them. */
  #transitions: Promise<void> = Promise.resolve();
  /** When the elected/deposed call running now started (monotonic), null when none runs. */
  #transitionSince: number | null = null;
  #typeStripper: boolean | null = null;

  constructor(o: LeaseThreadOptions) {
    this.#o = o;
  }

  get state(): string {
    return this.#state;
  }
  get term(): number | null {
    return this.#term;
  }
  get leaderId(): string | null {
    return this.#leaderId;
  }
  /**
   * Whether the running thread loaded Node's type stripper (and so runs WebAssembly), null
   * before it has started. False whenever this Node can serve it stripped sources.
   */
  get threadLoadedTypeStripper(): boolean | null {
    return this.#typeStripper;
  }

  /** True while this replica leads and its lease has certainly not lapsed. */
  valid(): boolean {
    return monotonicMs() < Number(Atomics.load(this.#shared, VALID_UNTIL));
  }

  /** Starts the thread; resolves once it is connected and has made its first election move. */
  async start(): Promise<void> {
    const watchdogMs = this.#o.watchdogMs ?? 5_000;
    const stamp = (): void => {
      const now = monotonicMs();
      if (this.#transitionSince !== null && now - this.#transitionSince > watchdogMs) return;
      Atomics.store(this.#shared, ALIVE_AT, BigInt(Math.floor(now)));
    };
    stamp();
    this.#stamp = setInterval(stamp, 100);
    this.#stamp.unref();
    await this.#spawnUntilStarted();
  }

  /**
   * Starts a thread, and another if that one dies before it is ready (a cluster that is still
   * forming can make its first requests fail): the replica is a follower meanwhile.
   */
  async #spawnUntilStarted(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#spawn();
        return;
      } catch (err) {
        if (this.#stopped !== null) throw err;
        this.#o.log.warn(
          { err: (err as Error).message, attempt },
          "lease thread did not start; starting a new one",
        );
        await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** attempt)));
      }
    }
  }

  async #spawn(): Promise<void> {
    const data: LeaseThreadData = {
      servers: this.#o.servers,
      auth: this.#o.auth ?? {},
      connectionName: `drover-lease-${this.#o.replicaId}`,
      bucket: this.#o.bucket,
      replicaId: this.#o.replicaId,
      leaseTtlMs: this.#o.leaseTtlMs,
      watchdogMs: this.#o.watchdogMs ?? 5_000,
      logLevel: this.#o.log.level,
      shared: this.#shared.buffer,
    };
    // Its sibling module: .ts in a checkout, .js once compiled into the npm package. Sources
    // are handed over already stripped of their types (lease-thread-code.ts).
    const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
    const entry = new URL(`./lease-thread-entry${ext}`, import.meta.url);
    let code: ReturnType<typeof leaseThreadSources> = null;
    try {
      code = leaseThreadSources(entry);
    } catch (err) {
      this.#o.log.warn({ err }, "lease thread sources not stripped; the thread loads them itself");
    }
    const worker =
      code === null
        ? new Worker(entry, { workerData: data })
        : new Worker(LEASE_THREAD_BOOTSTRAP, { eval: true, workerData: { ...data, code } });
    this.#worker = worker;
    let running = false;
    const started = new Promise<void>((resolve, reject) => {
      worker.on("message", (m: LeaseThreadMessage) => {
        if (m.type === "started") {
          running = true;
          this.#typeStripper = m.typeStripper;
          resolve();
        }
        this.#onMessage(m);
      });
      worker.once("error", (err: Error) => {
        this.#o.log.error({ err }, "lease thread failed");
        reject(err);
      });
      worker.once("exit", (code) => {
        Atomics.store(this.#shared, VALID_UNTIL, 0n);
        if (this.#stopped !== null) return;
        // Never expected: stop leading, and start a new thread so this replica can lead again.
        this.#o.log.error({ code }, "lease thread exited; starting a new one");
        this.#state = "follower";
        this.#term = null;
        this.#enqueue(() => this.#o.onDeposed("lease thread exited"));
        reject(new Error(`lease thread exited with code ${code}`));
        // One that never started is retried by whoever is waiting for it to start.
        if (!running) return;
        const again = setTimeout(() => {
          if (this.#stopped === null)
            this.#spawnUntilStarted().catch((err: unknown) =>
              this.#o.log.error({ err }, "lease thread could not be restarted"),
            );
        }, 1_000);
        again.unref();
      });
    });
    await started;
  }

  #enqueue(fn: () => Promise<void> | void): void {
    this.#transitions = this.#transitions
      .then(async () => {
        this.#transitionSince = monotonicMs();
        try {
          await fn();
        } finally {
          this.#transitionSince = null;
        }
      })
      .catch((err: unknown) => this.#o.log.error({ err }, "leadership change failed"));
  }

  #onMessage(m: LeaseThreadMessage): void {
    switch (m.type) {
      case "state":
        this.#state = m.state;
        this.#term = m.term;
        this.#leaderId = m.leaderId;
        return;
      case "elected":
        return this.#enqueue(() => this.#o.onElected(m.term));
      case "deposed":
        return this.#enqueue(() => this.#o.onDeposed(m.reason));
      case "log": {
        try {
          const { level, msg, ...fields } = JSON.parse(m.line) as Record<string, unknown>;
          this.#o.log[LEVELS[level as number] ?? "info"](
            fields,
            typeof msg === "string" ? msg : "",
          );
        } catch {
          this.#o.log.info(m.line);
        }
        return;
      }
      default:
        return;
    }
  }

  /** Resigns (a follower takes over at once), stops the thread and waits for both. */
  async stop(): Promise<void> {
    if (this.#stopped !== null) return this.#stopped;
    this.#stopped = (async () => {
      const worker = this.#worker;
      if (worker !== null) {
        const done = new Promise<void>((resolve) => {
          worker.on("message", (m: LeaseThreadMessage) => m.type === "stopped" && resolve());
          worker.once("exit", () => resolve());
        });
        worker.postMessage({ type: "stop" } satisfies MainToLeaseThread);
        await done;
        await worker.terminate();
      }
      if (this.#stamp !== null) clearInterval(this.#stamp);
      Atomics.store(this.#shared, VALID_UNTIL, 0n);
      await this.#transitions;
    })();
    return this.#stopped;
  }
}
