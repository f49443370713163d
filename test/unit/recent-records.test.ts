/**
 * The leader's records at hand are bounded by their encoded size, oldest out first, and the
 * count of bytes follows replacements and deletions.
 */
import { describe, expect, it } from "vitest";
import { newTaskRecord, SubmitTaskRequest } from "../../src/protocol/index.ts";
import { RECENT_RECORD_BYTES, RecentRecords } from "../../src/runtime/recent-records.ts";

const stored = (id: string, revision = 1) => ({
  record: newTaskRecord(id, SubmitTaskRequest.parse({ type: "t" }), 0),
  revision,
});

describe("RecentRecords", () => {
  it("drops the oldest records once their bytes pass the budget", () => {
    const r = new RecentRecords(3_000);
    for (const id of ["a", "b", "c"]) r.set(id, stored(id), 1_000);
    expect(r.size).toBe(3);
    r.set("d", stored("d"), 1_000);
    expect(r.get("a")).toBeUndefined();
    expect(r.get("d")?.record.id).toBe("d");
    expect(r.bytes).toBe(3_000);
    // One large record takes the room of many small ones.
    r.set("big", stored("big"), 2_500);
    expect([...["b", "c", "d", "big"].filter((id) => r.get(id) !== undefined)]).toEqual(["big"]);
    expect(r.bytes).toBe(2_500);
  });

  it("keeps a record larger than the whole budget, alone", () => {
    const r = new RecentRecords(1_000);
    r.set("a", stored("a"), 100);
    r.set("huge", stored("huge"), 5_000);
    expect(r.size).toBe(1);
    expect(r.get("huge")).toBeDefined();
  });

  it("counts a replaced or deleted record's bytes out", () => {
    const r = new RecentRecords(10_000);
    r.set("a", stored("a", 1), 1_000);
    r.set("a", stored("a", 2), 1_500);
    expect(r.get("a")?.revision).toBe(2);
    expect(r.bytes).toBe(1_500);
    // A replaced record becomes the newest.
    r.set("b", stored("b"), 100);
    r.set("a", stored("a", 3), 1_500);
    r.delete("b");
    expect(r.bytes).toBe(1_500);
    r.delete("a");
    r.delete("missing");
    expect([r.size, r.bytes]).toEqual([0, 0]);
  });

  it("holds about 16,000 small records by default", () => {
    const r = new RecentRecords();
    for (let i = 0; i < 20_000; i++) r.set(`t${i}`, stored(`t${i}`), 1_010);
    expect(r.bytes).toBeLessThanOrEqual(RECENT_RECORD_BYTES);
    expect(r.size).toBeGreaterThan(16_000);
    expect(r.get("t0")).toBeUndefined();
    expect(r.get("t19999")).toBeDefined();
  });
});
