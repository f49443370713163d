/**
 * NATS connections. The runtime folder is the only code that imports `@nats-io/*`.
 */
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import type { JetStreamClient } from "@nats-io/jetstream";
import { DroverError, ErrorCode } from "../protocol/index.ts";

export type { NatsConnection };

/** Options of {@link connectNats}. */
export interface ConnectOptions {
  /** Server URLs, e.g. `["nats://127.0.0.1:4222"]`. */
  servers: string[];
  /** Client name shown by the server's monitoring. */
  name: string;
  /** How long one connect attempt may take. @default 5000 */
  timeoutMs?: number;
  /** Keep reconnecting forever after the first connect (long-running actors). @default true */
  reconnectForever?: boolean;
}

/**
 * Connects to NATS. An unreachable server becomes a DroverError `unavailable` with the URLs
 * in its message, so the CLI can print one clear line.
 */
export async function connectNats(opts: ConnectOptions): Promise<NatsConnection> {
  try {
    return await connect({
      servers: opts.servers,
      name: opts.name,
      timeout: opts.timeoutMs ?? 5_000,
      maxReconnectAttempts: opts.reconnectForever === false ? 10 : -1,
      reconnectTimeWait: 250,
      // A SIGKILLed or partitioned server sends no RST: a dead link is found by two missed pings.
      pingInterval: 2_000,
      maxPingOut: 2,
      // Async stack traces build an Error per request: a fifth of the leader's CPU under load.
      noAsyncTraces: true,
    });
  } catch (err) {
    throw new DroverError(
      ErrorCode.Unavailable,
      `cannot connect to NATS at ${opts.servers.join(", ")}: ${(err as Error).message}`,
      {
        retryable: true,
        cause: err,
      },
    );
  }
}

/** A JetStream client on `nc` (publishes wait for the stream's acknowledgement). */
export function jetstreamClient(nc: NatsConnection): JetStreamClient {
  return jetstream(nc);
}
