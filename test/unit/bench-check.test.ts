import { describe, expect, it } from "vitest";
import type { Track } from "../../src/cli/bench-check.ts";
import { checkRun, describeStates } from "../../src/cli/bench-check.ts";
import { newTaskRecord, SubmitTaskRequest } from "../../src/protocol/index.ts";
import type { TaskRecord } from "../../src/protocol/index.ts";

/** A finished record with `successes` entries into `succeeded` in its history. */
function record(id: string, state: TaskRecord["state"], successes: number): TaskRecord {
  const r = newTaskRecord(id, SubmitTaskRequest.parse({ type: "noop" }), 1_000);
  const entry = {
    at: 2_000,
    from: "assigned" as const,
    to: "succeeded" as const,
    event: "SUCCEED",
  };
  return { ...r, state, history: Array.from({ length: successes }, () => entry) };
}

const track = (successes: string[], submitted = true): Track => ({
  submitAt: submitted ? 1 : null,
  runningSeenAt: null,
  assignedAt: null,
  startedAt: null,
  doneAt: 3,
  successes: new Set(successes),
  state: "succeeded",
});

/** Serves `records` in pages, as the API would. */
const pages =
  (records: TaskRecord[]) =>
  (o: {
    limit?: number;
    cursor?: string;
  }): Promise<{ tasks: TaskRecord[]; nextCursor: string | null }> => {
    const from = Number(o.cursor ?? 0);
    const to = from + (o.limit ?? 100);
    return Promise.resolve({
      tasks: records.slice(from, to),
      nextCursor: to < records.length ? String(to) : null,
    });
  };

describe("the bench's exactly-once check", () => {
  it("passes when every submitted task succeeded once, in its history and in the events", async () => {
    const tracks = new Map([
      ["a", track(["2000:assigned:SUCCEED"])],
      ["b", track(["2000:assigned:SUCCEED"])],
      ["c", track(["2000:assigned:SUCCEED"])],
    ]);
    const check = await checkRun(
      pages([
        record("a", "succeeded", 1),
        record("b", "succeeded", 1),
        record("c", "succeeded", 1),
      ]),
      2,
      tracks,
      3,
      0,
    );
    expect(check).toMatchObject({ ok: true, listed: 3, completions: 3, duplicates: 0, lost: 0 });
  });

  it("finds a double completion, a lost task, a task never submitted and a duplicate submit", async () => {
    const tracks = new Map([
      ["a", track(["2000:assigned:SUCCEED", "2500:assigned:SUCCEED"])],
      ["b", track([])],
      ["x", track([], false)],
    ]);
    const check = await checkRun(
      pages([record("a", "succeeded", 2), record("b", "running", 0), record("x", "succeeded", 1)]),
      100,
      tracks,
      2,
      1,
    );
    expect(check.ok).toBe(false);
    expect(check.problems).toEqual(
      expect.arrayContaining([
        "1 submits answered as duplicates",
        "listed 3 tasks, submitted 2",
        "task a has 2 succeeded transitions in its history",
        "the events stream holds 2 completions of task a",
        "task b is running",
        "task x listed but never submitted",
      ]),
    );
    expect(check.lost).toBe(1);
    expect(check.duplicates).toBe(3);
  });

  it("says which states the tasks are in when a run times out", () => {
    expect(
      describeStates(
        new Map([
          ["a", track([])],
          ["b", { ...track([]), state: "queued" }],
        ]),
      ),
    ).toBe("succeeded 1, queued 1");
    expect(describeStates(new Map())).toBe("no task seen by the event feed");
  });
});
