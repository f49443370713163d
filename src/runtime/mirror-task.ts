/**
 * What a scheduler replica keeps in memory of a task: the fields scheduling, timers and
 * listing need, and nothing that grows with the task's content (no payload, result, error,
 * history or placement candidates). A million queued tasks must fit in a few hundred MB on
 * every replica; the full record is read from KV when one is needed (an assignment, a page of
 * a list), or taken from a small cache of recently written ones.
 *
 * One class, so every instance shares one hidden class and numbers stay unboxed. It is also
 * the queue index's entry for a queued task (it carries the id, priority, age, key and shape).
 */
import type { QueuedTask, Shape } from "../actors/index.ts";
import type { Resources, TaskRecord, TaskState } from "../protocol/index.ts";

export class MirrorTask implements QueuedTask {
  readonly id: string;
  readonly revision: number;
  readonly state: TaskState;
  readonly priority: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly key: string | null;
  /** Type, resources and labels, shared by every task of the same shape. */
  readonly shape: Shape;
  readonly workerId: string | null;
  readonly epoch: number;
  readonly timeoutMs: number;
  readonly runAt: number | null;
  readonly nextRunAt: number | null;
  readonly assignedAt: number | null;
  readonly startedAt: number | null;
  /** The reason of the record's last placement decision (what "why not placed" says). */
  readonly placementReason: string | null;

  constructor(r: TaskRecord, revision: number, shape: Shape) {
    this.id = r.id;
    this.revision = revision;
    this.state = r.state;
    this.priority = r.priority;
    this.createdAt = r.createdAt;
    this.updatedAt = r.updatedAt;
    this.key = r.key;
    this.shape = shape;
    this.workerId = r.workerId;
    this.epoch = r.epoch;
    this.timeoutMs = r.timeoutMs;
    this.runAt = r.runAt;
    this.nextRunAt = r.nextRunAt;
    this.assignedAt = r.assignedAt;
    this.startedAt = r.startedAt;
    this.placementReason = r.placement?.reason ?? null;
  }

  get type(): string {
    return this.shape.type;
  }

  get resources(): Resources {
    return this.shape.resources;
  }
}
