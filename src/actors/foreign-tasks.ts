/**
 * A worker whose heartbeat lists a task it was never assigned: a forger, or a bug. The leader
 * flags such entries (a counter and a log line); the task itself is left to its real worker.
 * A signal, not a verdict: a leader whose mirror has not yet seen the last assignment (moments
 * after a failover) may flag a legitimate entry once. The reverse question — does a heartbeat
 * list a task the records give its worker — is {@link heartbeatLists}.
 */

/** What the records say of a task: its epoch and the worker holding it (null: none). */
export interface TaskHolder {
  epoch: number;
  workerId: string | null;
}

/** One task a heartbeat lists, with the epoch the worker claims to run it under. */
export interface ListedTask {
  taskId: string;
  epoch: number;
}

/** A listed task the records say the worker does not hold, and why. */
export interface ForeignTask extends ListedTask {
  reason: string;
}

/**
 * The entries of `workerId`'s heartbeat that no assignment explains: an epoch the task never
 * reached, or the task's current epoch while another worker holds it. A task at a later epoch,
 * one no worker holds (queued again, finished) or one the records do not hold (removed) is not
 * judged: the worker may have held it before.
 */
export function foreignTasks(
  workerId: string,
  listed: readonly ListedTask[],
  record: (taskId: string) => TaskHolder | undefined,
): ForeignTask[] {
  const out: ForeignTask[] = [];
  for (const t of listed) {
    const r = record(t.taskId);
    if (r === undefined) continue;
    if (t.epoch > r.epoch) {
      out.push({ ...t, reason: `the task never reached epoch ${t.epoch} (it is at ${r.epoch})` });
      continue;
    }
    if (t.epoch === r.epoch && r.workerId !== null && r.workerId !== workerId)
      out.push({ ...t, reason: `${r.workerId} holds it under epoch ${t.epoch}` });
  }
  return out;
}

/** What a heartbeat says its worker holds: running, and finished with the report in flight. */
export interface HeldTasks {
  running: readonly ListedTask[];
  recent: readonly ListedTask[];
}

/**
 * The `taskId:epoch` keys of one heartbeat, built once per heartbeat object (a decoded
 * heartbeat is never changed, so the answer for it never changes either).
 */
const listedKeys = new WeakMap<HeldTasks, ReadonlySet<string>>();

/**
 * Whether a heartbeat lists this execution (running, or finished with its report in flight):
 * the worker has it, whatever its reports say so far. No heartbeat lists nothing.
 */
export function heartbeatLists(hb: HeldTasks | undefined, taskId: string, epoch: number): boolean {
  if (hb === undefined) return false;
  let keys = listedKeys.get(hb);
  if (keys === undefined) {
    keys = new Set([...hb.running, ...hb.recent].map((t) => `${t.taskId}:${t.epoch}`));
    listedKeys.set(hb, keys);
  }
  return keys.has(`${taskId}:${epoch}`);
}
