import { describe, expect, it } from "vitest";
import type { TaskHolder } from "../../src/actors/index.ts";
import { foreignTasks, heartbeatLists } from "../../src/actors/index.ts";

const records = new Map<string, TaskHolder>([
  ["mine", { epoch: 2, workerId: "w" }],
  ["theirs", { epoch: 4, workerId: "v" }],
  ["queued", { epoch: 5, workerId: null }],
]);
const lookup = (id: string): TaskHolder | undefined => records.get(id);

describe("foreignTasks", () => {
  it("passes what the worker holds, and what it may have held before", () => {
    expect(
      foreignTasks(
        "w",
        [
          { taskId: "mine", epoch: 2 },
          // Reassigned since (a later epoch), handed back, or removed after finishing.
          { taskId: "theirs", epoch: 3 },
          { taskId: "queued", epoch: 5 },
          { taskId: "gone", epoch: 9 },
        ],
        lookup,
      ),
    ).toEqual([]);
  });

  it("flags another worker's current assignment and an epoch never reached", () => {
    expect(
      foreignTasks(
        "w",
        [
          { taskId: "theirs", epoch: 4 },
          { taskId: "mine", epoch: 7 },
        ],
        lookup,
      ),
    ).toEqual([
      { taskId: "theirs", epoch: 4, reason: "v holds it under epoch 4" },
      { taskId: "mine", epoch: 7, reason: "the task never reached epoch 7 (it is at 2)" },
    ]);
  });
});

describe("heartbeatLists", () => {
  const hb = {
    running: [{ taskId: "a", epoch: 3 }],
    recent: [{ taskId: "b", epoch: 1 }],
  };

  it("finds a running execution and a finished one whose report is in flight", () => {
    expect(heartbeatLists(hb, "a", 3)).toBe(true);
    expect(heartbeatLists(hb, "b", 1)).toBe(true);
  });

  it("matches the epoch too: an earlier execution of the task is not this one", () => {
    expect(heartbeatLists(hb, "a", 4)).toBe(false);
    expect(heartbeatLists(hb, "b", 2)).toBe(false);
    expect(heartbeatLists(hb, "c", 1)).toBe(false);
  });

  it("lists nothing without a heartbeat, and answers for each heartbeat by its own lists", () => {
    expect(heartbeatLists(undefined, "a", 3)).toBe(false);
    // A later heartbeat (another object) that no longer lists the task.
    expect(heartbeatLists({ running: [], recent: [] }, "a", 3)).toBe(false);
    expect(heartbeatLists(hb, "a", 3)).toBe(true);
  });
});
