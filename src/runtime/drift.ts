/**
 * Configuration drift: how an existing stream, bucket or consumer — perhaps created by an
 * older version, or with other settings — is brought to the configuration this version needs.
 * Pure decisions, so that every rule is tested without a server; `resources.ts` applies them.
 *
 * Three kinds of field:
 * - **enforced**: Drover owns the value and NATS can edit it; a difference is corrected;
 * - **fixed**: NATS cannot change it on an existing stream (retention, storage, a consumer's
 *   ack policy); a difference refuses to start, with what to run;
 * - **if unset**: set only where the stream has none (byte limits, the expiry-marker TTL), so
 *   that processes started with other sizes never undo each other's choice.
 *
 * The heartbeat and lease TTLs have a rule of their own ({@link resolveTtl}): raised when a
 * process asks for more, never lowered by a process, because a process that already runs with
 * the longer TTL would then believe its heartbeat or lease lives longer than it does.
 */

/** The wanted configuration of one existing resource, by kind of field. */
export interface Spec<C> {
  /** Drover's own values: corrected whenever they differ. */
  enforce?: Partial<C>;
  /** Values NATS cannot change on an existing resource: a difference is refused. */
  fixed?: Partial<C>;
  /** Set only when the resource has none (absent, 0 or negative). */
  ifUnset?: Partial<C>;
}

/** What to do with one existing resource. */
export interface Plan<C> {
  /** Fields to update (empty: nothing to do). */
  patch: Partial<C>;
  /** One line per corrected field, for the log. */
  changes: string[];
  /** One line per field that cannot be corrected. */
  refusals: string[];
}

const same = (a: unknown, b: unknown): boolean =>
  a === b || JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

const unset = (v: unknown): boolean =>
  v === undefined || v === null || v === "" || (typeof v === "number" && v <= 0);

const show = (v: unknown): string => (v === undefined ? "unset" : JSON.stringify(v));

/** Compares `current` with `spec` and says what to update and what cannot be. */
export function planDrift<C extends object>(name: string, current: C, spec: Spec<C>): Plan<C> {
  const patch: Partial<C> = {};
  const changes: string[] = [];
  const refusals: string[] = [];
  const cur = current as Record<string, unknown>;
  const out = patch as Record<string, unknown>;
  for (const [k, want] of Object.entries(spec.fixed ?? {}))
    if (!same(cur[k], want))
      refusals.push(`${name}: ${k} is ${show(cur[k])}, Drover needs ${show(want)}`);
  for (const [k, want] of Object.entries(spec.enforce ?? {}))
    if (!same(cur[k], want)) {
      out[k] = want;
      changes.push(`${k} ${show(cur[k])} → ${show(want)}`);
    }
  for (const [k, want] of Object.entries(spec.ifUnset ?? {}))
    if (unset(cur[k]) && !unset(want)) {
      out[k] = want;
      changes.push(`${k} ${show(cur[k])} → ${show(want)}`);
    }
  return { patch, changes, refusals };
}

/** What a process does about a bucket's TTL (heartbeats or the lease). */
export type TtlDecision =
  /** Use the bucket's TTL as it is. */
  | { kind: "use"; ms: number }
  /** Raise the bucket's TTL to `ms`, then use it. */
  | { kind: "raise"; ms: number }
  /** The process asks for less than the bucket has: it must not start. */
  | { kind: "refuse"; bucketMs: number; configuredMs: number };

/**
 * The TTL a process runs with, given the bucket's (`bucketMs`, 0 for none) and the one it was
 * configured with (`undefined`: none given, so it adopts the bucket's).
 *
 * Raising is always safe: processes already running believe in a shorter TTL than the server
 * applies, so a leader stops assigning, and a worker fences itself, before it must. Lowering
 * is not: a process running with the longer TTL would go on assigning (or running its tasks)
 * after the server had expired its lease (or its heartbeat), so it is refused.
 */
export function resolveTtl(
  bucketMs: number,
  configuredMs: number | undefined,
  defaultMs: number,
): TtlDecision {
  if (bucketMs <= 0) return { kind: "raise", ms: configuredMs ?? defaultMs };
  if (configuredMs === undefined || configuredMs === bucketMs) return { kind: "use", ms: bucketMs };
  if (configuredMs > bucketMs) return { kind: "raise", ms: configuredMs };
  return { kind: "refuse", bucketMs, configuredMs };
}

/** Raised when existing resources cannot be brought to the configuration Drover needs. */
export class ConfigDriftError extends Error {
  readonly refusals: string[];
  constructor(refusals: string[]) {
    super(
      `the NATS resources do not match what this version of Drover needs:\n  ${refusals.join("\n  ")}`,
    );
    this.name = "ConfigDriftError";
    this.refusals = refusals;
  }
}
