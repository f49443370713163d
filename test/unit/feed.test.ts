/**
 * The client's feed loop: decoded items in order, undecodable ones skipped, the source closed
 * by the returned function or by an abort (at once if the signal was already aborted).
 */
import { describe, expect, it } from "vitest";
import { feed } from "../../src/runtime/feed.ts";

/** A source that yields what is pushed until closed. */
function source(): {
  iter: AsyncIterable<string>;
  push: (s: string) => void;
  close: () => void;
  closed: () => boolean;
} {
  const queue: string[] = [];
  let wake: (() => void) | null = null;
  let closed = false;
  return {
    iter: {
      async *[Symbol.asyncIterator]() {
        while (!closed) {
          const s = queue.shift();
          if (s !== undefined) yield s;
          else await new Promise<void>((r) => (wake = r));
        }
      },
    },
    push: (s) => (queue.push(s), wake?.()),
    close: () => ((closed = true), wake?.()),
    closed: () => closed,
  };
}

const asNumber = (s: string): number | null => (/^\d+$/.test(s) ? Number(s) : null);

describe("feed", () => {
  it("hands on decoded items in order and skips the rest; stop closes the source", async () => {
    const src = source();
    const got: number[] = [];
    let third!: () => void;
    const gotThree = new Promise<void>((r) => (third = r));
    const stop = feed(
      src.iter,
      asNumber,
      (n) => (got.push(n), got.length === 3 && third()),
      src.close,
    );
    for (const s of ["1", "x", "2", "", "3"]) src.push(s);
    await gotThree;
    expect(got).toEqual([1, 2, 3]);
    expect(src.closed()).toBe(false);
    stop();
    expect(src.closed()).toBe(true);
  });

  it("closes the source when the signal aborts, or at once when it already has", () => {
    const a = source();
    const ac = new AbortController();
    feed(a.iter, asNumber, () => undefined, a.close, ac.signal);
    expect(a.closed()).toBe(false);
    ac.abort();
    expect(a.closed()).toBe(true);
    const b = source();
    feed(b.iter, asNumber, () => undefined, b.close, AbortSignal.abort());
    expect(b.closed()).toBe(true);
  });
});
