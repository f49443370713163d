/**
 * The lease thread's sources, stripped of their types by the replica so that the thread loads
 * no type stripper (lease-thread-code.ts). That the thread really loads none is asserted with a
 * running thread in test/integration/lease-thread.test.ts.
 */
import { describe, expect, it } from "vitest";
import { leaseThreadSources, relativeTsImports } from "../../src/runtime/lease-thread-code.ts";

const entry = new URL("../../src/runtime/lease-thread-entry.ts", import.meta.url);

describe("lease thread code", () => {
  it("finds every relative .ts import form, and nothing else", () => {
    const js = [
      'import { a } from "./a.ts";',
      'export * from "../b.ts";',
      'import "./c.ts";',
      'const d = await import("./d/e.ts");',
      'import { f } from "node:fs";',
      'import { g } from "@nats-io/kv";',
      'import { h } from "./h.js";',
    ].join("\n");
    expect(relativeTsImports(js, "file:///r/src/x/m.ts")).toEqual([
      "file:///r/src/x/a.ts",
      "file:///r/src/b.ts",
      "file:///r/src/x/c.ts",
      "file:///r/src/x/d/e.ts",
    ]);
  });

  it("strips the entry and every module it reaches, once per process", () => {
    const code = leaseThreadSources(entry);
    expect(code).not.toBeNull();
    if (code === null) return;
    const names = Object.keys(code.sources).map((u) => u.replace(/^.*\/src\//, "src/"));
    expect(names).toContain("src/runtime/lease-thread-entry.ts");
    expect(names).toContain("src/runtime/leadership.ts");
    expect(names).toContain("src/runtime/connection.ts");
    expect(code.sources[code.entry]).toContain("workerData");
    // Types are gone: no annotation survives in the entry's first declaration.
    expect(code.sources[code.entry]).not.toMatch(/workerData as LeaseThreadData/);
    for (const js of Object.values(code.sources)) expect(js).not.toMatch(/^import type /m);
    expect(leaseThreadSources(entry)).toBe(code);
  });

  it("leaves compiled code to the thread", () => {
    expect(leaseThreadSources(new URL("file:///app/dist/runtime/lease-thread-entry.js"))).toBe(
      null,
    );
  });
});
