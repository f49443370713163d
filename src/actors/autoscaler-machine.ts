/**
 * The autoscaler actor: one XState machine per worker pool, run by the leader, turning the
 * pool's demand into a desired worker count.
 *
 * Pure: no clock, no I/O; every event carries its time `at`. The runtime sends `DEMAND` about
 * once a second while it leads, and writes and publishes the decision when `desired` changes.
 *
 * Each `DEMAND` gives a recommendation: the workers that would hold the pool's queued and
 * running work at the target utilisation (at least one more than the ready workers while
 * some queued task fits no live worker but would fit a new one), within min and max. Then, as
 * Kubernetes' HPA stabilises:
 *
 * - up to the smallest recommendation of the scale-up window, when that is above `desired`;
 * - else down to the largest recommendation of the scale-down window, when that is below;
 * - by at most `maxStep` workers either way.
 *
 * So a count goes up only once every recommendation for `scaleUpWindowMs` asked for more, and
 * down only once none for `scaleDownWindowMs` needed as many: after a scale-up, no scale-down
 * for a whole scale-down window (the recommendation that caused it is in that window), and
 * after a scale-down no scale-up for a whole scale-up window. The machine starts with its
 * starting count as if recommended at `at`, so a new leader's autoscaler does not scale down
 * before a full window of its own.
 *
 *     steady | scaledUp | scaledDown  (the direction of the last change) ──STOP──▶ stopped
 *
 * A `POLICY` event replaces the policy; the count is clamped into the new min..max at once.
 */
import { assign, initialTransition, setup } from "xstate";
import { pureTransition } from "./pure-transition.ts";
import type { SnapshotFrom } from "xstate";
import type { PoolDemand, ScalePolicy } from "../protocol/index.ts";

/** One recommendation, kept for the stabilisation windows. */
export interface Recommendation {
  at: number;
  n: number;
}

/** The outcome of the last evaluation (what the runtime records and publishes). */
export interface ScaleEvaluation {
  at: number;
  previous: number;
  desired: number;
  /** What the demand alone asks for (target utilisation applied; min and max not). */
  recommended: number;
  reason: string;
  demand: PoolDemand | null;
}

export interface AutoscalerContext {
  pool: string;
  policy: ScalePolicy;
  desired: number;
  /** Recommendations (within min..max) of the longer window, oldest first. */
  history: Recommendation[];
  last: ScaleEvaluation | null;
}

export interface AutoscalerInput {
  pool: string;
  policy: ScalePolicy;
  /** The count to start from (the workers that exist, or the last decision), clamped. */
  desired: number;
  at: number;
}

export type AutoscalerEvent =
  | { type: "DEMAND"; at: number; demand: PoolDemand }
  | { type: "POLICY"; at: number; policy: ScalePolicy }
  | { type: "STOP"; at: number };

export const AUTOSCALER_STATES = ["steady", "scaledUp", "scaledDown", "stopped"] as const;
export type AutoscalerState = (typeof AUTOSCALER_STATES)[number];

const clamp = (n: number, p: ScalePolicy): number => Math.min(p.max, Math.max(p.min, n));

/** The workers the demand asks for at the policy's target utilisation. */
export function recommendedWorkers(demand: PoolDemand, policy: ScalePolicy): number {
  const atTarget =
    demand.workersAtFullUse <= 0
      ? 0
      : Math.ceil(demand.workersAtFullUse / policy.targetUtilisation - 1e-9);
  return demand.waiting > 0 ? Math.max(atTarget, demand.ready + 1) : atTarget;
}

const sec = (ms: number): string => `${Math.round(ms / 100) / 10} s`;

/** One evaluation of a demand (pure): the new count, the kept history and why. */
export function evaluateDemand(
  c: Pick<AutoscalerContext, "policy" | "desired" | "history">,
  at: number,
  demand: PoolDemand,
): { desired: number; history: Recommendation[]; evaluation: ScaleEvaluation } {
  const p = c.policy;
  const recommended = recommendedWorkers(demand, p);
  const n = clamp(recommended, p);
  const keep = Math.max(p.scaleUpWindowMs, p.scaleDownWindowMs);
  const history = [...c.history.filter((h) => h.at > at - keep && h.at <= at), { at, n }];
  const within = (w: number): number[] =>
    history.filter((h) => h.at > at - w || h.at === at).map((h) => h.n);
  const up = Math.min(...within(p.scaleUpWindowMs));
  const down = Math.max(...within(p.scaleDownWindowMs));
  const why =
    `${demand.queuedTasks} queued (${demand.waiting} fit no live worker), ` +
    `${demand.used.slots} slots in use of ${demand.capacity.slots} on ${demand.ready} ready workers: ` +
    `${recommended} workers at ${Math.round(p.targetUtilisation * 100)}% use`;
  let desired = c.desired;
  let reason: string;
  if (up > c.desired) {
    desired = Math.min(up, c.desired + p.maxStep);
    reason = `scale up ${c.desired} → ${desired}: ${why}${desired < up ? ` (step at most ${p.maxStep})` : ""}${n < recommended ? ` (max ${p.max})` : ""}`;
  } else if (down < c.desired) {
    desired = Math.max(down, c.desired - p.maxStep);
    reason = `scale down ${c.desired} → ${desired}: ${why}${n > recommended ? ` (min ${p.min})` : ""}`;
  } else if (n > c.desired) {
    reason = `hold ${c.desired}: ${why}; more once asked for during ${sec(p.scaleUpWindowMs)}`;
  } else if (n < c.desired) {
    reason = `hold ${c.desired}: ${why}; fewer once not needed for ${sec(p.scaleDownWindowMs)}`;
  } else {
    reason = `hold ${c.desired}: ${why}`;
  }
  return {
    desired,
    history,
    evaluation: { at, previous: c.desired, desired, recommended, reason, demand },
  };
}

const machineSetup = setup({
  types: {
    context: {} as AutoscalerContext,
    events: {} as AutoscalerEvent,
    input: {} as AutoscalerInput,
  },
  guards: {
    scalesUp: ({ context, event }) =>
      (event.type === "DEMAND" &&
        evaluateDemand(context, event.at, event.demand).desired > context.desired) ||
      (event.type === "POLICY" && clamp(context.desired, event.policy) > context.desired),
    scalesDown: ({ context, event }) =>
      (event.type === "DEMAND" &&
        evaluateDemand(context, event.at, event.demand).desired < context.desired) ||
      (event.type === "POLICY" && clamp(context.desired, event.policy) < context.desired),
  },
  actions: {
    evaluate: assign(({ context, event }) => {
      if (event.type === "DEMAND") {
        const { desired, history, evaluation } = evaluateDemand(context, event.at, event.demand);
        return { desired, history, last: evaluation };
      }
      if (event.type === "POLICY") {
        const desired = clamp(context.desired, event.policy);
        const evaluation: ScaleEvaluation = {
          at: event.at,
          previous: context.desired,
          desired,
          recommended: context.last?.recommended ?? desired,
          reason:
            desired === context.desired
              ? `policy changed: min ${event.policy.min}, max ${event.policy.max}`
              : `policy changed: ${context.desired} → ${desired} to stay within min ${event.policy.min} and max ${event.policy.max}`,
          demand: context.last?.demand ?? null,
        };
        // The new bounds apply to what was recommended before too.
        const history = context.history.map((h) => ({ at: h.at, n: clamp(h.n, event.policy) }));
        return { policy: event.policy, desired, history, last: evaluation };
      }
      return {};
    }),
  },
});

const react = {
  DEMAND: [
    { guard: "scalesUp", target: "#autoscaler.scaledUp", actions: "evaluate" },
    { guard: "scalesDown", target: "#autoscaler.scaledDown", actions: "evaluate" },
    { actions: "evaluate" },
  ],
  POLICY: [
    { guard: "scalesUp", target: "#autoscaler.scaledUp", actions: "evaluate" },
    { guard: "scalesDown", target: "#autoscaler.scaledDown", actions: "evaluate" },
    { actions: "evaluate" },
  ],
  STOP: { target: "#autoscaler.stopped" },
} as const;

export const autoscalerMachine = machineSetup.createMachine({
  id: "autoscaler",
  context: ({ input }) => {
    const desired = clamp(input.desired, input.policy);
    return {
      pool: input.pool,
      policy: input.policy,
      desired,
      history: [{ at: input.at, n: desired }],
      last: null,
    };
  },
  initial: "steady",
  states: {
    steady: { on: react },
    scaledUp: { on: react },
    scaledDown: { on: react },
    stopped: { type: "final" },
  },
});

export type AutoscalerSnapshot = SnapshotFrom<typeof autoscalerMachine>;

export function initialAutoscalerSnapshot(input: AutoscalerInput): AutoscalerSnapshot {
  return initialTransition(autoscalerMachine, input)[0];
}

/** Applies one event, purely; a stopped machine ignores everything. */
export function applyAutoscalerEvent(
  snapshot: AutoscalerSnapshot,
  event: AutoscalerEvent,
): AutoscalerSnapshot {
  if (snapshot.status !== "active") return snapshot;
  return pureTransition(autoscalerMachine, snapshot, event);
}

export function autoscalerState(snapshot: AutoscalerSnapshot): AutoscalerState {
  return snapshot.value;
}
