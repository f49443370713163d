/**
 * The API's back-pressure: at most `maxConcurrent` requests handled at once, the rest waiting
 * in arrival order, at most `maxQueued` of them (beyond that {@link RequestQueue.offer} says
 * no, and the caller refuses at once rather than letting every request time out).
 *
 * Waiting requests are started from a macrotask of their own, never from the code that
 * delivered them: one socket read can hold hundreds of requests (and JetStream
 * acknowledgements arrive in batches), and starting each inside the delivery would run
 * hundreds of handlers in one turn of the event loop and starve its timers and I/O. A pump
 * starts requests for at most {@link PUMP_SLICE_MS}, then leaves the rest to the next turn.
 */

/** Longest stretch one turn of the pump spends starting requests. */
export const PUMP_SLICE_MS = 10;

export class RequestQueue<T> {
  readonly #handle: (item: T) => Promise<void>;
  readonly #maxConcurrent: number;
  readonly #maxQueued: number;
  #active = 0;
  readonly #waiting: (T | undefined)[] = [];
  #head = 0;
  #pumpScheduled = false;
  /** Waiting for every taken request to be handled (see {@link settled}). */
  readonly #settled: (() => void)[] = [];

  constructor(handle: (item: T) => Promise<void>, maxConcurrent: number, maxQueued: number) {
    this.#handle = handle;
    this.#maxConcurrent = maxConcurrent;
    this.#maxQueued = maxQueued;
  }

  /** The most requests that may wait. */
  get maxQueued(): number {
    return this.#maxQueued;
  }

  /** Queues `item`; false (and nothing queued) when the queue is full. */
  offer(item: T): boolean {
    if (this.#waiting.length - this.#head >= this.#maxQueued) return false;
    this.#waiting.push(item);
    this.#schedulePump();
    return true;
  }

  /** Handles `item` now, past the queue (requests that touch only memory). */
  run(item: T): void {
    this.#active++;
    void this.#handle(item).finally(() => {
      this.#active--;
      this.#schedulePump();
      if (this.#idle()) for (const resolve of this.#settled.splice(0)) resolve();
    });
  }

  /** Resolves once every request taken so far is handled, or after `graceMs`. */
  async settled(graceMs: number): Promise<void> {
    if (this.#idle()) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.#settled.push(resolve)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
  }

  #idle(): boolean {
    return this.#active === 0 && this.#head >= this.#waiting.length;
  }

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      const sliceEnd = performance.now() + PUMP_SLICE_MS;
      while (this.#active < this.#maxConcurrent) {
        const next = this.#waiting[this.#head];
        if (next === undefined) break;
        if (performance.now() > sliceEnd) {
          this.#schedulePump();
          break;
        }
        this.#waiting[this.#head++] = undefined;
        this.run(next);
      }
      // Compact now and then so the queue's array does not grow without end.
      if (this.#head > 1_024 && this.#head * 2 > this.#waiting.length) {
        this.#waiting.splice(0, this.#head);
        this.#head = 0;
      }
    });
  }
}
