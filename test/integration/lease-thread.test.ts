/**
 * The lease thread on a cluster that is not ready for it yet: a thread that dies before it has
 * started (here: the leader bucket does not exist yet; in a forming cluster: requests that time
 * out) is replaced until one starts, instead of failing the replica's start.
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
    } finally {
      await thread.stop();
    }
  });
});
