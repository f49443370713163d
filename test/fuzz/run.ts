/**
 * `npm run fuzz`: the longer fuzz run against a local cluster (see fuzz.ts).
 *   npm run fuzz -- [--per-subject 10000] [--seed 20261203] [--json]
 * Exits 1 if any rule was broken: a request without a structured reply or answered `internal`,
 * a record from a refused submit, a role process that exited, or a valid task afterwards that
 * did not succeed within 10 s.
 */
import { parseArgs } from "node:util";
import { startFuzzCluster } from "./cluster.ts";
import { fuzz } from "./fuzz.ts";
import { checkAfter } from "./check.ts";

const { values } = parseArgs({
  options: {
    "per-subject": { type: "string", default: "10000" },
    seed: { type: "string", default: "20261203" },
    json: { type: "boolean", default: false },
  },
});
const perSubject = Number(values["per-subject"]);
const seed = Number(values.seed);
if (!Number.isInteger(perSubject) || perSubject < 1 || !Number.isInteger(seed))
  throw new Error("--per-subject and --seed take integers");

const cluster = await startFuzzCluster();
const started = performance.now();
try {
  const report = await fuzz(cluster.client.nc, cluster.prefix, cluster.workerId, {
    perSubject,
    seed,
    onSubject: (subject, done, total) =>
      console.error(
        `[fuzz] ${done}/${total} ${subject} (${((performance.now() - started) / 1_000).toFixed(0)} s)`,
      ),
  });
  const check = await checkAfter(cluster, report);
  if (values.json) console.log(JSON.stringify({ report, check }, null, 2));
  else {
    console.log(
      `seed ${seed}, ${report.sent} messages in ${((performance.now() - started) / 1_000).toFixed(1)} s`,
    );
    for (const [subject, r] of Object.entries(report.subjects))
      console.log(
        `  ${subject.padEnd(34)} ${String(r.sent).padStart(6)} sent, ${String(r.accepted).padStart(6)} accepted, refused ${JSON.stringify(r.refused)}`,
      );
    console.log(
      `new tasks ${report.newTasks}, records ${report.recordsBefore} → ${report.recordsAfter}, reports stored ${report.reportsStored}`,
    );
    console.log(
      check.problems.length === 0
        ? "OK: every rule held"
        : `BROKEN:\n  ${check.problems.join("\n  ")}`,
    );
  }
  process.exitCode = check.problems.length === 0 ? 0 : 1;
} finally {
  await cluster.stop();
}
