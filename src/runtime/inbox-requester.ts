/**
 * Requests whose replies are gathered on one subscription.
 *
 * `nc.request` builds, per call, a request object, a timer, a promise, a subscription-mux
 * entry and — on every success too — an `Error` with its stack. For the leader, which makes
 * several requests per task (each JetStream publish is one), that set-up cost about as much
 * as the rest of the request. Here each request carries a reply subject under one inbox
 * subscribed to once; the reply is matched by a counter in its subject, and one sweep fails
 * whatever waited longer than the timeout (one timeout for all, so deadlines are in order).
 *
 * A caller sees what `nc.request` would give it: the reply, or a `NoRespondersError` (nobody
 * listens on the subject), a `TimeoutError`, or a `ClosedConnectionError`.
 */
import type { Msg, MsgHdrs, NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  ClosedConnectionError,
  createInbox,
  NoRespondersError,
  TimeoutError,
} from "@nats-io/transport-node";

interface Waiting {
  resolve: (m: Msg) => void;
  reject: (err: Error) => void;
  subject: string;
  deadline: number;
}

export class InboxRequester {
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #sub: Subscription;
  /** In request order, so deadlines are in order too. */
  readonly #waiting = new Map<number, Waiting>();
  readonly #sweep: ReturnType<typeof setInterval>;
  #next = 0;

  constructor(nc: NatsConnection, o: { timeoutMs?: number; sweepMs?: number } = {}) {
    this.#nc = nc;
    this.#timeoutMs = o.timeoutMs ?? 5_000;
    this.#prefix = `${createInbox()}.`;
    this.#sub = nc.subscribe(`${this.#prefix}*`, { callback: (_err, m) => this.#onReply(m) });
    this.#sweep = setInterval(() => this.#expire(), o.sweepMs ?? 100);
    this.#sweep.unref();
  }

  /** Sends `data` on `subject` and resolves with the first reply. */
  request(subject: string, data: Uint8Array, headers?: MsgHdrs): Promise<Msg> {
    const id = ++this.#next;
    const reply = this.#prefix + id;
    return new Promise<Msg>((resolve, reject) => {
      try {
        this.#nc.publish(subject, data, headers !== undefined ? { reply, headers } : { reply });
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      this.#waiting.set(id, { resolve, reject, subject, deadline: Date.now() + this.#timeoutMs });
    });
  }

  /** Stops listening; whatever still waits fails with `ClosedConnectionError`. */
  close(): void {
    clearInterval(this.#sweep);
    this.#sub.unsubscribe();
    for (const w of this.#waiting.values()) w.reject(new ClosedConnectionError());
    this.#waiting.clear();
  }

  #onReply(m: Msg): void {
    const id = Number(m.subject.slice(this.#prefix.length));
    const w = this.#waiting.get(id);
    if (w === undefined) return; // timed out already
    this.#waiting.delete(id);
    // The server's status reply when no one listens on the subject.
    if (m.data.length === 0 && m.headers?.hasError === true && m.headers.code === 503)
      w.reject(new NoRespondersError(w.subject));
    else w.resolve(m);
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
