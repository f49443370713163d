/**
 * The `<prefix>.events.task.<state>` events: built from a state change as it is written, or
 * from a stored record's last state change (re-published by a new leader), with the same
 * message id either way, so the events stream stores each state change once.
 */
import type { Subjects, TaskRecord, TaskTransitionEvent } from "../protocol/index.ts";
import { encode } from "../protocol/index.ts";
import type { EventOutbox } from "./event-outbox.ts";
import type { TaskStore } from "./task-store.ts";

/** The event of the state change from `before` to `after` (by machine event `event`). */
export function transitionEvent(
  before: TaskRecord,
  after: TaskRecord,
  event: string,
): TaskTransitionEvent {
  return {
    v: 1,
    kind: "task",
    taskId: after.id,
    type: after.type,
    from: before.state,
    to: after.state,
    event,
    epoch: after.epoch,
    term: after.term,
    attempt: after.attempt,
    workerId: after.workerId ?? before.workerId,
    at: after.updatedAt,
  };
}

/**
 * The event of a stored record's last state change (its last history entry; a record changes
 * epoch and attempt only with its state, so they are the change's). Null for a record without
 * one. Its `workerId` is the record's: null for a task handed back, where the event written
 * at the change names the worker it left.
 */
export function lastTransitionEvent(record: TaskRecord): TaskTransitionEvent | null {
  const last = record.history.at(-1);
  if (last === undefined || last.to !== record.state) return null;
  return {
    v: 1,
    kind: "task",
    taskId: record.id,
    type: record.type,
    from: last.from,
    to: last.to,
    event: last.event,
    epoch: record.epoch,
    term: record.term,
    attempt: record.attempt,
    workerId: record.workerId,
    at: last.at,
  };
}

/**
 * The event's de-duplicating id. A task enters a state at most once per epoch (an assignment
 * starts a new epoch), except when a `retry` requeues a cancelled task, which its time tells
 * apart.
 */
export function eventId(e: TaskTransitionEvent): string {
  return `${e.taskId}:${e.epoch}:${e.to}:${e.at}`;
}

/** Queues `e` on `outbox` under its subject and id. */
export function publishTransition(
  outbox: EventOutbox,
  subj: Subjects,
  e: TaskTransitionEvent,
): void {
  outbox.publish(subj.event(`task.${e.to}`), encode(e), eventId(e));
}

/**
 * Re-publishes the last state change of each task in `ids`, read from the store in batches:
 * the events stream drops the ones it already holds (same id), and stores the ones a process
 * that died never published. Returns how many were queued.
 */
export async function republishLast(
  store: TaskStore,
  outbox: EventOutbox,
  subj: Subjects,
  ids: readonly string[],
  { batch = 256, pauseMs = 0 }: { batch?: number; pauseMs?: number } = {},
): Promise<number> {
  let queued = 0;
  for (let i = 0; i < ids.length; i += batch) {
    if (i > 0 && pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    const records = await store.getMany(ids.slice(i, i + batch));
    for (const { record } of records.values()) {
      const e = lastTransitionEvent(record);
      if (e === null) continue;
      publishTransition(outbox, subj, e);
      queued++;
    }
  }
  return queued;
}
