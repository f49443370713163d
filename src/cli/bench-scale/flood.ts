/**
 * The scale benchmark's flood phase (`--flood N`): rounds of N submits sent at once from one
 * connection, as fast as one client can send. Each request must be answered (accepted, or
 * refused with the API's retryable back-pressure code), and the leader must keep its lease:
 * the same replica leads under the same term before and after every round (a lease that lapsed
 * and was taken again, even by the same replica, has a new term).
 */
import { DroverError } from "../../protocol/index.ts";
import type { DroverClient } from "../../runtime/index.ts";
import { mergeDelayWindows } from "./stats.ts";
import { BACKLOG_TYPE, delayWindows, now, PAD, pollHealth, round1 } from "./support.ts";

export interface FloodRound {
  sent: number;
  accepted: number;
  /** Refusals by error code (`unavailable` is the API's back-pressure). */
  refused: Record<string, number>;
  /** Requests without any answer within the client's timeout. */
  unanswered: number;
  durationMs: number;
  /** Leader and term before and after the round (from health). */
  before: { leader: string; term: number };
  after: { leader: string; term: number };
  /** Event-loop delay of each replica over the round. */
  eventLoopDelay: Record<string, { maxMs: number; p99Ms: number; windows: number } | null>;
}

export interface FloodFigures {
  perRound: number;
  rounds: FloodRound[];
  /** Same leader under the same term across every round. */
  leaseKept: boolean;
}

export async function measureFlood(o: {
  /** A client whose requests wait long enough for a whole round to be answered. */
  client: DroverClient;
  quick: DroverClient;
  schedulerIds: readonly string[];
  perRound: number;
  rounds: number;
  signal: AbortSignal;
  say: (line: string) => void;
}): Promise<FloodFigures> {
  const leaderNow = async (what: string) => {
    const replies = await pollHealth(
      o.quick,
      o.schedulerIds,
      (latest) => [...latest.values()].some((h) => h.role === "leader" && h.term !== null),
      { what, timeoutMs: 60_000, intervalMs: 0, signal: o.signal },
    );
    const leader = [...replies.values()]
      .flat()
      .findLast((h) => h.role === "leader" && h.term !== null)!;
    return { replies, leader: { leader: leader.replicaId, term: leader.term! } };
  };
  const rounds: FloodRound[] = [];
  for (let i = 1; i <= o.rounds && !o.signal.aborted; i++) {
    // Asking every replica for health also starts its event-loop window for the round.
    const { leader: before } = await leaderNow(`finding the leader before flood round ${i}`);
    o.say(`flood round ${i}/${o.rounds}: ${o.perRound} submits at once from one connection`);
    const started = now();
    const refused: Record<string, number> = {};
    let accepted = 0;
    let unanswered = 0;
    await Promise.all(
      Array.from({ length: o.perRound }, () =>
        o.client.submit({ type: BACKLOG_TYPE, payload: { pad: PAD } }).then(
          () => void accepted++,
          (err: unknown) => {
            // A refusal is a reply with an error code; a request that got no reply at all
            // (timeout, no responders) fails in the client, with the NATS error as its cause.
            if (err instanceof DroverError && err.cause === undefined)
              refused[err.code] = (refused[err.code] ?? 0) + 1;
            else unanswered++;
          },
        ),
      ),
    );
    const durationMs = now() - started;
    const after = await leaderNow(`finding the leader after flood round ${i}`);
    rounds.push({
      sent: o.perRound,
      accepted,
      refused,
      unanswered,
      durationMs: round1(durationMs),
      before,
      after: after.leader,
      eventLoopDelay: Object.fromEntries(
        o.schedulerIds.map((id) => [
          id,
          mergeDelayWindows(delayWindows(after.replies.get(id) ?? [])),
        ]),
      ),
    });
  }
  const first = rounds[0]?.before;
  return {
    perRound: o.perRound,
    rounds,
    leaseKept:
      first !== undefined &&
      rounds.every(
        (r) =>
          r.before.leader === first.leader &&
          r.before.term === first.term &&
          r.after.leader === first.leader &&
          r.after.term === first.term,
      ),
  };
}
