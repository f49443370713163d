/**
 * Entry point of the lease thread (see lease-thread.ts): its own NATS connection and event
 * loop, running {@link Leadership} for the replica. Shares two numbers with the replica's
 * main thread through a SharedArrayBuffer: until when the lease is certainly held (written
 * here) and when the main thread last showed it is alive (written there).
 */
import { parentPort, workerData } from "node:worker_threads";
import { Kvm } from "@nats-io/kv";
import { pino } from "pino";
import { monotonicMs } from "./clock.ts";
import { connectNats } from "./connection.ts";
import { retryTransient } from "./kv-util.ts";
import { Leadership } from "./leadership.ts";
import type { LeaseThreadData, LeaseThreadMessage, MainToLeaseThread } from "./lease-thread.ts";
import { ALIVE_AT, VALID_UNTIL } from "./lease-thread.ts";

const data = workerData as LeaseThreadData;
const port = parentPort;
if (port === null) throw new Error("lease-thread-entry.ts must run in a worker thread");
const post = (m: LeaseThreadMessage): void => port.postMessage(m);
const shared = new BigInt64Array(data.shared);

// Log lines go to the main thread, which writes them with the replica's own logger.
const log = pino(
  { level: data.logLevel, base: null, timestamp: false },
  { write: (line: string) => post({ type: "log", line }) },
);

// The main thread is connected already, but to one of the servers; the one picked here may
// still be starting (a cluster coming up): keep trying, the replica is a follower meanwhile.
async function connectPatiently(): Promise<Awaited<ReturnType<typeof connectNats>>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectNats({
        servers: data.servers,
        name: data.connectionName,
        auth: data.auth,
      });
    } catch (err) {
      if (attempt % 20 === 1)
        log.warn({ err: (err as Error).message, attempt }, "lease connection failed; retrying");
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

const nc = await connectPatiently();
// A cluster that is still forming answers JetStream requests with timeouts for a while.
const kv = await retryTransient(() => new Kvm(nc).open(data.bucket), { attempts: 40 });
const leadership: Leadership = new Leadership({
  kv,
  replicaId: data.replicaId,
  leaseTtlMs: data.leaseTtlMs,
  log,
  onElected: (term) => post({ type: "elected", term }),
  onDeposed: (reason) => post({ type: "deposed", reason }),
  onChange: () => {
    Atomics.store(shared, VALID_UNTIL, BigInt(Math.floor(leadership.validUntil())));
    post({
      type: "state",
      state: leadership.state,
      term: leadership.term,
      leaderId: leadership.leaderId,
    });
  },
  mayLead: () => {
    const silentMs = monotonicMs() - Number(Atomics.load(shared, ALIVE_AT));
    if (silentMs <= data.watchdogMs) return true;
    log.warn({ silentMs, watchdogMs: data.watchdogMs }, "main thread unresponsive");
    return false;
  },
});

port.on("message", (m: MainToLeaseThread) => {
  if (m.type !== "stop") return;
  void (async () => {
    await leadership.stop();
    Atomics.store(shared, VALID_UNTIL, 0n);
    await nc.close().catch(() => undefined);
    post({ type: "stopped" });
    port.close();
  })();
});

await retryTransient(() => leadership.start(), { attempts: 40 });
// Node's type stripper is its internal module amaro (WebAssembly); see lease-thread-code.ts.
const loaded = (process as { moduleLoadList?: string[] }).moduleLoadList ?? [];
post({ type: "started", typeStripper: loaded.some((m) => m.includes("amaro")) });
