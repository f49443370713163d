/**
 * Idempotency keys: one entry per key in the idempotency bucket, naming the task it created.
 *
 * An entry lives at least as long as its task. It is written without a TTL when the task is
 * submitted; when the task finishes, the store rewrites it with the task's retention as TTL
 * and marks it finished, so that a resubmit after the record has expired still answers with
 * the old id (and runs nothing) until the key expires too. A re-run (`retry`) takes the TTL
 * off again.
 */
import { createHash } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import { encode } from "../protocol/index.ts";
import { retryTransient } from "./kv-util.ts";

/** The value of an idempotency entry. */
export interface IdempotencyEntry {
  /** The task the key created. */
  id: string;
  /** When the key was first written (epoch ms). */
  at: number;
  /** Set once the task finished: its record expires after its retention, the key after that. */
  finishedAt?: number;
}

/** The bucket key of an idempotency key (any string): its SHA-256, hex. */
export function idempotencyEntryKey(idempotencyKey: string): string {
  return createHash("sha256").update(idempotencyKey).digest("hex");
}

/** Reads an entry's value; null for anything that is not one. */
export function parseIdempotencyEntry(value: Uint8Array): IdempotencyEntry | null {
  try {
    const v = JSON.parse(new TextDecoder().decode(value)) as Partial<IdempotencyEntry>;
    if (typeof v.id !== "string" || typeof v.at !== "number") return null;
    return {
      id: v.id,
      at: v.at,
      ...(typeof v.finishedAt === "number" ? { finishedAt: v.finishedAt } : {}),
    };
  } catch {
    return null;
  }
}

/** A NATS message TTL for `ms` (whole seconds, at least one). */
export function ttlHeader(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1_000))}s`;
}

/**
 * Rewrites the entry of `idempotencyKey` for task `id`: with `ttlMs`, marked finished and
 * expiring after it; without, kept until the task finishes again.
 */
export async function putIdempotencyEntry(
  js: JetStreamClient,
  bucket: string,
  idempotencyKey: string,
  entry: IdempotencyEntry,
  ttlMs: number | null,
): Promise<void> {
  const subject = `$KV.${bucket}.${idempotencyEntryKey(idempotencyKey)}`;
  await retryTransient(() =>
    js.publish(subject, encode(entry), ttlMs === null ? {} : { ttl: ttlHeader(ttlMs) }),
  );
}
