/**
 * NATS connections. The runtime folder is the only code that imports `@nats-io/*`.
 */
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import type { JetStreamClient } from "@nats-io/jetstream";
import { DroverError, ErrorCode } from "../protocol/index.ts";
import type { NatsAuth } from "./nats-auth.ts";
import { authOptions } from "./nats-auth.ts";
import { coalesceWrites } from "./write-coalescing.ts";

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
  /** Credentials and TLS (see nats-auth.ts); none by default. */
  auth?: NatsAuth;
}

/**
 * Connects to NATS. An unreachable server becomes a DroverError `unavailable` with the URLs
 * in its message, so the CLI can print one clear line.
 */
export async function connectNats(opts: ConnectOptions): Promise<NatsConnection> {
  // Bad credentials options are the caller's mistake, not an unreachable server.
  const auth = authOptions(opts.auth ?? {});
  try {
    const nc = await connect({
      ...auth,
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
      reconnectToServer: (pool, info) => (info === null ? null : nextServer(pool)),
    });
    // What a turn of the event loop sends leaves in one socket write (see write-coalescing.ts).
    coalesceWrites(nc);
    return nc;
  } catch (err) {
    const message = (err as Error).message;
    // Refused credentials stay refused: trying again changes nothing.
    const refused = /authori[sz]ation violation|authentication/i.test(message);
    throw new DroverError(
      ErrorCode.Unavailable,
      `cannot connect to NATS at ${opts.servers.join(", ")}: ${message}` +
        (refused
          ? " (check --user/--password, --token, --creds or --nkey, or NATS_USER, NATS_PASSWORD, NATS_TOKEN, NATS_CREDS, NATS_NKEY)"
          : ""),
      { retryable: !refused, cause: err },
    );
  }
}

/**
 * The server a reconnect dials: never the one just lost first (nats.js would dial the same
 * server again after the first connection, and a dead one costs a whole connect timeout);
 * a server the user listed before one the cluster advertised (an advertised address may be
 * another name of the server just lost); of those, the one dialled longest ago.
 */
export function nextServer<S extends { lastConnect: number; gossiped: boolean }>(
  pool: readonly S[],
): S | null {
  if (pool.length < 2) return null;
  const last = pool.reduce((a, b) => (b.lastConnect > a.lastConnect ? b : a));
  const rank = (s: S): number => (s === last ? 2 : s.gossiped ? 1 : 0);
  return pool.reduce((a, b) =>
    rank(b) < rank(a) || (rank(b) === rank(a) && b.lastConnect < a.lastConnect) ? b : a,
  );
}

/**
 * Sends a ping and, if no pong comes back within `ms`, forces a reconnect, which moves the
 * connection to another server of the pool. A server that was SIGKILLed or cut off sends no
 * RST, and the client's own pings only find the dead link after seconds; a caller with a
 * deadline of its own (a worker's heartbeat) runs this next to each call that must not miss
 * it. `cancel` ends the check (call it once the call is done); `reconnected` resolves if the
 * check forced a reconnect (the call in flight is then lost: start it again).
 */
export function reconnectIfSilent(
  nc: NatsConnection,
  ms: number,
): { cancel(): void; reconnected: Promise<void> } {
  let answered = false;
  nc.flush().then(
    () => (answered = true),
    () => undefined,
  );
  let timer: NodeJS.Timeout | undefined;
  const reconnected = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      if (answered || nc.isClosed()) return;
      resolve();
      nc.reconnect().catch(() => undefined);
    }, ms);
  });
  return { cancel: () => clearTimeout(timer), reconnected };
}

/**
 * Pings the server; if no pong comes back within `ms`, forces a reconnect (see
 * {@link reconnectIfSilent}). Resolves with whether the server answered.
 */
export async function leaveIfSilent(nc: NatsConnection, ms: number): Promise<boolean> {
  if (nc.isClosed()) return false;
  const probe = reconnectIfSilent(nc, ms);
  const answered = await Promise.race([
    nc.flush().then(
      () => true,
      () => false,
    ),
    probe.reconnected.then(() => false),
  ]);
  probe.cancel();
  return answered;
}

/** A JetStream client on `nc` (publishes wait for the stream's acknowledgement). */
export function jetstreamClient(nc: NatsConnection): JetStreamClient {
  return jetstream(nc);
}
