/**
 * What a driver does to bring a pool's workers to the desired count, as a pure function of
 * the containers it owns and the tasks their workers run. Containers on their way out
 * (stopping) no longer count; exited ones are removed. Scale-in stops the workers with the
 * fewest running tasks first (a worker not registered yet runs none), the newest among equals,
 * so the fewest tasks wait on a drain.
 */

/** A container a driver created for a pool. */
export interface ManagedContainer {
  id: string;
  /** The worker id it runs under (its name). */
  workerId: string;
  state: "starting" | "running" | "stopping" | "exited";
  createdAt: number;
}

export interface PlanInput {
  desired: number;
  containers: readonly ManagedContainer[];
  /** Running tasks per registered worker id. */
  runningTasks: ReadonlyMap<string, number>;
}

export interface Plan {
  /** Containers to create. */
  create: number;
  /** Containers to stop (SIGTERM: their workers drain), by id. */
  stop: string[];
  /** Exited containers to remove, by id. */
  remove: string[];
}

export function planPool(input: PlanInput): Plan {
  const active = input.containers.filter((c) => c.state === "starting" || c.state === "running");
  const remove = input.containers.filter((c) => c.state === "exited").map((c) => c.id);
  const desired = Math.max(0, input.desired);
  if (active.length <= desired) return { create: desired - active.length, stop: [], remove };
  const tasks = (c: ManagedContainer): number => input.runningTasks.get(c.workerId) ?? 0;
  const victims = [...active]
    .sort(
      (a, b) =>
        tasks(a) - tasks(b) ||
        b.createdAt - a.createdAt ||
        (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    )
    .slice(0, active.length - desired)
    .map((c) => c.id);
  return { create: 0, stop: victims, remove };
}
