import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { admissionFlags } from "../../src/cli/roles.ts";
import type { AdmissionLimits } from "../../src/actors/index.ts";
import { admit, checkLimits, isIdle, refill } from "../../src/actors/index.ts";
import { newTaskRecord, SubmitTaskRequest, subjects } from "../../src/protocol/index.ts";
import {
  newOperatorSeeds,
  roleCreds,
  submitterOfCreds,
  workerCreds,
  workerSigner,
} from "../../src/runtime/index.ts";
import { Admission } from "../../src/runtime/admission.ts";
import { TaskTable } from "../../src/runtime/task-table.ts";

const limits: AdmissionLimits = { rate: 10, burst: 5, maxUnfinished: 3 };

describe("admission decisions", () => {
  it("a new submitter starts with a full bucket; each submit takes a token", () => {
    let bucket;
    for (let i = 0; i < 5; i++) {
      const d = admit({ bucket, now: 1_000, unfinished: 0 }, limits);
      expect(d.ok).toBe(true);
      bucket = d.bucket;
    }
    const d = admit({ bucket, now: 1_000, unfinished: 0 }, limits);
    expect(d).toMatchObject({ ok: false, reason: "rate", retryAfterMs: 100 });
    // 10/s: one token back after 100 ms, never more than the burst.
    expect(admit({ bucket: d.bucket, now: 1_100, unfinished: 0 }, limits).ok).toBe(true);
    expect(refill(d.bucket, 1_000_000, limits).tokens).toBe(5);
  });

  it("refuses at the unfinished limit without taking a token", () => {
    const d = admit({ bucket: undefined, now: 0, unfinished: 3 }, limits);
    expect(d).toMatchObject({ ok: false, reason: "unfinished", bucket: { tokens: 5 } });
    expect(admit({ bucket: undefined, now: 0, unfinished: 2 }, limits).ok).toBe(true);
  });

  it("a batch takes as many tokens and places as it has tasks, all or none", () => {
    const d = admit({ bucket: undefined, now: 0, unfinished: 0 }, limits, 3);
    expect(d).toMatchObject({ ok: true, bucket: { tokens: 2 } });
    // Two tokens left: a batch of 3 waits for the third (100 ms at 10/s) and takes nothing.
    const later = admit({ bucket: d.bucket, now: 0, unfinished: 0 }, limits, 3);
    expect(later).toMatchObject({
      ok: false,
      reason: "rate",
      retryAfterMs: 100,
      bucket: { tokens: 2 },
    });
    // Places: 1 unfinished + 3 is over 3.
    expect(admit({ bucket: undefined, now: 0, unfinished: 1 }, limits, 3)).toMatchObject({
      ok: false,
      reason: "unfinished",
      retryAfterMs: 1_000,
    });
    // Larger than the burst or the unfinished limit: no wait lets it through.
    const roomy = { ...limits, maxUnfinished: 100 };
    expect(admit({ bucket: undefined, now: 0, unfinished: 0 }, roomy, 6)).toMatchObject({
      ok: false,
      reason: "rate",
      retryAfterMs: null,
    });
    expect(admit({ bucket: undefined, now: 0, unfinished: 0 }, limits, 4)).toMatchObject({
      ok: false,
      reason: "unfinished",
      retryAfterMs: null,
    });
  });

  it("0 turns a limit off", () => {
    const off = { rate: 0, burst: 1, maxUnfinished: 0 };
    let bucket;
    for (let i = 0; i < 1_000; i++) {
      const d = admit({ bucket, now: 0, unfinished: 1e9 }, off);
      expect(d.ok).toBe(true);
      bucket = d.bucket;
    }
  });

  it("a clock stepping back refills nothing and takes nothing away", () => {
    const b = refill({ tokens: 1, at: 5_000 }, 4_000, limits);
    expect(b).toEqual({ tokens: 1, at: 5_000 });
    expect(isIdle({ tokens: 1, at: 0 }, 100, limits)).toBe(false);
    expect(isIdle({ tokens: 1, at: 0 }, 400, limits)).toBe(true);
  });

  it("checks limits given by a user", () => {
    expect(checkLimits(limits)).toBeNull();
    expect(checkLimits({ ...limits, rate: -1 })).toMatch(/rate/);
    expect(checkLimits({ ...limits, burst: 0 })).toMatch(/burst/);
    expect(checkLimits({ ...limits, maxUnfinished: 1.5 })).toMatch(/unfinished/);
  });
});

describe("a replica's admission", () => {
  const api = subjects("p").api;

  it("limits submits and retries of each submitter apart, and counts submits in flight", () => {
    const held = new Map<string, number>([["alice", 2]]);
    const a = new Admission(limits, (name) => held.get(name) ?? 0);
    // Reads are never limited.
    for (let i = 0; i < 20; i++) expect(a.check(api.get, "alice", api)).toBeNull();
    // alice holds 2: one submit in flight brings her to her limit of 3.
    expect(a.check(api.submit, "alice", api)).toBeNull();
    const refused = a.check(api.submit, "alice", api);
    expect(refused?.code).toBe("rate_limited");
    expect(refused?.retryable).toBe(true);
    expect(refused?.message).toMatch(/3 unfinished tasks/);
    expect(a.check(api.retry, "alice", api)?.code).toBe("rate_limited");
    // Answered (its record now in the mirror's count instead): room again once one finishes.
    a.done("alice");
    held.set("alice", 2);
    expect(a.check(api.submit, "alice", api)).toBeNull();
    // bob has his own bucket and count.
    for (let i = 0; i < 3; i++) expect(a.check(api.submit, "bob", api)).toBeNull();
    expect(a.check(api.submit, "bob", api)?.message).toMatch(/'bob' has 3 unfinished/);
    expect(Object.fromEntries(a.refused)).toEqual({ unfinished: 3 });
  });
});

describe("a submitter's API subjects", () => {
  const s = subjects("p");

  it("name the submitter, and parse back to the plain endpoint", () => {
    expect(s.apiAs("alice").submit).toBe("p.api.as.alice.tasks.submit");
    expect(s.submitterApi("alice")).toBe("p.api.as.alice.>");
    expect(s.parseApi("p.api.as.alice.tasks.cancel")).toEqual({
      endpoint: "p.api.tasks.cancel",
      submitter: "alice",
    });
    expect(s.parseApi("p.api.tasks.submit")).toEqual({
      endpoint: "p.api.tasks.submit",
      submitter: null,
    });
    expect(s.parseApi("p.api.as.alice")).toBeNull();
    expect(s.parseApi("p.api.as.a*b.health")).toBeNull();
    expect(() => s.apiAs("a.b")).toThrow(/invalid submitter/);
  });
});

describe("the unfinished tasks of each submitter", () => {
  it("are counted by the task table as records come and go", () => {
    const t = new TaskTable();
    const req = SubmitTaskRequest.parse({ type: "echo" });
    t.set(newTaskRecord("a", req, 0, "alice"), 1);
    t.set(newTaskRecord("b", req, 0, "alice"), 1);
    t.set(newTaskRecord("c", req, 0), 1);
    expect(t.heldBy("alice")).toBe(2);
    // A newer version of a held task counts once.
    t.set({ ...newTaskRecord("a", req, 0, "alice"), state: "running", workerId: "w" }, 2);
    expect(t.heldBy("alice")).toBe(2);
    t.delete("a");
    expect(t.heldBy("alice")).toBe(1);
    t.delete("b");
    expect(t.heldBy("alice")).toBe(0);
  });
});

describe("scheduler flags for the limits", () => {
  it("take flags over env, a burst of a second's worth by default, and refuse nonsense", () => {
    expect(admissionFlags({}, {})).toEqual({ rate: 2_000, burst: 4_000, maxUnfinished: 100_000 });
    expect(admissionFlags({ "submitter-rate": "50" }, { DROVER_SUBMITTER_RATE: "7" })).toEqual({
      rate: 50,
      burst: 50,
      maxUnfinished: 100_000,
    });
    expect(
      admissionFlags({}, { DROVER_SUBMITTER_RATE: "0", DROVER_SUBMITTER_MAX_UNFINISHED: "0" }),
    ).toEqual({ rate: 0, burst: 1, maxUnfinished: 0 });
    expect(() => admissionFlags({ "submitter-burst": "0" }, {})).toThrow(/burst/);
    expect(() => admissionFlags({ "submitter-rate": "-3" }, {})).toThrow(/non-negative/);
  });
});

describe("the submitter of a .creds file", () => {
  const dir = mkdtempSync(join(tmpdir(), "drover-submitter-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is the name its permissions send as; none for other roles", () => {
    const seeds = newOperatorSeeds();
    const file = (name: string, text: string): string => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    expect(submitterOfCreds(file("a", roleCreds(seeds, "submitter", "p", "alice")), "p")).toBe(
      "alice",
    );
    expect(submitterOfCreds(file("s", roleCreds(seeds, "submitter", "p")), "p")).toBe("submitter");
    // Another prefix's submitter is not this one's.
    expect(submitterOfCreds(join(dir, "a"), "q")).toBeNull();
    expect(submitterOfCreds(file("admin", roleCreds(seeds, "admin", "p")), "p")).toBeNull();
    const w = workerCreds(workerSigner(seeds), "w1");
    expect(submitterOfCreds(file("w", w), "p")).toBeNull();
    expect(submitterOfCreds(join(dir, "missing"), "p")).toBeNull();
    expect(submitterOfCreds(file("junk", "not a creds file"), "p")).toBeNull();
  });
});
