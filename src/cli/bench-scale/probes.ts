/**
 * The scale benchmark's probes: runnable tasks submitted one at a time behind the backlog,
 * each timed from its submit to its start (by its record, and as the bench's watch saw it) and
 * to the submit's answer.
 */
import type { DroverClient } from "../../runtime/index.ts";
import type { ProbeWatch } from "./support.ts";
import { now, PROBE_TYPE, STARTED } from "./support.ts";

export interface ProbeTimes {
  /** Submit → the record's start (or assignment), ms. */
  recordMs: number[];
  /** Submit → the watch saw it started, ms. */
  seenMs: number[];
  /** Submit → its answer, ms. */
  ackMs: number[];
  /** Probes not seen started within 10 s. */
  missed: number;
}

export async function runProbes(o: {
  client: DroverClient;
  watch: ProbeWatch;
  probes: number;
  signal: AbortSignal;
}): Promise<ProbeTimes> {
  const { client, watch, signal } = o;
  const times: ProbeTimes = { recordMs: [], seenMs: [], ackMs: [], missed: 0 };
  for (let i = 1; i <= o.probes && !signal.aborted; i++) {
    const submitAt = now();
    const { id } = await client.submit({ type: PROBE_TYPE, payload: { probe: i } });
    times.ackMs.push(now() - submitAt);
    const s = await watch.waitFor(id, (x) => STARTED.includes(x.state), 10_000, signal);
    if (s === null) {
      times.missed++;
      continue;
    }
    times.seenMs.push(s.at - submitAt);
    const startedAt = s.startedAt ?? s.assignedAt;
    if (startedAt !== null) times.recordMs.push(startedAt - submitAt);
  }
  return times;
}
