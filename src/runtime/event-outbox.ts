/**
 * Events leave through JetStream, not as fire-and-forget messages: each is published with a
 * de-duplicating message id and retried until the events stream has stored it. Retries
 * (ours, or a new leader re-publishing what the old one may have lost: see
 * `SchedulerReplica`) never store an event twice within the stream's duplicate window.
 *
 * The outbox is in memory: an event is lost only if its process dies before the stream has
 * stored it and no one re-publishes it, or if it cannot be stored for `giveUpAfterMs`.
 * Publishes go out in the order they were queued; a retried one may land after later ones.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { PublishFn } from "./js-publisher.ts";
import { jsPublish } from "./js-publisher.ts";
import { isTransient } from "./kv-util.ts";

export interface EventOutboxOptions {
  /** Events queued at most; beyond this, new events are dropped (and counted). @default 50_000 */
  maxPending?: number;
  /** Publishes in flight at once. @default 256 */
  concurrency?: number;
  /** An event not stored after this long is given up (and counted). @default 60_000 */
  giveUpAfterMs?: number;
  /** How events are published. @default `js.publish` */
  publish?: PublishFn;
}

export interface EventOutboxStats {
  /** Stored by the stream (a duplicate the stream dropped counts too). */
  published: number;
  /** Publish attempts that failed and were tried again. */
  retried: number;
  /** Given up: the queue was full, the failure was not transient, or it lasted too long. */
  lost: number;
}

interface Pending {
  subject: string;
  data: Uint8Array;
  msgID: string;
  queuedAt: number;
}

export class EventOutbox {
  readonly stats: EventOutboxStats = { published: 0, retried: 0, lost: 0 };
  readonly #publish: PublishFn;
  readonly #log: Logger;
  readonly #maxPending: number;
  readonly #concurrency: number;
  readonly #giveUpAfterMs: number;
  #queue: Pending[] = [];
  #head = 0;
  #inFlight = 0;
  #idle: (() => void)[] = [];
  #lostLoggedAt = 0;

  constructor(js: JetStreamClient, log: Logger, o: EventOutboxOptions = {}) {
    this.#publish = o.publish ?? jsPublish(js);
    this.#log = log;
    this.#maxPending = o.maxPending ?? 50_000;
    this.#concurrency = o.concurrency ?? 256;
    this.#giveUpAfterMs = o.giveUpAfterMs ?? 60_000;
  }

  /** Events queued or in flight. */
  get pending(): number {
    return this.#queue.length - this.#head + this.#inFlight;
  }

  /** Queues an event; `msgID` must name the event itself (the same id on every re-publish). */
  publish(subject: string, data: Uint8Array, msgID: string): void {
    if (this.pending >= this.#maxPending) {
      this.#lose(msgID, "outbox full");
      return;
    }
    this.#queue.push({ subject, data, msgID, queuedAt: performance.now() });
    this.#pump();
  }

  /** Resolves once every event queued so far has been stored or given up. */
  async flush(): Promise<void> {
    if (this.pending === 0) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  #pump(): void {
    while (this.#inFlight < this.#concurrency && this.#head < this.#queue.length) {
      const item = this.#queue[this.#head++]!;
      if (this.#head > 1_024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      this.#inFlight++;
      void this.#send(item).finally(() => {
        this.#inFlight--;
        this.#pump();
        if (this.pending === 0) for (const resolve of this.#idle.splice(0)) resolve();
      });
    }
  }

  async #send(item: Pending): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#publish(item.subject, item.data, { msgID: item.msgID });
        this.stats.published++;
        return;
      } catch (err) {
        const tooLong = performance.now() - item.queuedAt > this.#giveUpAfterMs;
        if (!isTransient(err) || tooLong) {
          this.#lose(item.msgID, (err as Error).message);
          return;
        }
        this.stats.retried++;
        await new Promise((r) => setTimeout(r, Math.min(2_000, 50 * 2 ** attempt)));
      }
    }
  }

  #lose(msgID: string, reason: string): void {
    this.stats.lost++;
    const now = performance.now();
    if (now - this.#lostLoggedAt < 1_000) return;
    this.#lostLoggedAt = now;
    this.#log.warn({ msgID, reason, lost: this.stats.lost }, "event could not be published");
  }
}
