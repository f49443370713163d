import { describe, expect, it } from "vitest";
import { planDrift, resolveTtl } from "../../src/runtime/drift.ts";

interface Cfg {
  retention?: string;
  max_age?: number;
  max_bytes?: number;
  subjects?: string[];
  allow_msg_ttl?: boolean;
}

describe("planDrift", () => {
  const spec = {
    fixed: { retention: "workqueue" },
    enforce: { max_age: 10, subjects: ["a.>"], allow_msg_ttl: true },
    ifUnset: { max_bytes: 100 },
  };

  it("changes nothing when the resource already matches", () => {
    const cur: Cfg = {
      retention: "workqueue",
      max_age: 10,
      subjects: ["a.>"],
      allow_msg_ttl: true,
      max_bytes: 100,
    };
    expect(planDrift("S", cur, spec)).toEqual({ patch: {}, changes: [], refusals: [] });
  });

  it("corrects enforced fields, and sets unset ones", () => {
    const cur: Cfg = { retention: "workqueue", max_age: 5, subjects: ["b.>"], max_bytes: -1 };
    const plan = planDrift("S", cur, spec);
    expect(plan.patch).toEqual({
      max_age: 10,
      subjects: ["a.>"],
      allow_msg_ttl: true,
      max_bytes: 100,
    });
    expect(plan.changes).toHaveLength(4);
    expect(plan.refusals).toEqual([]);
  });

  it("keeps a value someone chose for an if-unset field", () => {
    const cur: Cfg = {
      retention: "workqueue",
      max_age: 10,
      subjects: ["a.>"],
      allow_msg_ttl: true,
      max_bytes: 5_000,
    };
    expect(planDrift("S", cur, spec).patch).toEqual({});
  });

  it("refuses a fixed field that differs, naming the resource and both values", () => {
    const plan = planDrift(
      "S",
      {
        retention: "limits",
        max_age: 10,
        subjects: ["a.>"],
        allow_msg_ttl: true,
        max_bytes: 1,
      },
      spec,
    );
    expect(plan.refusals).toEqual(['S: retention is "limits", Drover needs "workqueue"']);
  });
});

describe("resolveTtl", () => {
  it("adopts the bucket's when none is configured", () => {
    expect(resolveTtl(3_000, undefined, 1_200)).toEqual({ kind: "use", ms: 3_000 });
  });
  it("uses it when it matches", () => {
    expect(resolveTtl(1_200, 1_200, 1_200)).toEqual({ kind: "use", ms: 1_200 });
  });
  it("raises a shorter bucket TTL (safe for the processes already running)", () => {
    expect(resolveTtl(1_200, 3_000, 1_200)).toEqual({ kind: "raise", ms: 3_000 });
  });
  it("refuses to lower it (a process with the longer TTL would outlive its lease)", () => {
    expect(resolveTtl(3_000, 1_200, 1_200)).toEqual({
      kind: "refuse",
      bucketMs: 3_000,
      configuredMs: 1_200,
    });
  });
  it("gives a bucket without a TTL one (keys that never expire hide dead workers)", () => {
    expect(resolveTtl(0, undefined, 1_200)).toEqual({ kind: "raise", ms: 1_200 });
    expect(resolveTtl(0, 2_000, 1_200)).toEqual({ kind: "raise", ms: 2_000 });
  });
});
