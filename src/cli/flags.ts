/** Flag value parsing with one-line usage errors. */
import type { JsonValue } from "../protocol/index.ts";
import { UsageError } from "./command.ts";

type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

export function numFlag(values: Values, name: string, def: number): number {
  const raw = values[name];
  if (raw === undefined) return def;
  const n = Number(raw);
  if (typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(n) || n < 0)
    throw new UsageError(`--${name} must be a non-negative number, got '${String(raw)}'`);
  return n;
}

export function intFlag(values: Values, name: string, def: number): number {
  const n = numFlag(values, name, def);
  if (!Number.isInteger(n))
    throw new UsageError(`--${name} must be a whole number, got '${String(values[name])}'`);
  return n;
}

export function optIntFlag(values: Values, name: string): number | undefined {
  return values[name] === undefined ? undefined : intFlag(values, name, 0);
}

/** `--label k=v` (repeatable) or a comma-separated `k=v,k2=v2` fallback from the environment. */
export function labelsFlag(values: Values, name: string, env?: string): Record<string, string> {
  const raw = (values[name] as string[] | undefined) ?? (env ? env.split(",") : []);
  const out: Record<string, string> = {};
  for (const kv of raw) {
    const i = kv.indexOf("=");
    if (i <= 0) throw new UsageError(`--${name} must be key=value, got '${kv}'`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

export function jsonFlag(values: Values, name: string): JsonValue | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(String(raw)) as JsonValue;
  } catch (err) {
    throw new UsageError(`--${name} is not valid JSON: ${(err as Error).message}`);
  }
}

/** A whole number of at least 1. */
export function positiveIntFlag(values: Values, name: string, def: number): number {
  const n = intFlag(values, name, def);
  if (n < 1) throw new UsageError(`--${name} must be at least 1`);
  return n;
}

const UNIT_MS: Readonly<Record<string, number>> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * A point in time: an ISO date (`2026-12-02T09:00:00Z`), ms since the epoch, or a duration
 * before `now` (`90s`, `15m`, `2h`, `7d`). Milliseconds since the epoch.
 */
export function timeFlag(values: Values, name: string, now: number): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const s = String(raw).trim();
  const ago = /^(\d+)(s|m|h|d)$/.exec(s);
  if (ago !== null) return now - Number(ago[1]) * UNIT_MS[ago[2]!]!;
  if (/^\d+$/.test(s)) return Number(s);
  const t = Date.parse(s);
  if (s === "" || !Number.isFinite(t) || t < 0)
    throw new UsageError(
      `--${name} must be an ISO time, ms since the epoch or a duration ago (e.g. 15m, 2h, 7d), got '${s}'`,
    );
  return t;
}
