/**
 * The lease thread on a cluster that is not ready for it yet: a thread that dies before it has
 * started (here: the leader bucket does not exist yet; in a forming cluster: requests that time
 * out) is replaced until one starts, instead of failing the replica's start. And a replica
 * whose main thread is stuck taking up its duties lets the lease go to another. The thread
 * runs the sources its replica stripped, without loading Node's (WebAssembly) type stripper.
 */
import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { resourceNames } from "../../src/protocol/index.ts";
import { ensureResources } from "../../src/runtime/index.ts";
import { LeaseThread } from "../../src/runtime/lease-thread.ts";
import { useNats } from "../fixtures/nats.ts";
import { uniquePrefix } from "../fixtures/prefix.ts";

const env = useNats();

describe("lease thread", () => {
  it("is started again until it can start, and then leads", async () => {
    const prefix = uniquePrefix("lt");
    const lines: string[] = [];
    const seen = new Set<() => void>();
    const log = pino(
      { level: "warn" },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(chunk.toString());
          for (const w of seen) w();
          done();
        },
      }),
    );
    const logged = (re: RegExp): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (lines.some((l) => re.test(l))) {
            seen.delete(check);
            resolve();
          }
        };
        seen.add(check);
        check();
      });
    const elected: number[] = [];
    let onElected = (): void => undefined;
    const thread = new LeaseThread({
      servers: env.nats.servers,
      bucket: resourceNames(prefix).buckets.leader,
      replicaId: "r1",
      leaseTtlMs: 1_200,
      log,
      onElected: (term) => {
        elected.push(term);
        onElected();
      },
      onDeposed: () => undefined,
    });
    let started = false;
    const starting = thread.start().then(() => (started = true));
    try {
      await logged(/lease thread did not start; starting a new one/);
      expect(started).toBe(false);
      await ensureResources(env.nc, prefix, { replicas: 1, leaseTtlMs: 1_200 });
      await starting;
      if (elected.length === 0) await new Promise<void>((r) => (onElected = r));
      expect(elected).toHaveLength(1);
      expect(thread.state).toBe("leader");
      expect(thread.threadLoadedTypeStripper).toBe(false);
    } finally {
      await thread.stop();
    }
  });

  it("lets the lease go when taking up the duties does not finish; another replica leads", async () => {
    const prefix = uniquePrefix("lt");
    await ensureResources(env.nc, prefix, { replicas: 1, leaseTtlMs: 1_200 });
    const log = pino({ level: "silent" });
    let release = (): void => undefined;
    const stuck = new Promise<void>((r) => (release = r));
    // A replica's thread with a 1 s watchdog, whose onElected is `onElected`.
    const thread = (replicaId: string, onElected: () => Promise<void> | void): LeaseThread =>
      new LeaseThread({
        servers: env.nats.servers,
        bucket: resourceNames(prefix).buckets.leader,
        replicaId,
        leaseTtlMs: 1_200,
        watchdogMs: 1_000,
        log,
        onElected,
        onDeposed: () => undefined,
      });
    let r1Elected = (): void => undefined;
    const r1Leads = new Promise<void>((r) => (r1Elected = r));
    // Taking up the duties hangs (as a step-down that never ended did).
    const r1 = thread("r1", () => {
      r1Elected();
      return stuck;
    });
    let r2Elected = (): void => undefined;
    const r2Leads = new Promise<void>((r) => (r2Elected = r));
    const r2 = thread("r2", () => r2Elected());
    try {
      await r1.start();
      await r1Leads;
      await r2.start();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        r2Leads,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error("r2 was not elected in 20 s")), 20_000);
        }),
      ]).finally(() => clearTimeout(timer));
      expect(r2.state).toBe("leader");
      expect(r1.state).not.toBe("leader");
    } finally {
      release();
      await Promise.all([r1.stop(), r2.stop()]);
    }
  });
});
