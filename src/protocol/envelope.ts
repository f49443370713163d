/**
 * The wire envelope: protocol version and reply helpers. The error reply shape
 * (`ErrorReply`, `Issue`) lives in errors.ts, next to the codes it uses.
 */
import { z } from "zod";
import { ErrorReply } from "./errors.ts";

/** Current wire format version. Messages carry it as `v`. */
export const PROTOCOL_VERSION = 1;

/** `v` on internal messages (required, so a future v2 producer is detected). */
export const Version = z.literal(PROTOCOL_VERSION);

/** `v` on API requests: optional so that `nats req` users may omit it. */
export const OptionalVersion = z.literal(PROTOCOL_VERSION).optional();

/** Builds a successful reply: `{ ok: true, ...body }`. */
export function okReply<T extends object>(body: T): { ok: true } & T {
  return { ok: true, ...body };
}

/** Schema of "the success body or an ErrorReply", discriminated on `ok`. */
export function apiReply<S extends z.ZodObject<{ ok: z.ZodLiteral<true> }>>(success: S) {
  return z.discriminatedUnion("ok", [success, ErrorReply]);
}

/** A reply that is either the success body `T` or an {@link ErrorReply}. */
export type ApiReply<T> = T | ErrorReply;
