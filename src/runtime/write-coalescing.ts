/**
 * One socket write per event-loop turn instead of one per chain of promises.
 *
 * nats.js buffers what a connection sends and writes the buffer to the socket from a
 * microtask queued by the first command after a write. Drover's processes send from
 * `async` code: a leader that takes in one socket read of reports resumes dozens of promise
 * chains, each publishing a write or an event a few microtasks later, after the buffer was
 * already written. So one socket read turned into many small socket writes, each a system
 * call (≈ 40 µs here) and, at nats-server, a read of its own. Writing the buffer from
 * `setImmediate` instead waits for every microtask of the turn: what one turn sends leaves in
 * one write, before the event loop waits for input again, so no message waits for a timer.
 *
 * This replaces the protocol handler's `flushPending`, a method nats.js does not export (the
 * version is pinned; `coalesceWrites` refuses an object without it, and a test checks that a
 * burst sent from chained promises leaves in one write). A buffer past nats.js's own limit is
 * still written at once, and `close()` writes what is pending before the socket closes.
 */

interface ProtocolInternals {
  flushPending(): void;
  close(err?: Error): Promise<void>;
  outbound: { size(): number };
  pendingLimit: number;
}

function internals(nc: object): ProtocolInternals | null {
  const p = (nc as { protocol?: Partial<ProtocolInternals> }).protocol;
  if (
    p === undefined ||
    typeof p.flushPending !== "function" ||
    typeof p.close !== "function" ||
    typeof p.outbound?.size !== "function" ||
    typeof p.pendingLimit !== "number"
  )
    return null;
  return p as ProtocolInternals;
}

/**
 * Makes `nc` write what it sends once per event-loop turn. Returns false (and changes
 * nothing) if `nc` is not a nats.js connection this code knows.
 */
export function coalesceWrites(nc: object): boolean {
  const p = internals(nc);
  if (p === null) return false;
  const flushNow = p.flushPending.bind(p);
  const close = p.close.bind(p);
  let scheduled = false;
  const flushLater = (): void => {
    scheduled = false;
    flushNow();
  };
  p.flushPending = () => {
    if (p.outbound.size() >= p.pendingLimit) flushNow();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flushLater);
    }
  };
  p.close = (err?: Error) => {
    flushNow();
    return close(err);
  };
  return true;
}
