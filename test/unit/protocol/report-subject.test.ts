import { describe, expect, it } from "vitest";
import type { Report } from "../../../src/protocol/index.ts";
import { reportSubjectMismatch, subjects } from "../../../src/protocol/index.ts";

const s = subjects("acme");
const report = (workerId: string, taskId: string): Report => ({
  v: 1,
  kind: "succeeded",
  taskId,
  epoch: 3,
  workerId,
  at: 0,
  result: null,
});

describe("report subjects", () => {
  it("parses the worker's subject, the legacy one, and nothing else", () => {
    expect(s.parseReport("acme.reports.w-1.t_9")).toEqual({ workerId: "w-1", taskId: "t_9" });
    expect(s.parseReport("acme.reports.t_9")).toEqual({ workerId: null, taskId: "t_9" });
    expect(s.parseReport("acme.reports.a.b.c")).toBeNull();
    expect(s.parseReport("acme.reports.")).toBeNull();
    expect(s.parseReport("other.reports.w.t")).toBeNull();
    expect(s.parseReport("acme.reports.w.*")).toBeNull();
    // What a builder makes, the parser reads back.
    expect(s.parseReport(s.report("w-2", "t1"))).toEqual({ workerId: "w-2", taskId: "t1" });
    expect(s.parseReport(s.legacyReport("t1"))).toEqual({ workerId: null, taskId: "t1" });
  });

  it("trusts a report only where its subject names its worker and task", () => {
    const r = report("w-1", "t_9");
    expect(reportSubjectMismatch(s.parseReport("acme.reports.w-1.t_9"), r)).toBeNull();
    // A worker of an earlier version: the subject names no worker; the record check decides.
    expect(reportSubjectMismatch(s.parseReport("acme.reports.t_9"), r)).toBeNull();
    expect(reportSubjectMismatch(s.parseReport("acme.reports.mallory.t_9"), r)).toBe(
      "the subject names worker mallory, the body worker w-1",
    );
    expect(reportSubjectMismatch(s.parseReport("acme.reports.w-1.t_8"), r)).toBe(
      "the subject names task t_8, the body task t_9",
    );
    expect(reportSubjectMismatch(s.parseReport("acme.reports.t_8"), r)).toMatch(/task t_8/);
    expect(reportSubjectMismatch(null, r)).toBe("the subject is not a report subject");
  });
});
