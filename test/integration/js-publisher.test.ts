/**
 * The leader's JetStream publisher (acks on one subscription instead of a request each)
 * behaves as `js.publish` does, down to the error classes that retries and compare-and-set
 * checks look at.
 */
import { Kvm } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import { resourceNames } from "../../src/protocol/index.ts";
import { ensureResources } from "../../src/runtime/index.ts";
import { JsPublisher } from "../../src/runtime/js-publisher.ts";
import { isRevisionConflict, isTimeout, isTransient } from "../../src/runtime/kv-util.ts";
import { useNats } from "../fixtures/nats.ts";
import { uniquePrefix } from "../fixtures/prefix.ts";

const env = useNats();
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

async function bucket() {
  const prefix = uniquePrefix("pub");
  await ensureResources(env.nc, prefix, { replicas: 1 });
  const name = resourceNames(prefix).buckets.tasks;
  return { name, kv: await new Kvm(env.nc).open(name) };
}

describe("JsPublisher", () => {
  it("writes with compare-and-set, and a stale revision is a revision conflict", async () => {
    const { name, kv } = await bucket();
    const pub = new JsPublisher(env.nc);
    try {
      const first = await pub.publish(`$KV.${name}.a`, bytes('"one"'), {
        expectLastSubjectSequence: 0,
      });
      expect(first.seq).toBeGreaterThan(0);
      expect(first.duplicate).toBe(false);
      const second = await pub.publish(`$KV.${name}.a`, bytes('"two"'), {
        expectLastSubjectSequence: first.seq,
      });
      expect((await kv.get("a"))?.string()).toBe('"two"');
      expect((await kv.get("a"))?.revision).toBe(second.seq);
      const stale = await pub
        .publish(`$KV.${name}.a`, bytes('"three"'), { expectLastSubjectSequence: first.seq })
        .then(
          () => null,
          (err: unknown) => err,
        );
      expect(isRevisionConflict(stale)).toBe(true);
      expect(isTransient(stale)).toBe(false);
      expect((await kv.get("a"))?.string()).toBe('"two"');
    } finally {
      pub.close();
    }
  });

  it("de-duplicates by message id and sets a per-message TTL", async () => {
    const { name, kv } = await bucket();
    const pub = new JsPublisher(env.nc);
    try {
      const a = await pub.publish(`$KV.${name}.d`, bytes("1"), { msgID: "same" });
      const b = await pub.publish(`$KV.${name}.d`, bytes("1"), { msgID: "same" });
      expect(b.duplicate).toBe(true);
      expect(b.seq).toBe(a.seq);
      await pub.publish(`$KV.${name}.t`, bytes("1"), { ttl: "1s" });
      const e = await kv.get("t");
      expect(e?.operation).toBe("PUT");
    } finally {
      pub.close();
    }
  });

  it("a subject no stream takes is a transient no-responders error", async () => {
    const pub = new JsPublisher(env.nc);
    try {
      const err = await pub.publish(`${uniquePrefix("nostream")}.x`, bytes("1")).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect(isTransient(err)).toBe(true);
    } finally {
      pub.close();
    }
  });

  it("an ack that never comes times out (transient), and close fails what still waits", async () => {
    const subject = `${uniquePrefix("silent")}.x`;
    const sub = env.nc.subscribe(subject); // takes the message, never answers
    const pub = new JsPublisher(env.nc, { timeoutMs: 200, sweepMs: 20 });
    try {
      const err = await pub.publish(subject, bytes("1")).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isTimeout(err)).toBe(true);
      expect(isTransient(err)).toBe(true);
      const pending = pub.publish(subject, bytes("2"));
      pub.close();
      await expect(pending).rejects.toThrow(/closed/);
    } finally {
      sub.unsubscribe();
      pub.close();
    }
  });
});
