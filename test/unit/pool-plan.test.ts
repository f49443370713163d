/** The Docker driver's plan: what to create, stop and remove to reach the desired count. */
import { describe, expect, it } from "vitest";
import type { ManagedContainer } from "../../src/drivers/plan.ts";
import { planPool } from "../../src/drivers/plan.ts";

const c = (id: string, state: ManagedContainer["state"], createdAt = 0): ManagedContainer => ({
  id,
  workerId: `w-${id}`,
  state,
  createdAt,
});

describe("planPool", () => {
  it("creates what is missing, not counting containers on their way out, and removes exited ones", () => {
    expect(
      planPool({
        desired: 3,
        containers: [c("a", "running"), c("b", "stopping"), c("c", "exited"), c("d", "starting")],
        runningTasks: new Map(),
      }),
    ).toEqual({ create: 1, stop: [], remove: ["c"] });
  });

  it("scales in the workers with the fewest running tasks, the newest among equals", () => {
    const plan = planPool({
      desired: 1,
      containers: [
        c("a", "running", 1),
        c("b", "running", 2),
        c("c", "running", 3),
        c("d", "starting", 4),
      ],
      runningTasks: new Map([
        ["w-a", 0],
        ["w-b", 5],
        ["w-c", 0],
      ]),
    });
    // d has not registered (no tasks) and is newest; then c and a have none; b keeps its 5.
    expect(plan).toEqual({ create: 0, stop: ["d", "c", "a"], remove: [] });
  });

  it("does nothing at the desired count", () => {
    expect(
      planPool({
        desired: 2,
        containers: [c("a", "running"), c("b", "running")],
        runningTasks: new Map(),
      }),
    ).toEqual({ create: 0, stop: [], remove: [] });
  });
});
