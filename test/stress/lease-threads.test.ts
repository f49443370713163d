/**
 * `npm run test:stress`: one process starts and stops scheduler replicas over and over (two
 * at a time, each with its lease thread), as the integration suite does across its files.
 * Before the lease thread was handed its sources already stripped (lease-thread-code.ts),
 * V8 aborted such a process (`Check failed: jit_page.has_value()`, SIGILL) in 2 of 3 runs of
 * 150 rounds, after 45 and 95 rounds. Not part of `npm test`: it takes about 90 s and
 * proves something only by running long.
 */
import { describe, expect, it } from "vitest";
import { startDrover } from "../fixtures/drover.ts";
import { useNats } from "../fixtures/nats.ts";
import { uniquePrefix } from "../fixtures/prefix.ts";

const env = useNats();
const ROUNDS = Number(process.env.DROVER_STRESS_ROUNDS ?? 150);

describe("lease threads", () => {
  it(`${ROUNDS} rounds of two replicas started, elected and stopped in one process`, async () => {
    // One prefix for every round: its streams are created once (a prefix per round would
    // fill the server's store).
    const prefix = uniquePrefix("stress");
    for (let round = 1; round <= ROUNDS; round++) {
      await using d = await startDrover({ servers: env.nats.servers, schedulers: 2, prefix });
      expect(d.leader()).toBeDefined();
      if (round % 25 === 0)
        console.log(`round ${round}: rss ${Math.round(process.memoryUsage.rss() / 1_048_576)} MiB`);
    }
  });
});
