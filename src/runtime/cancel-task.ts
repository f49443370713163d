/**
 * Cancelling a task: the CANCEL transition with compare-and-set, then, when a worker held it,
 * a cancel notice so that its handler's AbortSignal fires. Used by the API and by a schedule's
 * `cancel-previous` policy.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { CancelNotice, Subjects, TaskRecord } from "../protocol/index.ts";
import { encode } from "../protocol/index.ts";
import type { ApplyOutcome, TaskStore } from "./task-store.ts";

export interface CancelDeps {
  nc: NatsConnection;
  store: TaskStore;
  subjects: Subjects;
}

/**
 * Cancels task `id`; `check` may refuse (throw) once the record is read. The outcome is the
 * store's: not ok when the task is unknown or already finished.
 */
export async function cancelTask(
  d: CancelDeps,
  id: string,
  reason: string | undefined,
  check: (record: TaskRecord) => void = () => undefined,
): Promise<ApplyOutcome> {
  let before: TaskRecord | null = null;
  const res = await d.store.apply(id, (rec) => {
    check(rec);
    before = rec;
    return { type: "CANCEL", at: Date.now(), ...(reason !== undefined ? { reason } : {}) };
  });
  const prev = before as TaskRecord | null;
  if (
    res.ok &&
    prev !== null &&
    prev.workerId !== null &&
    (prev.state === "assigned" || prev.state === "running")
  ) {
    const notice: CancelNotice = {
      v: 1,
      taskId: prev.id,
      epoch: prev.epoch,
      reason: reason ?? "cancelled by user",
    };
    d.nc.publish(d.subjects.workerCancel(prev.workerId), encode(notice));
  }
  return res;
}
