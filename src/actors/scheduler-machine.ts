/**
 * The scheduler actor: one XState machine per scheduler replica, tracking its leadership
 * (the leader lease key in KV, with its term and revision).
 *
 * Pure (machines import only xstate and the protocol): no clock, no I/O. Every event carries its time `at` (ms)
 * from the runtime's injected clock; there are no XState `after` delays (invariant 4):
 * the runtime renews the lease, watches the key, and checks {@link leaseExpired} before
 * every assignment (a paused leader must not assign under a stale term).
 *
 * States:
 *
 *     follower ──LEASE_FREE──▶ candidate ──ACQUIRED──▶ leader
 *     candidate ──ACQUIRE_FAILED──▶ follower
 *     leader ──RENEWED──▶ leader;  leader ──LEASE_LOST / RESIGN──▶ follower
 *     any ──STOP──▶ stopped (final)
 *
 * The runtime applies events with {@link applySchedulerEvent}: an illegal event is refused
 * and the snapshot is left untouched.
 */
import { setup, assign, initialTransition } from "xstate";
import { pureTransition } from "./pure-transition.ts";
import type { SnapshotFrom } from "xstate";

/** Context of the scheduler machine. */
export interface SchedulerContext {
  replicaId: string;
  /** The leadership term held by this replica; null unless leader. */
  term: number | null;
  /** KV revision of the lease key last written by this replica; null unless leader. */
  leaseRevision: number | null;
  leaseTtlMs: number;
  /** Time of the last successful acquisition or renewal; null unless leader. */
  lastRenewedAt: number | null;
  /** The current leader as far as this replica knows (itself when leader); null if unknown. */
  leaderId: string | null;
}

/** Input of the scheduler machine. */
export interface SchedulerInput {
  replicaId: string;
  leaseTtlMs: number;
}

/**
 * Events of the scheduler machine. `at` is the event time in ms on the runtime's clock
 * (injected; the runtime uses a monotonic one).
 */
export type SchedulerEvent =
  /** The lease key is absent, deleted or expired: try to acquire it. */
  | { type: "LEASE_FREE"; at: number }
  /**
   * This replica created the lease key: it leads under `term`; `revision` is the key's KV
   * revision; `leaseTtlMs`, when given, is the TTL the lease is held with from now on (the
   * leader bucket's, which may differ from the configured one).
   */
  | { type: "ACQUIRED"; at: number; term: number; revision: number; leaseTtlMs?: number }
  /** Another replica won the race. */
  | { type: "ACQUIRE_FAILED"; at: number; leaderId: string }
  /** The lease was renewed at KV revision `revision` (must be newer than the last one). */
  | { type: "RENEWED"; at: number; revision: number }
  /** The lease could not be renewed (revision conflict, expiry, disconnection). */
  | { type: "LEASE_LOST"; at: number; reason: string }
  /** Give up leadership voluntarily (the runtime deletes the key). */
  | { type: "RESIGN"; at: number }
  /** The lease key names `leaderId` as leader. */
  | { type: "OBSERVED_LEADER"; at: number; leaderId: string }
  /** Stop the replica. */
  | { type: "STOP"; at: number };

/** Type of a {@link SchedulerEvent}. */
export type SchedulerEventType = SchedulerEvent["type"];

/** Every scheduler event type. */
export const SCHEDULER_EVENT_TYPES: readonly SchedulerEventType[] = [
  "LEASE_FREE",
  "ACQUIRED",
  "ACQUIRE_FAILED",
  "RENEWED",
  "LEASE_LOST",
  "RESIGN",
  "OBSERVED_LEADER",
  "STOP",
];

/** Every state of the scheduler machine. */
export const SCHEDULER_STATES = ["follower", "candidate", "leader", "stopped"] as const;

/** A state of the scheduler machine. */
export type SchedulerState = (typeof SCHEDULER_STATES)[number];

/** Leadership fields cleared when the replica stops leading. */
const NOT_LEADING = {
  term: null,
  leaseRevision: null,
  lastRenewedAt: null,
  leaderId: null,
} as const;

const machineSetup = setup({
  types: {
    context: {} as SchedulerContext,
    events: {} as SchedulerEvent,
    input: {} as SchedulerInput,
  },
  guards: {
    /** Renewals must move the lease revision forward (a late, reordered ack is stale). */
    revisionNewer: ({ context, event }) =>
      event.type === "RENEWED" &&
      (context.leaseRevision === null || event.revision > context.leaseRevision),
  },
  actions: {
    acquired: assign(({ context, event }) =>
      event.type === "ACQUIRED"
        ? {
            term: event.term,
            leaseRevision: event.revision,
            lastRenewedAt: event.at,
            leaderId: context.replicaId,
            leaseTtlMs: event.leaseTtlMs ?? context.leaseTtlMs,
          }
        : {},
    ),
    renewed: assign(({ event }) =>
      event.type === "RENEWED" ? { leaseRevision: event.revision, lastRenewedAt: event.at } : {},
    ),
    observed: assign(({ event }) =>
      event.type === "OBSERVED_LEADER" || event.type === "ACQUIRE_FAILED"
        ? { leaderId: event.leaderId }
        : {},
    ),
    stepDown: assign(() => ({ ...NOT_LEADING })),
  },
});

const stop = { STOP: { target: "#scheduler.stopped" } } as const;
const observe = { OBSERVED_LEADER: { actions: "observed" } } as const;

/**
 * The scheduler machine. Start it with {@link initialSchedulerSnapshot} and apply events
 * with {@link applySchedulerEvent}.
 */
export const schedulerMachine = machineSetup.createMachine({
  id: "scheduler",
  context: ({ input }) => ({
    replicaId: input.replicaId,
    term: null,
    leaseRevision: null,
    leaseTtlMs: input.leaseTtlMs,
    lastRenewedAt: null,
    leaderId: null,
  }),
  initial: "follower",
  states: {
    follower: {
      on: { LEASE_FREE: { target: "candidate" }, ...observe, ...stop },
    },
    candidate: {
      on: {
        ACQUIRED: { target: "leader", actions: "acquired" },
        ACQUIRE_FAILED: { target: "follower", actions: "observed" },
        ...observe,
        ...stop,
      },
    },
    leader: {
      on: {
        RENEWED: { guard: "revisionNewer", actions: "renewed" },
        LEASE_LOST: { target: "follower", actions: "stepDown" },
        RESIGN: { target: "follower", actions: "stepDown" },
        ...stop,
      },
    },
    stopped: { type: "final" },
  },
});

/** A snapshot of the scheduler machine. */
export type SchedulerSnapshot = SnapshotFrom<typeof schedulerMachine>;

/** Result of {@link applySchedulerEvent}. */
export type ApplySchedulerResult =
  { ok: true; snapshot: SchedulerSnapshot; changed: boolean } | { ok: false; reason: string };

/** The initial snapshot (`follower`) for `input`. */
export function initialSchedulerSnapshot(input: SchedulerInput): SchedulerSnapshot {
  return initialTransition(schedulerMachine, input)[0];
}

/** The state of a snapshot. */
export function schedulerState(snapshot: SchedulerSnapshot): SchedulerState {
  return snapshot.value;
}

/** Whether this replica currently leads. */
export function isLeader(snapshot: SchedulerSnapshot): boolean {
  return snapshot.status === "active" && snapshot.value === "leader";
}

/**
 * True when this replica leads (holds a term) and its last renewal is older than the TTL
 * minus a safety margin: `now - lastRenewedAt > leaseTtlMs - marginMs`. The runtime must
 * then stop assigning: another replica may already lead under a newer term.
 * False when not leading.
 */
export function leaseExpired(
  context: Pick<SchedulerContext, "term" | "lastRenewedAt" | "leaseTtlMs">,
  now: number,
  marginMs: number,
): boolean {
  return (
    context.term !== null &&
    context.lastRenewedAt !== null &&
    now - context.lastRenewedAt > context.leaseTtlMs - marginMs
  );
}

/** Event types the machine accepts in `snapshot`'s state (ignoring guards). */
export function acceptedSchedulerEvents(snapshot: SchedulerSnapshot): SchedulerEventType[] {
  if (snapshot.status !== "active") return [];
  const own = new Set<string>();
  for (const node of snapshot._nodes) for (const type of node.ownEvents) own.add(type);
  return SCHEDULER_EVENT_TYPES.filter((type) => own.has(type));
}

/**
 * Applies one event to a scheduler snapshot, purely. Illegal events (wrong state, a
 * renewal with a revision not newer than the current one) are refused and nothing changes.
 *
 * `changed` is false when neither the state nor the context changed (e.g. an
 * OBSERVED_LEADER repeating the known leader).
 */
export function applySchedulerEvent(
  snapshot: SchedulerSnapshot,
  event: SchedulerEvent,
): ApplySchedulerResult {
  const state = String(snapshot.value);
  if (snapshot.status !== "active" || !acceptedSchedulerEvents(snapshot).includes(event.type)) {
    return { ok: false, reason: `illegal event ${event.type} in state ${state}` };
  }
  if (!snapshot.can(event)) {
    if (event.type === "RENEWED") {
      return {
        ok: false,
        reason: `stale renewal: revision ${event.revision} is not newer than ${snapshot.context.leaseRevision ?? "none"}`,
      };
    }
    return { ok: false, reason: `event ${event.type} refused in state ${state}` };
  }
  const next = pureTransition(schedulerMachine, snapshot, event);
  const changed =
    next.value !== snapshot.value ||
    JSON.stringify(next.context) !== JSON.stringify(snapshot.context);
  return { ok: true, snapshot: next, changed };
}
