/**
 * Log lines for conditions that can repeat thousands of times a second (a full store, an
 * overloaded API): the first occurrence is logged at once, then at most one line per period
 * with the number of occurrences since.
 */
export function rateLimited(periodMs: number): (log: (occurrences: number) => void) => void {
  let last = -Infinity;
  let count = 0;
  return (log) => {
    count++;
    const now = Date.now();
    if (now - last < periodMs) return;
    last = now;
    const n = count;
    count = 0;
    log(n);
  };
}
