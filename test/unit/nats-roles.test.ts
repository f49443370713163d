import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { submitterNames, workerIds } from "../../src/cli/creds.ts";
import { authorizationBlock, rolePermissions, userSeedFile } from "../../src/runtime/index.ts";

const pub = (role: Parameters<typeof rolePermissions>[0], id?: string): string[] =>
  rolePermissions(role, "p", id)?.publish.allow ?? [];

describe("role permissions", () => {
  it("a worker publishes only its own heartbeat key and report subjects", () => {
    expect(pub("worker", "w1")).toEqual([
      "$JS.API.STREAM.INFO.KV_p-workers",
      "$KV.p-workers.w1",
      "p.reports.w1.>",
    ]);
    expect(rolePermissions("worker", "p", "w1")?.subscribe.allow).toEqual([
      "p.worker.w1.assign",
      "p.worker.w1.cancel",
      "p.worker.w1.drain",
      "_INBOX.>",
    ]);
    expect(() => rolePermissions("worker", "p")).toThrow(/worker id/);
  });

  it("a submitter and an observer reach the API and nothing of JetStream's writes", () => {
    for (const role of ["submitter", "observer"] as const)
      for (const subject of pub(role))
        expect(subject).not.toMatch(/^\$KV\.|reports|STREAM\.(CREATE|UPDATE|DELETE)/);
    // A submitter sends only on its own subjects: it cannot speak for another, nor use the
    // plain subjects (whose requests may touch anyone's task).
    expect(pub("submitter")).toEqual(["p.api.as.submitter.>"]);
    expect(pub("submitter", "alice")).toEqual(["p.api.as.alice.>"]);
    expect(() => pub("submitter", "a.b")).toThrow(/invalid submitter/);
    expect(pub("observer")).not.toContain("p.api.tasks.submit");
    expect(pub("observer")).not.toContain("p.api.tasks.cancel");
    expect(pub("observer")).not.toContain("p.api.workers.drain");
    expect(pub("observer")).toContain("p.api.replicas");
  });

  it("a scheduler writes task records and the lease, not heartbeats or stream configurations", () => {
    const s = pub("scheduler");
    expect(s).toContain("$KV.p-tasks.>");
    expect(s).toContain("$KV.p-leader.>");
    expect(s.some((x) => x.startsWith("$KV.p-workers"))).toBe(false);
    expect(s.some((x) => /STREAM\.(CREATE|UPDATE|DELETE|PURGE)/.test(x))).toBe(false);
    expect(s.some((x) => x.startsWith("p.reports"))).toBe(false);
  });

  it("an admin is unrestricted; the block lists every user by public key", () => {
    expect(rolePermissions("admin", "p")).toBeNull();
    const conf = authorizationBlock("p", [
      { name: "admin", role: "admin", nkey: "UADMIN" },
      { name: "worker.w1", role: "worker", nkey: "UW1", workerId: "w1" },
    ]);
    expect(conf).toContain("{ nkey: UADMIN }");
    expect(conf).toContain(
      '{ nkey: UW1, permissions: {"publish":{"allow":["$JS.API.STREAM.INFO.KV_p-workers"',
    );
  });
});

describe("drover creds submitter names", () => {
  it("always has the default one, takes more, and refuses bad or repeated names", () => {
    expect(submitterNames(undefined)).toEqual(["submitter"]);
    expect(submitterNames("alice, bob")).toEqual(["submitter", "alice", "bob"]);
    expect(() => submitterNames("a.b")).toThrow(/submitter 'a.b'/);
    expect(() => submitterNames("alice,alice")).toThrow(/distinct/);
    expect(() => submitterNames("submitter")).toThrow(/distinct/);
  });
});

describe("drover creds worker ids", () => {
  it("takes a list and a count, and refuses bad or repeated ids", () => {
    expect(workerIds("a, b", 2)).toEqual(["a", "b", "worker-1", "worker-2"]);
    expect(workerIds(undefined, 0)).toEqual([]);
    expect(() => workerIds("a.b", 0)).toThrow(/worker id 'a.b'/);
    expect(() => workerIds("worker-1", 1)).toThrow(/distinct/);
  });
});

describe("userSeedFile", () => {
  it("makes a user's seed once (owner-only) and keeps it on the next run", () => {
    const dir = mkdtempSync(join(tmpdir(), "drover-seed-"));
    try {
      const file = join(dir, "u.nk");
      const first = userSeedFile(file);
      expect(first.created).toBe(true);
      expect(first.publicKey).toMatch(/^U[A-Z2-7]{55}$/);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(userSeedFile(file)).toEqual({ publicKey: first.publicKey, created: false });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
