/**
 * Resource vectors: what a task requests and what a worker offers.
 */
import { z } from "zod";

/**
 * A resource vector. Used both as a task's request and as a worker's capacity.
 * Units are abstract but must agree between tasks and workers.
 */
export const Resources = z.strictObject({
  /** CPU units (e.g. cores, fractional allowed). @default 0 */
  cpu: z.number().min(0).default(0),
  /** Memory in MiB. @default 0 */
  memoryMb: z.number().min(0).default(0),
  /** Concurrency slots: a task takes 1 by default; a worker offers 1 by default. @default 1 */
  slots: z.number().int().min(0).default(1),
});
/** A resource vector (parsed: every field present). */
export type Resources = z.output<typeof Resources>;
/** A resource vector as written by a client (fields optional). */
export type ResourcesInput = z.input<typeof Resources>;

/** A worker's capacity: the same shape as a request. */
export const Capacity = Resources;
/** A worker's capacity. */
export type Capacity = Resources;

/** The zero vector (no CPU, no memory, no slots). */
export const ZERO_RESOURCES: Readonly<Resources> = Object.freeze({ cpu: 0, memoryMb: 0, slots: 0 });
