/**
 * A placement decision as a task's record keeps it. A decision lists every worker it looked at;
 * with hundreds of workers that would make each record (written three times per task, and read
 * by every replica and watcher) tens of kilobytes. The record keeps at most
 * {@link MAX_RECORDED_CANDIDATES}: the chosen worker, one example of each reason a worker was
 * refused, then the others in the given order, and its reason counts what it left out.
 */
import type { CandidateScore } from "./types.ts";

/** Candidates a task's record keeps at most. */
export const MAX_RECORDED_CANDIDATES = 16;

/** The kind of refusal, for counting: the reason up to its first colon ("insufficient capacity"). */
function kindOf(reason: string | undefined): string {
  const r = reason ?? "filtered out";
  const colon = r.indexOf(":");
  return colon < 0 ? r : r.slice(0, colon);
}

/**
 * `d` with at most `max` candidates, the rest counted in its reason; unchanged when it has no
 * more than that. Pure: the same decision always gives the same record.
 */
export function recordedDecision<
  D extends { workerId: string | null; candidates: CandidateScore[]; reason: string },
>(d: D, max = MAX_RECORDED_CANDIDATES): D {
  const all = d.candidates;
  if (all.length <= max) return d;
  const keep = new Set<number>();
  const chosen = d.workerId === null ? -1 : all.findIndex((c) => c.workerId === d.workerId);
  if (chosen >= 0) keep.add(chosen);
  // Every kind of refusal keeps one example, so the record still says why workers were out.
  const kinds = new Set<string>();
  for (let i = 0; i < all.length && keep.size < max; i++) {
    const c = all[i]!;
    if (c.fits) continue;
    const kind = kindOf(c.reason);
    if (kinds.has(kind)) continue;
    kinds.add(kind);
    keep.add(i);
  }
  // Then the other workers that fit (the alternatives), then the rest, in the given order.
  for (const fitting of [true, false])
    for (let i = 0; i < all.length && keep.size < max; i++)
      if (all[i]!.fits === fitting) keep.add(i);
  let fitLeft = 0;
  let refusedLeft = 0;
  const refused = new Map<string, number>();
  all.forEach((c, i) => {
    if (keep.has(i)) return;
    if (c.fits) fitLeft++;
    else {
      refusedLeft++;
      const kind = kindOf(c.reason);
      refused.set(kind, (refused.get(kind) ?? 0) + 1);
    }
  });
  const byKind = [...refused]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, 3)
    .map(([kind, n]) => `${n} ${kind}`);
  const note =
    `${keep.size} of ${all.length} workers listed; not listed: ${fitLeft} that fit` +
    (refusedLeft > 0
      ? `, ${refusedLeft} refused (${byKind.join(", ")}${refused.size > 3 ? ", …" : ""})`
      : "");
  return {
    ...d,
    candidates: all.filter((_, i) => keep.has(i)),
    reason: `${d.reason}; ${note}`,
  };
}
