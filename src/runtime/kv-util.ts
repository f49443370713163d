/**
 * Small helpers around nats.js KV used by the stores.
 */
import { JetStreamApiCodes, JetStreamApiError, JetStreamError } from "@nats-io/jetstream";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import {
  ClosedConnectionError,
  ConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  PermissionViolationError,
  TimeoutError,
} from "@nats-io/transport-node";

/**
 * The error and the errors it wraps (nats.js wraps a request's failure in a `RequestError`
 * whose cause says what happened).
 */
function* causes(err: unknown): Generator<unknown> {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    yield e;
    e = (e as { cause?: unknown }).cause;
  }
}

/** The JetStream API error code (`err_code`) of `err` or of what it wraps, if any. */
function apiCode(err: unknown): number | undefined {
  for (const e of causes(err)) if (e instanceof JetStreamApiError) return e.code;
  return undefined;
}

/** True when `err` (or what it wraps) is a request that timed out. */
export function isTimeout(err: unknown): boolean {
  for (const e of causes(err)) if (e instanceof TimeoutError) return true;
  return false;
}

/** True when the server refused a publish or subscribe for this user's NATS permissions. */
export function isPermissionDenied(err: unknown): boolean {
  for (const e of causes(err)) if (e instanceof PermissionViolationError) return true;
  return false;
}

/** True when a KV `update`/`create` was refused because the revision moved (compare-and-set). */
export function isRevisionConflict(err: unknown): boolean {
  const code = apiCode(err);
  return (
    code === JetStreamApiCodes.StreamWrongLastSequence ||
    code === JetStreamApiCodes.StreamWrongLastSequenceUnknown
  );
}

/** `err_code`s of a write refused for space: a stream at its limits, a store out of room. */
const STORE_FULL: ReadonlySet<number> = new Set([
  10002, // JSAccountResourcesExceededErr: "resource limits exceeded for account"
  10023, // JSInsufficientResourcesErr
  10047, // JSStorageResourcesExceededErr
  10077, // JSStreamStoreFailedF: "maximum bytes exceeded", "maximum messages exceeded"
]);

/**
 * True when JetStream refused a write because a stream or the server's store is full. Not
 * transient in the retry sense: only retention (or an operator) frees space.
 */
export function isStoreFull(err: unknown): boolean {
  const code = apiCode(err);
  return code !== undefined && STORE_FULL.has(code);
}

/**
 * True for a transient failure that the same call may overcome: a timeout, no responders, a
 * connection that is down or reconnecting, a JetStream that is (for now) unavailable (status
 * 503, e.g. a stream between leaders). Classified by nats.js error class and JetStream code,
 * never by message text: a compare-and-set refusal's message carries a revision ("wrong last
 * sequence: 2503"), which once matched a bare "503" and turned every duplicate submit at
 * such a revision into 20 futile retries.
 */
export function isTransient(err: unknown): boolean {
  if (isRevisionConflict(err) || isStoreFull(err)) return false;
  for (const e of causes(err)) {
    if (
      e instanceof TimeoutError ||
      e instanceof NoRespondersError ||
      e instanceof ConnectionError ||
      e instanceof ClosedConnectionError ||
      e instanceof DrainingConnectionError
    )
      return true;
    if (e instanceof JetStreamApiError) return e.status === 503 || e.code === 10167; // too many requests
    // A status reply (e.g. 503 no responders for the JetStream API, 408 request timeout).
    if (e instanceof JetStreamError && "code" in e) return e.code === 503 || e.code === 408;
  }
  return false;
}

/** Runs `fn` until it succeeds or a non-transient error occurs, with short backoff. */
export async function retryTransient<T>(
  fn: () => Promise<T>,
  opts: { attempts?: number; signal?: AbortSignal; onRetry?: (err: unknown) => void } = {},
): Promise<T> {
  const attempts = opts.attempts ?? 20;
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i + 1 >= attempts || !isTransient(err) || opts.signal?.aborted === true) throw err;
      opts.onRetry?.(err);
      await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** i, 1_000)));
    }
  }
}

/** Longest stretch a watch loop works before it lets the event loop take a turn. */
const SLICE_MS = 10;

/**
 * Watches every key of a bucket: first the current values, then live updates. `onCaughtUp`
 * fires once, after the last current value has been delivered (immediately for an empty
 * bucket), so a caller knows when its mirror is complete.
 */
export async function watchAll(
  kv: KV,
  onEntry: (e: KvWatchEntry) => void,
  onCaughtUp: () => void,
): Promise<{ stop(): void; done: Promise<void> }> {
  // A watch is often the first thing a process asks of a cluster that is still forming.
  const empty = (await retryTransient(() => kv.status(), { attempts: 40 })).values === 0;
  const iter = await retryTransient(() => kv.watch(), { attempts: 40 });
  let caughtUp = false;
  const markCaughtUp = (): void => {
    if (!caughtUp) {
      caughtUp = true;
      onCaughtUp();
    }
  };
  if (empty) markCaughtUp();
  const done = (async () => {
    // Entries that arrived while the loop was busy are handed over without a macrotask in
    // between: a flood of writes would keep the event loop in one long microtask chain and
    // starve timers and I/O. After SLICE_MS of work the loop yields for one turn.
    let sliceStart = performance.now();
    for await (const e of iter) {
      onEntry(e);
      if (!caughtUp && (e.isUpdate || e.delta === 0)) markCaughtUp();
      if (performance.now() - sliceStart > SLICE_MS) {
        await new Promise((r) => setImmediate(r));
        sliceStart = performance.now();
      }
    }
  })();
  return { stop: () => iter.stop(), done };
}

/**
 * {@link watchAll} for as long as the caller wants: a watch that ends or fails is started
 * again a moment later (a NATS node restarting, say), `onError` told why. `caughtUp` resolves
 * once the first watch has delivered every current value.
 */
export function watchForever(
  kv: KV,
  onEntry: (e: KvWatchEntry) => void,
  onError: (err: Error) => void,
): { caughtUp: Promise<void>; stop(): void } {
  let stopped = false;
  let stopWatch: (() => void) | null = null;
  const keep = async (caughtUp: () => void): Promise<void> => {
    const w = await watchAll(kv, onEntry, caughtUp);
    stopWatch = () => w.stop();
    if (stopped) w.stop();
    void w.done
      .catch((err: unknown) => onError(err as Error))
      .then(async () => {
        if (stopped) return;
        await new Promise((r) => setTimeout(r, 250));
        if (!stopped) await keep(() => undefined);
      })
      .catch((err: unknown) => onError(err as Error));
  };
  const caughtUp = new Promise<void>((resolve, reject) => {
    keep(resolve).catch(reject);
  });
  return {
    caughtUp,
    stop: () => {
      stopped = true;
      stopWatch?.();
    },
  };
}

/** True when `err` says the stream or consumer asked for does not exist (and nothing else). */
export function isNotFound(err: unknown): boolean {
  const code = apiCode(err);
  return code === JetStreamApiCodes.StreamNotFound || code === JetStreamApiCodes.ConsumerNotFound;
}
