/**
 * One scheduling pass of the leader, as a pure function of the queue index, the live workers
 * and what is already on its way to a worker. The runtime (`src/runtime/scheduler.ts`) builds
 * the worker views, calls this, and performs what it returns: the assignments, and the "why
 * not placed" explanations it chooses to write.
 *
 * The cost is what can be placed now plus one check per shape (type, resources, labels):
 * a shape that fits no worker is explained once by its head task and skipped whole; the heads
 * of the shapes that fit are merged in scheduling order (priority, then submission time).
 */
import type { Placement, Resources } from "../protocol/index.ts";
import { explainNoFit } from "./placement/index.ts";
import type { NoFitStage, PlacementStrategy, WorkerView } from "./placement/index.ts";
import type { QueuedTask, QueueIndex } from "./queue-index.ts";
import { taskView } from "./queue-index.ts";

/** A placement decision without its time (the caller stamps it). */
export type Decision = Omit<Placement, "at">;

export interface PassInput<T extends QueuedTask> {
  /** The queue index; the tasks placed are taken out of it. */
  queue: QueueIndex;
  /** The task in a slot of the queue index. */
  taskAt(slot: number): T & { state: string };
  /**
   * The live workers (a dead one is simply absent; a draining one says so in `state`; one
   * held back after a refusal has `heldBack`). Their `used` and `lastAssignedAt` are updated
   * as the pass places tasks, so later decisions of the same pass see them.
   */
  workers: WorkerView[];
  strategy: PlacementStrategy;
  /** True for a task already on its way to a worker (its dispatch is in flight). */
  reserved(taskId: string): boolean;
  random(): number;
  /** The pass's time. */
  at: number;
}

export interface PassResult<T> {
  /** Tasks to assign, in scheduling order; they are out of the queue index now. */
  placements: { task: T; workerId: string; decision: Decision }[];
  /**
   * Tasks that fit nowhere now, with the reason: the head of each shape that fits no worker,
   * and the head of a shape whose fitting workers filled up during the pass.
   */
  unplaced: { taskId: string; shape: string; stage: NoFitStage; decision: Decision }[];
}

/** The sum of two resource vectors. */
export const addResources = (a: Resources, b: Resources): Resources => ({
  cpu: a.cpu + b.cpu,
  memoryMb: a.memoryMb + b.memoryMb,
  slots: a.slots + b.slots,
});

/** Runs one pass: see the file comment. */
export function schedulingPass<T extends QueuedTask>(input: PassInput<T>): PassResult<T> {
  const { queue, workers, strategy, at } = input;
  const placements: PassResult<T>["placements"] = [];
  const unplaced: PassResult<T>["unplaced"] = [];
  if (queue.size === 0) return { placements, unplaced };
  const fitting = new Set<string>();
  for (const { shape } of queue.shapes()) {
    const slot = queue.head(shape.id);
    if (slot === undefined) continue;
    const head = input.taskAt(slot);
    const noFit = explainNoFit(strategy.name, taskView(head), workers);
    if (noFit === null) fitting.add(shape.id);
    else {
      const { stage, ...decision } = noFit;
      unplaced.push({ taskId: head.id, shape: shape.id, stage, decision });
    }
  }
  if (fitting.size === 0) return { placements, unplaced };
  const byId = new Map(workers.map((w) => [w.id, w]));
  queue.drain(
    (shape) => fitting.has(shape.id),
    (slot) => {
      const t = input.taskAt(slot);
      // Already on its way to a worker (a write on its record put it back meanwhile): its
      // dispatch puts it back again if it ends without an assignment.
      if (input.reserved(t.id) || t.state !== "queued") return "taken";
      const decision = strategy.place(taskView(t), workers, { random: () => input.random() });
      if (decision.workerId === null) {
        // Capacity ran out during this pass for this shape: later shapes may still fit.
        unplaced.push({ taskId: t.id, shape: t.shape.id, stage: "capacity", decision });
        return "shape-full";
      }
      const w = byId.get(decision.workerId);
      if (w !== undefined) {
        w.used = addResources(w.used, t.shape.resources);
        w.lastAssignedAt = at;
      }
      placements.push({ task: t, workerId: decision.workerId, decision });
      return "taken";
    },
  );
  return { placements, unplaced };
}

/** Queued tasks that fit no worker, by why: each unplaced shape's tasks still queued. */
export function countNoFit(
  unplaced: readonly { shape: string; stage: NoFitStage }[],
  queue: QueueIndex,
): Map<NoFitStage, number> {
  const out = new Map<NoFitStage, number>();
  if (unplaced.length === 0) return out;
  const sizes = new Map<string, number>();
  for (const { shape, size } of queue.shapes()) sizes.set(shape.id, size);
  const counted = new Set<string>();
  for (const u of unplaced) {
    if (counted.has(u.shape)) continue;
    counted.add(u.shape);
    out.set(u.stage, (out.get(u.stage) ?? 0) + (sizes.get(u.shape) ?? 0));
  }
  return out;
}
