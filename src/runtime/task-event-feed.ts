/**
 * A reliable feed of task state changes: an ordered consumer on the events stream, from now
 * on. Unlike a plain subscription on `<prefix>.events.>`, it sees every event the stream
 * stored, once (a re-published event the stream de-duplicated is not delivered again), in the
 * order stored, and it resumes where it was after a reconnect. Each event is small (≈ 250
 * bytes) where a watch of the tasks bucket delivers whole records (≈ 1 KB), so it is the
 * cheap way to wait for many tasks at once.
 */
import type { JsMsg } from "@nats-io/jetstream";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { TaskState } from "../protocol/index.ts";
import {
  MAX_MESSAGE_BYTES,
  resourceNames,
  safeDecode,
  subjects,
  TaskTransitionEvent,
} from "../protocol/index.ts";
import { feed } from "./feed.ts";

export interface TaskEventFeedOptions {
  prefix: string;
  /** Only changes into these states. @default every state */
  to?: readonly TaskState[];
}

/**
 * Follows task state changes from now on: `onEvent` sees each stored event, decoded (one that
 * fails its schema is skipped). Resolves once the consumer is in place, with a function that
 * stops it (also stopped when `signal` aborts).
 */
export async function followTaskEvents(
  nc: NatsConnection,
  o: TaskEventFeedOptions,
  onEvent: (e: TaskTransitionEvent) => void,
  signal?: AbortSignal,
): Promise<() => void> {
  const subj = subjects(o.prefix);
  const filters =
    o.to === undefined || o.to.length === 0
      ? [`${subj.event("task")}.*`]
      : [...new Set(o.to)].map((s) => subj.event(`task.${s}`));
  const consumer = await jetstream(nc).consumers.get(resourceNames(o.prefix).streams.events, {
    filter_subjects: filters,
    deliver_policy: DeliverPolicy.New,
  });
  const messages = await consumer.consume();
  return feed(
    messages,
    (m: JsMsg) => {
      const r = safeDecode(TaskTransitionEvent, m.data, { maxBytes: MAX_MESSAGE_BYTES });
      return r.ok ? r.value : null;
    },
    onEvent,
    () => void messages.close(),
    signal,
  );
}
