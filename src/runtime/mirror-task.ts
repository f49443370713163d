/**
 * What a scheduler replica knows of a task without reading its record: the fields scheduling,
 * timers and listing need, and nothing that grows with the task's content (no payload, result,
 * error, history or placement candidates). The full record is read from KV when one is needed
 * (an assignment, a page of a list), or taken from a small cache of recently written ones.
 *
 * A replica stores these fields in columns (see `task-table.ts`); a `MirrorTask` is a short-lived
 * copy of one row, made when someone asks for it.
 */
import type { QueuedTask, Shape } from "../actors/index.ts";
import type { Resources, TaskState } from "../protocol/index.ts";

export interface MirrorTask extends QueuedTask {
  readonly id: string;
  readonly revision: number;
  readonly state: TaskState;
  readonly priority: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly key: string | null;
  /** Type, resources and labels, shared by every task of the same shape. */
  readonly shape: Shape;
  readonly type: string;
  readonly resources: Resources;
  readonly workerId: string | null;
  readonly epoch: number;
  readonly timeoutMs: number;
  readonly runAt: number | null;
  readonly nextRunAt: number | null;
  readonly assignedAt: number | null;
  readonly startedAt: number | null;
  /** The reason of the record's last placement decision, kept while the task is queued. */
  readonly placementReason: string | null;
}
