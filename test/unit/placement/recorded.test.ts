import { describe, expect, it } from "vitest";
import {
  createStrategy,
  MAX_RECORDED_CANDIDATES,
  recordedDecision,
} from "../../../src/actors/placement/index.ts";
import type { WorkerView } from "../../../src/actors/placement/index.ts";
import { applyTaskEvent } from "../../../src/actors/task-machine.ts";
import { newTaskRecord, SubmitTaskRequest } from "../../../src/protocol/index.ts";
import type { TaskRecord } from "../../../src/protocol/index.ts";
import { CTX, task, worker } from "./arbitraries.ts";

/** `n` workers: every 10th runs no `build`, every 10th (offset 5) is full, the rest fit. */
function fleet(n: number): WorkerView[] {
  return Array.from({ length: n }, (_, i) =>
    worker(`w${String(i).padStart(4, "0")}`, {
      ...(i % 10 === 0 ? { types: ["deploy"] } : {}),
      ...(i % 10 === 5 ? { used: { cpu: 4, memoryMb: 4096, slots: 4 } } : {}),
    }),
  );
}

/** The record of a task assigned by `decision`, as the leader writes it (or with every candidate). */
function assigned(decision: Parameters<typeof recordedDecision>[0], every = false): TaskRecord {
  const r = newTaskRecord("t1", SubmitTaskRequest.parse({ type: "build" }), 1_000);
  const kept = every ? decision : recordedDecision(decision);
  const placement = { ...kept, strategy: "best-fit", at: 2_000 };
  const res = applyTaskEvent(r, {
    type: "ASSIGN",
    at: 2_000,
    workerId: decision.workerId!,
    term: 1,
    placement,
  });
  if (!res.ok) throw new Error(res.reason);
  return res.record;
}

describe("the placement a record keeps", () => {
  it("is the whole decision for up to 16 workers", () => {
    const d = createStrategy("best-fit").place(task(), fleet(16), CTX);
    expect(recordedDecision(d)).toBe(d);
  });

  it("for 1,000 workers: the chosen one, each kind of refusal, alternatives, and a count of the rest", () => {
    const d = createStrategy("best-fit").place(task(), fleet(1_000), CTX);
    expect(d.candidates).toHaveLength(1_000);
    const r = recordedDecision(d);
    expect(r.candidates).toHaveLength(MAX_RECORDED_CANDIDATES);
    expect(r.candidates.some((c) => c.workerId === d.workerId && c.fits)).toBe(true);
    const reasons = r.candidates.filter((c) => !c.fits).map((c) => c.reason);
    expect(reasons.some((x) => x?.startsWith("does not run type"))).toBe(true);
    expect(reasons.some((x) => x?.startsWith("insufficient capacity"))).toBe(true);
    // The rest are counted: 800 fit, 200 refused, 16 listed.
    const fitListed = r.candidates.filter((c) => c.fits).length;
    expect(r.reason).toBe(
      `${d.reason}; 16 of 1000 workers listed; not listed: ${800 - fitListed} that fit, ` +
        `${200 - (16 - fitListed)} refused (99 does not run type 'build', 99 insufficient capacity)`,
    );
    // Kept in the order the workers were given, and the same every time.
    const order = r.candidates.map((c) => d.candidates.indexOf(c));
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(recordedDecision(d)).toEqual(r);
  });

  it("keeps a record at about a kilobyte however many workers there are", () => {
    const place = (n: number) => createStrategy("best-fit").place(task(), fleet(n), CTX);
    const bytes = (n: number, every = false) => JSON.stringify(assigned(place(n), every)).length;
    expect(bytes(10)).toBeLessThan(2_000);
    expect(bytes(1_000)).toBeLessThan(2_500);
    expect(bytes(1_000) - bytes(100)).toBeLessThan(100);
    // With every candidate, a record grew by about 60 bytes a worker.
    expect(bytes(1_000, true)).toBeGreaterThan(50_000);
  });
});
