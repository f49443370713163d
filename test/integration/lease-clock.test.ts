/**
 * A leader times its lease by its own monotonic clock, with the TTL the server applies.
 *
 * It used to time it by the wall clock: a clock set back (NTP, an operator) made an expired
 * lease look valid for as long as the jump, so a leader cut off from NATS went on assigning
 * next to the new one; a clock set forward deposed a healthy leader. And it used the TTL it was
 * configured with, even when the leader bucket's was shorter, believing it held a lease the
 * server had already expired.
 */
import { Kvm } from "@nats-io/kv";
import type { KV } from "@nats-io/kv";
import { afterEach, describe, expect, it, vi } from "vitest";
import { resourceNames } from "../../src/protocol/index.ts";
import { ensureResources, Leadership } from "../../src/runtime/index.ts";
import { monotonicMs } from "../../src/runtime/clock.ts";
import { testLogger } from "../fixtures/drover.ts";
import { useNats } from "../fixtures/nats.ts";
import { uniquePrefix } from "../fixtures/prefix.ts";

const env = useNats();
const TTL = 1_200;
const HOUR = 3_600_000;

/** `kv`, whose `update` (the lease renewal) never answers once `hang()` was called. */
function hangable(kv: KV): { kv: KV; hang: () => void } {
  let hanging = false;
  const proxy = new Proxy(kv, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== "function") return v;
      const fn = (v as (...a: unknown[]) => unknown).bind(target);
      if (prop !== "update") return fn;
      return (...args: unknown[]) => (hanging ? new Promise(() => undefined) : fn(...args));
    },
  });
  return { kv: proxy, hang: () => (hanging = true) };
}

async function elected(kv: KV, leaseTtlMs = TTL): Promise<Leadership> {
  let resolve = (): void => undefined;
  const won = new Promise<void>((r) => (resolve = r));
  const l: Leadership = new Leadership({
    kv,
    replicaId: "r1",
    leaseTtlMs,
    log: testLogger(),
    onElected: () => resolve(),
    onDeposed: () => undefined,
  });
  await l.start();
  await won;
  return l;
}

async function leaderBucket(leaseTtlMs = TTL): Promise<KV> {
  const prefix = uniquePrefix("lc");
  await ensureResources(env.nc, prefix, { leaseTtlMs });
  return await new Kvm(env.nc).open(resourceNames(prefix).buckets.leader);
}

afterEach(() => {
  vi.useRealTimers();
});

describe("the lease is timed by the monotonic clock", () => {
  it("a wall clock set back an hour does not stretch a lease that cannot be renewed", async () => {
    const { kv, hang } = hangable(await leaderBucket());
    const l = await elected(kv);
    try {
      hang();
      const from = monotonicMs();
      vi.useFakeTimers({ toFake: ["Date"] });
      vi.setSystemTime(Date.now() - HOUR);
      // Poll on the monotonic clock: Date is the thing being lied about.
      while (l.valid() && monotonicMs() - from < 3 * TTL)
        await new Promise((r) => setTimeout(r, 20));
      expect(l.valid()).toBe(false);
      // Valid until at most TTL − margin after the last renewal, itself before `from`.
      expect(monotonicMs() - from).toBeLessThan(TTL);
    } finally {
      vi.useRealTimers();
      await l.stop();
    }
  });

  it("a wall clock set forward an hour does not depose a leader that renews", async () => {
    const l = await elected(await leaderBucket());
    try {
      const term = l.term;
      vi.useFakeTimers({ toFake: ["Date"] });
      vi.setSystemTime(Date.now() + HOUR);
      const from = monotonicMs();
      let invalid = 0;
      while (monotonicMs() - from < 3 * TTL) {
        if (!l.valid()) invalid++;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(invalid).toBe(0);
      expect(l.term).toBe(term);
    } finally {
      vi.useRealTimers();
      await l.stop();
    }
  });
});

describe("the lease is held with the TTL the server applies", () => {
  it("a replica configured with a longer lease than the bucket's holds it for the bucket's", async () => {
    // The bucket's TTL was lowered (nats kv edit) below what this replica is configured with.
    const l = await elected(await leaderBucket(TTL), 3 * TTL);
    try {
      const left = l.validUntil() - monotonicMs();
      // TTL minus the quarter-TTL margin, from the acquisition just made.
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThanOrEqual(TTL * 0.75);
    } finally {
      await l.stop();
    }
  });
});
