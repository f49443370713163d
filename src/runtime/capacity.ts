/**
 * Admission control for submits: a task store near its byte limit refuses new tasks with a
 * retryable `capacity_exhausted`, well before the limit itself is reached, so the records of tasks
 * already accepted always have room for their state changes (and a full store never blocks
 * the lease or the heartbeats, which live in their own buckets).
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { DroverError, ErrorCode } from "../protocol/index.ts";

export interface CapacityGateOptions {
  /**
   * Refuse submits once the store holds this share of its byte limit. The rest is headroom
   * for the state changes of the tasks already accepted (an assignment adds its placement, a
   * result can be as large as the payload). @default 0.8
   */
  threshold?: number;
  /** How long a reading of the stream's size is trusted. @default 500 */
  refreshMs?: number;
}

/** Whether a store of `max` bytes holding `used` takes more (pure; `max` ≤ 0 means no limit). */
export function hasRoom(used: number, max: number, threshold: number): boolean {
  return max <= 0 || used < max * threshold;
}

/** The error a submit gets when the task store is full (`used`/`max` in bytes, when known). */
export function storeFullError(used: number | null = null, max: number | null = null): DroverError {
  const size =
    used !== null && max !== null && max > 0
      ? ` (${Math.round(used / 1_048_576)} of ${Math.round(max / 1_048_576)} MiB)`
      : "";
  return new DroverError(
    ErrorCode.CapacityExhausted,
    `the task store is full${size}: new tasks are refused until finished ones expire ` +
      "after their retention (or DROVER_TASKS_MAX_BYTES is raised); retry later",
    { retryable: true },
  );
}

export class CapacityGate {
  readonly #jsm: JetStreamManager;
  readonly #stream: string;
  readonly #threshold: number;
  readonly #refreshMs: number;
  #reading: { used: number; max: number; at: number } | null = null;
  #pending: Promise<void> | null = null;
  /** Bytes admitted since the last reading. */
  #admitted = 0;

  constructor(jsm: JetStreamManager, stream: string, o: CapacityGateOptions = {}) {
    this.#jsm = jsm;
    this.#stream = stream;
    this.#threshold = o.threshold ?? 0.8;
    this.#refreshMs = o.refreshMs ?? 500;
  }

  /**
   * Admits a write of about `bytes`, or throws `capacity_exhausted` when the store would be
   * (nearly) full. What this replica admitted since the last reading counts too: a flood of
   * submits outruns any reading, and a store that fills up with queued tasks has no room left
   * for the writes that would run them.
   */
  async check(bytes: number): Promise<void> {
    const r = this.#reading;
    if (r === null || Date.now() - r.at > this.#refreshMs) await this.#refresh();
    const { used, max } = this.#reading ?? { used: 0, max: 0 };
    if (!hasRoom(used + this.#admitted + bytes, max, this.#threshold))
      throw this.exhausted(used, max);
    this.#admitted += bytes;
  }

  /** The error a full store answers with. */
  exhausted(used: number | null, max: number | null): DroverError {
    return storeFullError(used, max);
  }

  /** Forgets the last reading (a write just failed for lack of space). */
  invalidate(): void {
    this.#reading = null;
  }

  async #refresh(): Promise<void> {
    // One reading at a time, however many submits ask.
    this.#pending ??= (async () => {
      try {
        const info = await this.#jsm.streams.info(this.#stream);
        this.#reading = { used: info.state.bytes, max: info.config.max_bytes, at: Date.now() };
        this.#admitted = 0;
      } catch {
        // Unknown: let the write itself decide (a full store refuses it).
        this.#reading = { used: 0, max: 0, at: Date.now() };
      } finally {
        this.#pending = null;
      }
    })();
    await this.#pending;
  }
}
