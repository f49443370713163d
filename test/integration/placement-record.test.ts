/**
 * With more workers than a record lists, the record written on assignment keeps 16 candidates
 * (the chosen one among them) and says how many it left out.
 */
import { describe, expect, it } from "vitest";
import examples from "../../src/examples/handlers.ts";
import { startDrover } from "../fixtures/drover.ts";
import { useNats } from "../fixtures/nats.ts";

const env = useNats();

describe("the placement a record keeps", () => {
  it("20 workers: 16 listed, the chosen one among them, the rest counted", async () => {
    await using d = await startDrover({ servers: env.nats.servers });
    for (let i = 0; i < 20; i++)
      await d.addWorker({
        id: `w${String(i).padStart(2, "0")}`,
        // Half of them run no echo: refused by type.
        handlers: i % 2 === 1 ? { noop: examples.noop } : examples,
      });
    const { id } = await d.client.submit({ type: "echo", payload: 1 });
    const r = await d.client.wait(id, { signal: AbortSignal.timeout(30_000) });
    expect(r.state).toBe("succeeded");
    const p = r.placement!;
    expect(p.candidates).toHaveLength(16);
    expect(p.candidates.find((c) => c.workerId === r.workerId)?.fits).toBe(true);
    expect(p.candidates.some((c) => !c.fits && c.reason?.startsWith("does not run type"))).toBe(
      true,
    );
    expect(p.reason).toMatch(/; 16 of 20 workers listed; not listed: \d+ that fit, \d+ refused/);
  });
});
