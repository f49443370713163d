import type { FuzzCluster } from "./cluster.ts";
import type { FuzzReport } from "./fuzz.ts";

/**
 * The rules after a fuzz run: no failed request, one record per new task and none more, every
 * role process alive, and a valid task that succeeds within 10 s.
 */
export async function checkAfter(
  cluster: FuzzCluster,
  report: FuzzReport,
): Promise<{ problems: string[]; probeMs: number | null }> {
  const problems: string[] = [];
  for (const f of report.failures.slice(0, 20))
    problems.push(`${f.subject}: ${f.reply} for ${JSON.stringify(f.body)}`);
  if (report.failures.length > 20)
    problems.push(`… and ${report.failures.length - 20} more failures`);
  if (report.recordsAfter - report.recordsBefore !== report.newTasks)
    problems.push(
      `${report.recordsAfter - report.recordsBefore} records created for ${report.newTasks} accepted submits`,
    );
  const started = performance.now();
  let probeMs: number | null = null;
  try {
    const { id } = await cluster.client.submit({ type: "echo", payload: "after the fuzz" });
    const done = await cluster.client.wait(id, { signal: AbortSignal.timeout(10_000) });
    if (done.state !== "succeeded") problems.push(`the probe task ended ${done.state}`);
    else probeMs = performance.now() - started;
  } catch (err) {
    problems.push(`the probe task: ${(err as Error).message}`);
  }
  problems.push(...cluster.exited());
  return { problems, probeMs };
}
