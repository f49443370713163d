/**
 * Small helpers around nats.js KV used by the stores.
 */
import type { KV, KvWatchEntry } from "@nats-io/kv";

/** True when a KV `update`/`create` was refused because the revision moved (compare-and-set). */
export function isRevisionConflict(err: unknown): boolean {
  const e = err as { message?: string; code?: number; api_error?: { err_code?: number } } | null;
  const code = e?.api_error?.err_code ?? e?.code;
  return code === 10071 || /wrong last sequence|key exists/i.test(e?.message ?? "");
}

/**
 * True when JetStream refused a write because a stream or the server's store is full
 * ("maximum bytes exceeded", "insufficient resources"). Not transient in the retry sense:
 * only retention (or an operator) frees space.
 */
export function isStoreFull(err: unknown): boolean {
  const e = err as { message?: string; api_error?: { err_code?: number } } | null;
  const code = e?.api_error?.err_code;
  return (
    code === 10023 ||
    code === 10047 ||
    /maximum bytes exceeded|insufficient (storage )?resources|resource limits exceeded/i.test(
      e?.message ?? "",
    )
  );
}

/**
 * True for a transient failure that the same call may overcome (no responders, timeouts,
 * reconnects, a stream between leaders). A compare-and-set refusal is never transient: its
 * message carries a revision ("wrong last sequence: 2503"), which once matched a bare "503"
 * here and turned every duplicate submit at such a revision into 20 futile retries.
 */
export function isTransient(err: unknown): boolean {
  if (isRevisionConflict(err) || isStoreFull(err)) return false;
  const e = err as { message?: string; code?: unknown } | null;
  if (e?.code === 503 || e?.code === "503") return true;
  return /no responders|timeout|disconnect|closed|connection|leadership|temporarily unavailable/i.test(
    e?.message ?? "",
  );
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
