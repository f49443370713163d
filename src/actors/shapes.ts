/**
 * Task shapes: the part of a task that decides which workers fit it (type, resources, labels).
 * Tasks of one shape fit exactly the same workers, so placement asks "does anything fit?"
 * once per shape, and a million tasks of one shape share one copy of its fields.
 */
import type { Resources } from "./placement/index.ts";

/** The part of a task that decides which workers fit it. Shared by every task of the shape. */
export interface Shape {
  /** Stable identity of the shape (its {@link shapeKey}), e.g. for explanations. */
  readonly id: string;
  readonly type: string;
  readonly resources: Resources;
  readonly labels: Readonly<Record<string, string>>;
}

/** The shape key of a task's placement-relevant fields (label order does not matter). */
export function shapeKey(
  type: string,
  resources: Resources,
  labels: Readonly<Record<string, string>>,
): string {
  const l = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k] ?? ""}`)
    .join(",");
  return `${type}|${resources.cpu}|${resources.memoryMb}|${resources.slots}|${l}`;
}
