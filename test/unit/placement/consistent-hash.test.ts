import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { createStrategy, hash32, rendezvousWeight } from "../../../src/actors/placement/index.ts";
import type { WorkerView } from "../../../src/actors/placement/index.ts";
import { CTX, task, worker } from "./arbitraries.ts";

const KEYS = Array.from({ length: 2000 }, (_, i) => `key-${i}`);

/** Where each key goes, as a key → worker id map. */
function assign(workers: readonly WorkerView[], keys: readonly string[] = KEYS) {
  const ch = createStrategy("consistent-hash");
  return new Map(keys.map((k) => [k, ch.place(task({ key: k }), workers, CTX).workerId]));
}

const idsArb = (min: number, max: number) =>
  fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/), {
    minLength: min,
    maxLength: max,
  });

describe("consistent-hash", () => {
  it("hash32 is a stable, unsigned 32-bit hash", () => {
    expect(hash32("")).toBe(hash32(""));
    expect(hash32("order-42")).toBe(hash32("order-42"));
    expect(hash32("order-42")).not.toBe(hash32("order-43"));
    for (const s of ["", "a", "ünïcødé", "\u{1F600}"]) {
      const h = hash32(s);
      expect(Number.isInteger(h)).toBe(true);
      expect(h).toBeGreaterThanOrEqual(0);
      expect(h).toBeLessThan(2 ** 32);
    }
    expect(rendezvousWeight("k", "w")).toBeGreaterThanOrEqual(0);
    expect(rendezvousWeight("k", "w")).toBeLessThan(1);
  });

  it("is deterministic across instances and independent of worker order (property)", () => {
    fc.assert(
      fc.property(idsArb(1, 12), fc.string(), (ids, key) => {
        const ws = ids.map((id) => worker(id));
        const a = createStrategy("consistent-hash").place(task({ key }), ws, CTX);
        const b = createStrategy("consistent-hash").place(task({ key }), [...ws].reverse(), CTX);
        expect(b.workerId).toBe(a.workerId);
        expect(createStrategy("consistent-hash").place(task({ key }), ws, CTX)).toEqual(a);
      }),
    );
  });

  it("chooses the highest rendezvous weight and reports each weight as the score (property)", () => {
    fc.assert(
      fc.property(idsArb(1, 12), fc.string(), (ids, key) => {
        const d = createStrategy("consistent-hash").place(
          task({ key }),
          ids.map((id) => worker(id)),
          CTX,
        );
        const weights = ids.map((id) => rendezvousWeight(key, id));
        expect(d.candidates.map((c) => c.score)).toEqual(weights);
        const best = Math.max(...weights);
        expect(rendezvousWeight(key, d.workerId!)).toBe(best);
      }),
    );
  });

  it("hashes the task id when the key is null", () => {
    const ws = ["w1", "w2", "w3", "w4", "w5"].map((id) => worker(id));
    const ch = createStrategy("consistent-hash");
    for (const k of KEYS.slice(0, 50)) {
      const byId = ch.place(task({ id: k, key: null }), ws, CTX).workerId;
      const byKey = ch.place(task({ id: "other", key: k }), ws, CTX).workerId;
      expect(byId).toBe(byKey);
    }
  });

  it("adding one worker to n moves roughly 1/(n+1) of the keys, all to the newcomer (property)", () => {
    fc.assert(
      fc.property(idsArb(6, 21), (ids) => {
        const [joiner, ...rest] = ids as [string, ...string[]];
        const n = rest.length;
        const before = assign(rest.map((id) => worker(id)));
        const after = assign([...rest, joiner].map((id) => worker(id)));
        const moved = KEYS.filter((k) => before.get(k) !== after.get(k));
        for (const k of moved) expect(after.get(k)).toBe(joiner);
        const share = moved.length / KEYS.length;
        expect(share).toBeGreaterThanOrEqual(0.5 / (n + 1));
        expect(share).toBeLessThanOrEqual(2 / (n + 1));
      }),
      { numRuns: 25 },
    );
  });

  it("removing a worker moves only that worker's keys (property)", () => {
    fc.assert(
      fc.property(idsArb(5, 20), fc.nat(), (ids, pick) => {
        const gone = ids[pick % ids.length]!;
        const before = assign(ids.map((id) => worker(id)));
        const after = assign(ids.filter((id) => id !== gone).map((id) => worker(id)));
        for (const k of KEYS) {
          if (before.get(k) === gone) expect(after.get(k)).not.toBe(gone);
          else expect(after.get(k)).toBe(before.get(k));
        }
      }),
      { numRuns: 25 },
    );
  });

  it("spreads keys evenly enough", () => {
    const ws = Array.from({ length: 10 }, (_, i) => worker(`worker-${i}`));
    const counts = new Map<string, number>();
    for (const id of assign(ws).values()) counts.set(id!, (counts.get(id!) ?? 0) + 1);
    for (const w of ws) {
      expect(counts.get(w.id) ?? 0).toBeGreaterThan(100);
      expect(counts.get(w.id) ?? 0).toBeLessThan(300);
    }
  });

  it("falls through to another worker only while the owner does not fit", () => {
    const ws = ["w1", "w2", "w3"].map((id) => worker(id));
    const owner = assign(ws, ["sticky"]).get("sticky")!;
    const full = ws.map((w) =>
      w.id === owner ? { ...w, used: { cpu: 4, memoryMb: 0, slots: 0 } } : w,
    );
    const d = createStrategy("consistent-hash").place(task({ key: "sticky" }), full, CTX);
    expect(d.workerId).not.toBeNull();
    expect(d.workerId).not.toBe(owner);
    expect(assign(ws, ["sticky"]).get("sticky")).toBe(owner);
  });

  it("explains the choice", () => {
    const d = createStrategy("consistent-hash").place(
      task({ key: "order-42" }),
      [worker("w1"), worker("w2")],
      CTX,
    );
    expect(d.reason).toMatch(
      new RegExp(
        `^consistent-hash: key 'order-42' maps to ${d.workerId} \\(weight [0-9.]+, highest of 2 fitting workers\\)$`,
      ),
    );
  });
});
