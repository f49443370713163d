/**
 * JetStream publishes with their acknowledgements gathered on one subscription (see
 * inbox-requester.ts for why): what `js.publish` does, at a fraction of the leader's CPU.
 *
 * A caller sees what `js.publish` gives it: the `PubAck`, or the same error classes (a
 * `JetStreamApiError` with the server's code, a `TimeoutError`, a `NoRespondersError`, a
 * `ClosedConnectionError`), so retries and compare-and-set checks work unchanged.
 */
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { JetStreamApiError } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { headers } from "@nats-io/transport-node";
import { InboxRequester } from "./inbox-requester.ts";

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

const ackDecoder = new TextDecoder();

export class JsPublisher {
  readonly #requests: InboxRequester;

  constructor(nc: NatsConnection, o: { timeoutMs?: number; sweepMs?: number } = {}) {
    this.#requests = new InboxRequester(nc, o);
  }

  /** Publishes `data` on `subject` and resolves with the stream's acknowledgement. */
  readonly publish: PublishFn = async (subject, data, o = {}) => {
    const h = headers();
    if (o.msgID !== undefined) h.set("Nats-Msg-Id", o.msgID);
    if (o.expectLastSubjectSequence !== undefined)
      h.set("Nats-Expected-Last-Subject-Sequence", String(o.expectLastSubjectSequence));
    if (o.ttl !== undefined) h.set("Nats-TTL", o.ttl);
    const m = await this.#requests.request(subject, data, h.keys().length > 0 ? h : undefined);
    // Another status reply (a 503 is a NoRespondersError already).
    if (m.data.length === 0 && m.headers?.hasError === true)
      throw new JetStreamApiError({
        code: m.headers.code,
        err_code: 0,
        description: m.headers.description,
      });
    const v = JSON.parse(ackDecoder.decode(m.data)) as
      | (PubAck & { error?: undefined })
      | { error: { code: number; err_code: number; description: string } };
    if (v.error !== undefined) throw new JetStreamApiError(v.error);
    return { ...v, duplicate: v.duplicate === true };
  };

  /** Stops listening; whatever still waits fails with `ClosedConnectionError`. */
  close(): void {
    this.#requests.close();
  }
}
