/**
 * What `drover bench` knows of each task it submitted, and the check at the end of a run: every
 * task listed once, each submitted one succeeded exactly once (one `→ succeeded` entry in its
 * history, one `succeeded` event in the events stream), nothing listed that was not submitted.
 */
import type { TaskRecord, TaskState } from "../protocol/index.ts";
import type { DroverClient } from "../runtime/index.ts";

/** Pages through the tasks (`DroverClient.list`). */
export type ListPage = DroverClient["list"];

/** What the event feed saw of one task. */
export interface Track {
  /** Just before its submit request (epoch ms). */
  submitAt: number | null;
  /** First time the feed saw it running. */
  runningSeenAt: number | null;
  /** When the leader recorded it assigned (leader clock, epoch ms). */
  assignedAt: number | null;
  /** When the leader recorded it running (leader clock, epoch ms). */
  startedAt: number | null;
  /** First time the feed saw it succeeded. */
  doneAt: number | null;
  /** Distinct `→ succeeded` events seen by the feed (their time, from-state and event). */
  successes: Set<string>;
  state: TaskState | null;
}

export interface CheckResult {
  ok: boolean;
  listed: number;
  completions: number;
  duplicates: number;
  lost: number;
  /** Tasks that went back to queued or retrying on the way (requeues, retries). */
  detoured: number;
  problems: string[];
}

/** The tracked tasks by state, for an error message ("running 3, succeeded 97"). */
export function describeStates(tracks: Map<string, Track>): string {
  const counts = new Map<string, number>();
  for (const t of tracks.values())
    counts.set(t.state ?? "unseen", (counts.get(t.state ?? "unseen") ?? 0) + 1);
  return [...counts].map(([s, n]) => `${s} ${n}`).join(", ") || "no task seen by the event feed";
}

/** Lists every task and checks that each submitted one succeeded exactly once. */
export async function checkRun(
  list: ListPage,
  pageSize: number,
  tracks: Map<string, Track>,
  tasks: number,
  duplicateSubmits: number,
): Promise<CheckResult> {
  const listed: TaskRecord[] = [];
  let cursor: string | null = null;
  do {
    const page = await list({ limit: pageSize, ...(cursor !== null ? { cursor } : {}) });
    listed.push(...page.tasks);
    cursor = page.nextCursor;
  } while (cursor !== null);
  const problems: string[] = [];
  let duplicates = duplicateSubmits;
  if (duplicateSubmits > 0) problems.push(`${duplicateSubmits} submits answered as duplicates`);
  const byId = new Map<string, TaskRecord>();
  for (const r of listed) {
    if (byId.has(r.id)) {
      duplicates++;
      problems.push(`task ${r.id} listed twice`);
    }
    byId.set(r.id, r);
  }
  if (listed.length !== tasks) problems.push(`listed ${listed.length} tasks, submitted ${tasks}`);
  let lost = 0;
  let completions = 0;
  let detoured = 0;
  const submitted = [...tracks].filter(([, t]) => t.submitAt !== null);
  if (submitted.length !== tasks)
    problems.push(`${submitted.length} submits acknowledged, expected ${tasks}`);
  for (const [id, t] of submitted) {
    const r = byId.get(id);
    if (r === undefined) {
      lost++;
      problems.push(`task ${id} not listed`);
      continue;
    }
    const successes = r.history.filter((h) => h.to === "succeeded").length;
    completions += successes;
    if (r.state !== "succeeded") {
      lost++;
      problems.push(`task ${id} is ${r.state}`);
    } else if (successes !== 1) {
      if (successes > 1) duplicates++;
      else lost++;
      problems.push(`task ${id} has ${successes} succeeded transitions in its history`);
    }
    if (t.successes.size !== 1) {
      if (t.successes.size > 1) duplicates++;
      else if (r.state === "succeeded") lost++;
      problems.push(`the events stream holds ${t.successes.size} completions of task ${id}`);
    }
    if (r.history.some((h) => h.to === "queued" || h.to === "retrying")) detoured++;
  }
  for (const r of listed)
    if (tracks.get(r.id)?.submitAt == null)
      problems.push(`task ${r.id} listed but never submitted`);
  return {
    ok: problems.length === 0,
    listed: listed.length,
    completions,
    duplicates,
    lost,
    detoured,
    problems,
  };
}
