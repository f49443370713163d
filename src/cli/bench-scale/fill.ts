/**
 * The scale benchmark's fill: `backlog` submits of a task no worker runs, `inflight` at a
 * time, each retried (with back-off) while the API answers with a retryable error. Progress is
 * told every 5 s.
 */
import { DroverError, ErrorCode } from "../../protocol/index.ts";
import type { DroverClient } from "../../runtime/index.ts";
import { BACKLOG_TYPE, errText, isRetryable, now, PAD, sleep } from "./support.ts";

export interface FillResult {
  /** Submits accepted (a retried submit whose first try was stored counts once). */
  submitted: number;
  retries: number;
  /** The first accepted task's id (the failover's ping reads it). */
  firstId: string | null;
  /** `now()` when the fill started, and how long it took. */
  startedAt: number;
  durationMs: number;
}

export async function fillBacklog(o: {
  client: DroverClient;
  backlog: number;
  inflight: number;
  signal: AbortSignal;
  say: (line: string) => void;
}): Promise<FillResult> {
  const { client, backlog, signal, say } = o;
  let submitted = 0;
  let retries = 0;
  let next = 0;
  let firstId: string | null = null;
  const startedAt = now();
  let lastProgress = { at: startedAt, submitted: 0 };
  const progress = setInterval(() => {
    const at = now();
    const rate = ((submitted - lastProgress.submitted) / (at - lastProgress.at)) * 1_000;
    lastProgress = { at, submitted };
    say(
      `fill ${submitted}/${backlog} submitted, ${Math.round(rate)}/s over the last 5 s, ` +
        `${retries} retries`,
    );
  }, 5_000);
  let halted = false;
  const submitter = async (): Promise<void> => {
    while (next < backlog && !halted && !signal.aborted) {
      next++;
      for (let attempt = 1; ; attempt++) {
        try {
          const reply = await client.submit({ type: BACKLOG_TYPE, payload: { pad: PAD } });
          firstId ??= reply.id;
          submitted++;
          break;
        } catch (err) {
          // A retried submit whose first try was in fact stored adds one task more:
          // acceptable for a backlog, and the catch-up waits for "at least N".
          if (!isRetryable(err) || attempt >= 10 || halted || signal.aborted)
            throw new DroverError(
              ErrorCode.Unavailable,
              `scale bench: submit failed after ${submitted} accepted (attempt ${attempt}): ${errText(err)}`,
              { cause: err },
            );
          retries++;
          await sleep(Math.min(1_000, 50 * 2 ** attempt));
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(o.inflight, backlog) }, submitter));
  } finally {
    halted = true;
    clearInterval(progress);
  }
  return { submitted, retries, firstId, startedAt, durationMs: now() - startedAt };
}
