/**
 * JetStream publishes with their acknowledgements gathered on one subscription.
 *
 * `js.publish` is a request: per message, nats.js builds a request object, a timer, a
 * promise, a subscription-mux entry, an error object (on every success, too) and a fresh text
 * decoder for the ack. On the leader, which publishes several times per task, that set-up
 * cost about as much as the rest of the publish. Here each message carries a reply subject
 * under one inbox this publisher subscribes to once; the ack is matched by a counter in its
 * subject, and one sweep fails whatever waited longer than the timeout.
 *
 * What a caller sees is what `js.publish` gives it: the `PubAck`, or the same error classes
 * (a `JetStreamApiError` with the server's code, a `TimeoutError`, a `NoRespondersError`, a
 * `ClosedConnectionError`), so retries and compare-and-set checks work unchanged.
 */
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { JetStreamApiError } from "@nats-io/jetstream";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  ClosedConnectionError,
  createInbox,
  headers,
  NoRespondersError,
  TimeoutError,
} from "@nats-io/transport-node";

/** What a publish may ask of the stream. */
export interface PublishOptions {
  /** De-duplication id (`Nats-Msg-Id`). */
  msgID?: string;
  /** Compare-and-set: the subject's last sequence must be this (0: no message yet). */
  expectLastSubjectSequence?: number;
  /** Per-message TTL (`Nats-TTL`, e.g. "90s"). */
  ttl?: string;
}

/** A JetStream publish: {@link JsPublisher.publish}, or {@link jsPublish} of a client. */
export type PublishFn = (subject: string, data: Uint8Array, o?: PublishOptions) => Promise<PubAck>;

/** `js.publish` under the {@link PublishFn} signature. */
export function jsPublish(js: JetStreamClient): PublishFn {
  return (subject, data, o = {}) =>
    js.publish(subject, data, {
      ...(o.msgID !== undefined ? { msgID: o.msgID } : {}),
      ...(o.expectLastSubjectSequence !== undefined
        ? { expect: { lastSubjectSequence: o.expectLastSubjectSequence } }
        : {}),
      ...(o.ttl !== undefined ? { ttl: o.ttl } : {}),
    });
}

interface Waiting {
  resolve: (ack: PubAck) => void;
  reject: (err: Error) => void;
  subject: string;
  deadline: number;
}

const ackDecoder = new TextDecoder();

export class JsPublisher {
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #sub: Subscription;
  /** In publish order, so deadlines (one timeout for all) are in order too. */
  readonly #waiting = new Map<number, Waiting>();
  readonly #sweep: ReturnType<typeof setInterval>;
  #next = 0;

  constructor(nc: NatsConnection, o: { timeoutMs?: number; sweepMs?: number } = {}) {
    this.#nc = nc;
    this.#timeoutMs = o.timeoutMs ?? 5_000;
    this.#prefix = `${createInbox()}.`;
    this.#sub = nc.subscribe(`${this.#prefix}*`, { callback: (_err, m) => this.#onAck(m) });
    this.#sweep = setInterval(() => this.#expire(), o.sweepMs ?? 100);
    this.#sweep.unref();
  }

  /** Publishes `data` on `subject` and resolves with the stream's acknowledgement. */
  readonly publish: PublishFn = (subject, data, o = {}) => {
    const h = headers();
    if (o.msgID !== undefined) h.set("Nats-Msg-Id", o.msgID);
    if (o.expectLastSubjectSequence !== undefined)
      h.set("Nats-Expected-Last-Subject-Sequence", String(o.expectLastSubjectSequence));
    if (o.ttl !== undefined) h.set("Nats-TTL", o.ttl);
    const id = ++this.#next;
    const reply = this.#prefix + id;
    return new Promise<PubAck>((resolve, reject) => {
      try {
        this.#nc.publish(subject, data, h.keys().length > 0 ? { reply, headers: h } : { reply });
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      this.#waiting.set(id, { resolve, reject, subject, deadline: Date.now() + this.#timeoutMs });
    });
  };

  /** Stops listening; whatever still waits fails with `ClosedConnectionError`. */
  close(): void {
    clearInterval(this.#sweep);
    this.#sub.unsubscribe();
    for (const w of this.#waiting.values()) w.reject(new ClosedConnectionError());
    this.#waiting.clear();
  }

  #onAck(m: Msg): void {
    const id = Number(m.subject.slice(this.#prefix.length));
    const w = this.#waiting.get(id);
    if (w === undefined) return; // timed out already
    this.#waiting.delete(id);
    // A status reply: no stream listens on the subject (503), or another status.
    if (m.data.length === 0 && m.headers?.hasError === true) {
      w.reject(
        m.headers.code === 503
          ? new NoRespondersError(w.subject)
          : new JetStreamApiError({
              code: m.headers.code,
              err_code: 0,
              description: m.headers.description,
            }),
      );
      return;
    }
    try {
      const v = JSON.parse(ackDecoder.decode(m.data)) as
        | (PubAck & { error?: undefined })
        | { error: { code: number; err_code: number; description: string } };
      if (v.error !== undefined) w.reject(new JetStreamApiError(v.error));
      else w.resolve({ ...v, duplicate: v.duplicate === true });
    } catch (err) {
      w.reject(err as Error);
    }
  }

  #expire(): void {
    const now = Date.now();
    for (const [id, w] of this.#waiting) {
      if (w.deadline > now) break;
      this.#waiting.delete(id);
      w.reject(new TimeoutError());
    }
  }
}
