import { describe, it, expect } from "vitest";
import { DroverError, resourceNames, subjects } from "../../../src/protocol/index.ts";

describe("subjects", () => {
  it("uses drover by default", () => {
    const s = subjects();
    expect(s.api.submit).toBe("drover.api.tasks.submit");
    expect(s.api.list).toBe("drover.api.tasks.list");
    expect(s.api.workers).toBe("drover.api.workers.list");
    expect(s.api.health).toBe("drover.api.health");
    expect(s.apiWildcard).toBe("drover.api.>");
  });

  it("builds every subject with a custom prefix", () => {
    const s = subjects("acme-prod");
    expect(s.api).toEqual({
      submit: "acme-prod.api.tasks.submit",
      submitMany: "acme-prod.api.tasks.submit-many",
      get: "acme-prod.api.tasks.get",
      cancel: "acme-prod.api.tasks.cancel",
      retry: "acme-prod.api.tasks.retry",
      list: "acme-prod.api.tasks.list",
      workers: "acme-prod.api.workers.list",
      health: "acme-prod.api.health",
      drain: "acme-prod.api.workers.drain",
      pools: {
        list: "acme-prod.api.pools.list",
        set: "acme-prod.api.pools.set",
        delete: "acme-prod.api.pools.delete",
      },
      schedules: {
        create: "acme-prod.api.schedules.create",
        update: "acme-prod.api.schedules.update",
        get: "acme-prod.api.schedules.get",
        list: "acme-prod.api.schedules.list",
        pause: "acme-prod.api.schedules.pause",
        resume: "acme-prod.api.schedules.resume",
        delete: "acme-prod.api.schedules.delete",
      },
    });
    expect(s.workerAssign("w-1")).toBe("acme-prod.worker.w-1.assign");
    expect(s.workerCancel("w-1")).toBe("acme-prod.worker.w-1.cancel");
    expect(s.workerDrain("w-1")).toBe("acme-prod.worker.w-1.drain");
    expect(s.replicas).toBe("acme-prod.api.replicas");
    expect(s.report("w-1", "t_9")).toBe("acme-prod.reports.w-1.t_9");
    expect(s.legacyReport("t_9")).toBe("acme-prod.reports.t_9");
    expect(s.workerReports("w-1")).toBe("acme-prod.reports.w-1.>");
    expect(s.reportsWildcard).toBe("acme-prod.reports.>");
    expect(s.event("task")).toBe("acme-prod.events.task");
    expect(s.event("worker.lost")).toBe("acme-prod.events.worker.lost");
    expect(s.eventsWildcard).toBe("acme-prod.events.>");
  });

  it("refuses ids that would change the subject shape", () => {
    const s = subjects();
    expect(() => s.workerAssign("a.b")).toThrow(DroverError);
    expect(() => s.report("w", ">")).toThrow(DroverError);
    expect(() => s.report("w.x", "t")).toThrow(DroverError);
    expect(() => s.workerReports("*")).toThrow(DroverError);
    expect(() => s.event("a..b")).toThrow(DroverError);
  });

  it("refuses an invalid prefix", () => {
    for (const bad of ["", "-x", "a.b", "a b", "x>", "a".repeat(33)]) {
      expect(() => subjects(bad)).toThrow(DroverError);
      expect(() => resourceNames(bad)).toThrow(DroverError);
    }
    try {
      subjects("a.b");
    } catch (err) {
      expect((err as DroverError).code).toBe("validation_failed");
    }
  });
});

describe("resourceNames", () => {
  it("derives bucket and stream names", () => {
    expect(resourceNames()).toEqual({
      buckets: {
        tasks: "drover-tasks",
        workers: "drover-workers",
        leader: "drover-leader",
        idempotency: "drover-idempotency",
        pools: "drover-pools",
        schedules: "drover-schedules",
      },
      streams: { reports: "DROVER_REPORTS", events: "DROVER_EVENTS", finished: "DROVER_FINISHED" },
    });
    const r = resourceNames("Acme_x-1");
    expect(r.buckets.tasks).toBe("Acme_x-1-tasks");
    expect(r.streams).toEqual({
      reports: "ACME_X-1_REPORTS",
      events: "ACME_X-1_EVENTS",
      finished: "ACME_X-1_FINISHED",
    });
  });

  it("names finished-index entries by state and an encoded type (types may hold dots)", () => {
    const s = subjects("p");
    expect(s.finished("succeeded", "img.resize")).toBe("p.finished.succeeded.aW1nLnJlc2l6ZQ");
    expect(s.finishedFilter("*", "img.resize")).toBe("p.finished.*.aW1nLnJlc2l6ZQ");
    expect(s.finishedFilter("failed")).toBe("p.finished.failed.*");
  });
});
