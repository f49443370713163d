/**
 * The loop behind the client's feeds (`watchAll`, `followTaskEvents`): takes each message of
 * an async iterable in the background, decodes it (a message `decode` turns into null is
 * skipped), hands the result on, and stops the source when the returned function is called
 * or `signal` aborts.
 */
export function feed<M, T>(
  messages: AsyncIterable<M>,
  decode: (m: M) => T | null,
  onItem: (t: T) => void,
  close: () => void,
  signal?: AbortSignal,
): () => void {
  const stop = (): void => {
    signal?.removeEventListener("abort", stop);
    close();
  };
  if (signal?.aborted === true) stop();
  else signal?.addEventListener("abort", stop, { once: true });
  void (async () => {
    for await (const m of messages) {
      const t = decode(m);
      if (t !== null) onItem(t);
    }
  })().catch(() => undefined);
  return stop;
}
