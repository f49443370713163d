/**
 * The fuzz of test/fuzz/fuzz.ts in CI: a few hundred generated messages per API subject, the
 * assignment subject and the reports path, from a fixed seed, against a real nats-server with a
 * scheduler and a worker as processes (`npm run fuzz` runs 10,000 per subject).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FuzzCluster } from "../fuzz/cluster.ts";
import { startFuzzCluster } from "../fuzz/cluster.ts";
import { checkAfter } from "../fuzz/check.ts";
import { fuzz } from "../fuzz/fuzz.ts";

let cluster: FuzzCluster;
beforeAll(async () => {
  cluster = await startFuzzCluster();
});
afterAll(async () => {
  await cluster?.stop();
});

describe("fuzzing", () => {
  it("every generated message gets a structured reply, refusals create nothing, and the cluster still runs a task", async () => {
    const report = await fuzz(cluster.client.nc, cluster.prefix, cluster.workerId, {
      perSubject: 300,
      seed: 20261203,
    });
    const check = await checkAfter(cluster, report);
    expect(check.problems).toEqual([]);
    // 20 API subjects (replicas among them), 5 as a named submitter, a worker's assignments,
    // the reports path.
    expect(Object.keys(report.subjects)).toHaveLength(27);
    expect(report.sent).toBe(27 * 300);
    // The generators reach both sides of every API subject.
    for (const [subject, r] of Object.entries(report.subjects)) {
      if (subject.endsWith(".reports.>")) continue;
      expect(Object.keys(r.refused).length, subject).toBeGreaterThan(0);
    }
    expect(report.subjects[cluster.client.subjects.api.submit]!.accepted).toBeGreaterThan(0);
    expect(
      report.subjects[cluster.client.subjects.apiAs("fuzzer").submit]!.accepted,
    ).toBeGreaterThan(0);
    expect(report.subjects[cluster.client.subjects.api.submitMany]!.accepted).toBeGreaterThan(0);
    expect(report.subjects[cluster.client.subjects.api.schedules.create]!.accepted).toBeGreaterThan(
      0,
    );
    // Changing schedules is an admin's request: a named submitter is refused, always.
    expect(
      report.subjects[cluster.client.subjects.apiAs("fuzzer").schedules.create]!.accepted,
    ).toBe(0);
    expect(report.newTasks).toBeGreaterThan(0);
  }, 300_000);
});
