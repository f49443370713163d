/**
 * The worker actor: one XState machine per worker process, tracking its registration,
 * the tasks it runs and the resources they hold, its heartbeat and its drain.
 *
 * Pure (machines import only xstate and the protocol): no clock, no I/O. Every event carries its time `at` (ms)
 * from the runtime's injected clock; there are no XState `after` delays (invariant 4):
 * the runtime owns the heartbeat and drain timers, checks {@link heartbeatOverdue} and
 * `drainDeadline`, and sends `LEASE_LOST` / `DRAINED` itself.
 *
 * States:
 *
 *     starting ──CONNECTED──▶ registering ──REGISTERED──▶ ready.idle ⇄ ready.busy
 *     ready ──DRAIN──▶ draining ──(last TASK_FINISHED / CANCEL_TASK, or DRAINED)──▶ stopped
 *     ready, draining ──LEASE_LOST──▶ fenced ──REGISTERED──▶ ready.idle
 *     any non-final ──STOP──▶ stopped (final)
 *
 * `ready.busy` ⇔ `running` is non-empty (eventless transitions keep it so). A `draining`
 * worker with nothing running stops at once, so `DRAIN` on an idle worker lands in `stopped`.
 *
 * The runtime applies events with {@link applyWorkerEvent}: an illegal event is refused
 * and the snapshot is left untouched.
 */
import { setup, assign, initialTransition } from "xstate";
import { pureTransition } from "./pure-transition.ts";
import type { SnapshotFrom } from "xstate";
import type { Resources } from "../protocol/index.ts";
import type { RunningTask } from "./running-tasks.ts";
import { RunningTasks } from "./running-tasks.ts";

/**
 * Tolerance for summed fractional resources (0.1 + 0.2 ≠ 0.3 in floating point). The leader's
 * placement (`fits`) is exact; the worker is deliberately a hair more lenient so that a sum
 * taken in a different order can never make it refuse what the leader placed (refuse → requeue
 * → same placement, forever).
 */
const EPSILON = 1e-9;

export type { RunningTask } from "./running-tasks.ts";

/** Context of the worker machine. */
export interface WorkerContext {
  workerId: string;
  capacity: Resources;
  /** Running tasks by task id (an immutable map; see running-tasks.ts). */
  running: RunningTasks;
  /**
   * The resources the running tasks hold together, kept with `running` on every step, so that
   * a guard does not walk every running task (a worker with a thousand slots would, twice per
   * event).
   */
  used: Resources;
  /** Time of the last successful heartbeat (registration counts), null before registering. */
  lastHeartbeatAt: number | null;
  heartbeatTtlMs: number;
  /** When the worker fenced itself (lost its heartbeat lease); null when not fenced. */
  fencedAt: number | null;
  /** `DRAIN.at + graceMs`: when the runtime sends `DRAINED`; null when not draining. */
  drainDeadline: number | null;
}

/** Input of the worker machine. */
export interface WorkerInput {
  workerId: string;
  capacity: Resources;
  heartbeatTtlMs: number;
}

/** Events of the worker machine. `at` is the event time in epoch ms (injected clock). */
export type WorkerEvent =
  /** Connected to NATS. */
  | { type: "CONNECTED"; at: number }
  /** The worker registry entry was written (first registration, or re-registration after fencing). */
  | { type: "REGISTERED"; at: number }
  /** A heartbeat was renewed. */
  | { type: "HEARTBEAT_OK"; at: number }
  /** The leader assigned a task (refused when it does not fit or is already running). */
  | { type: "ASSIGN"; at: number; taskId: string; epoch: number; resources: Resources }
  /** A running task's handler returned (any outcome). */
  | { type: "TASK_FINISHED"; at: number; taskId: string }
  /** A running task was cancelled and aborted. */
  | { type: "CANCEL_TASK"; at: number; taskId: string }
  /** The heartbeat could not be renewed within the TTL: the runtime aborts every running task. */
  | { type: "LEASE_LOST"; at: number }
  /** Stop accepting work; wait up to `graceMs` for running tasks. */
  | { type: "DRAIN"; at: number; graceMs: number }
  /** The drain grace period is over (running tasks are abandoned / released by the runtime). */
  | { type: "DRAINED"; at: number }
  /** Stop now. */
  | { type: "STOP"; at: number };

/** Type of a {@link WorkerEvent}. */
export type WorkerEventType = WorkerEvent["type"];

/** Every worker event type. */
export const WORKER_EVENT_TYPES: readonly WorkerEventType[] = [
  "CONNECTED",
  "REGISTERED",
  "HEARTBEAT_OK",
  "ASSIGN",
  "TASK_FINISHED",
  "CANCEL_TASK",
  "LEASE_LOST",
  "DRAIN",
  "DRAINED",
  "STOP",
];

/** Every (leaf) state of the worker machine, as dotted names. */
export const WORKER_STATES = [
  "starting",
  "registering",
  "ready.idle",
  "ready.busy",
  "draining",
  "fenced",
  "stopped",
] as const;

/** A (leaf) state of the worker machine. */
export type WorkerState = (typeof WORKER_STATES)[number];

const DIMENSIONS = ["cpu", "memoryMb", "slots"] as const;

const NONE: Resources = Object.freeze({ cpu: 0, memoryMb: 0, slots: 0 });

/** Resources held by all running tasks (a copy). */
export function workerUsedResources(context: Pick<WorkerContext, "used">): Resources {
  return { ...context.used };
}

/** `used` with `r` added (`sign` 1) or taken out (`sign` -1). */
function plus(used: Resources, r: Resources, sign: 1 | -1): Resources {
  return {
    cpu: used.cpu + sign * r.cpu,
    memoryMb: used.memoryMb + sign * r.memoryMb,
    slots: used.slots + sign * r.slots,
  };
}

/**
 * Free capacity: capacity − sum of running tasks' resources (may be negative if capacity shrank).
 * Named apart from the placement `freeCapacity(WorkerView)`, which `src/actors/index.ts` also re-exports.
 */
export function workerFreeCapacity(context: Pick<WorkerContext, "capacity" | "used">): Resources {
  const used = context.used;
  return {
    cpu: context.capacity.cpu - used.cpu,
    memoryMb: context.capacity.memoryMb - used.memoryMb,
    slots: context.capacity.slots - used.slots,
  };
}

/** Whether `resources` fit in the free capacity, in every dimension. */
export function canAccept(
  context: Pick<WorkerContext, "capacity" | "used">,
  resources: Resources,
): boolean {
  const free = workerFreeCapacity(context);
  return DIMENSIONS.every((d) => resources[d] >= 0 && free[d] + EPSILON >= resources[d]);
}

/**
 * The runtime's self-fencing check: true when the last heartbeat is older than the TTL
 * minus a safety margin, i.e. `now - lastHeartbeatAt > heartbeatTtlMs - marginMs`.
 * False before the first heartbeat.
 */
export function heartbeatOverdue(
  context: Pick<WorkerContext, "lastHeartbeatAt" | "heartbeatTtlMs">,
  now: number,
  marginMs: number,
): boolean {
  return (
    context.lastHeartbeatAt !== null &&
    now - context.lastHeartbeatAt > context.heartbeatTtlMs - marginMs
  );
}

function isRunning(context: WorkerContext, event: WorkerEvent): boolean {
  return "taskId" in event && context.running.has(event.taskId);
}

const machineSetup = setup({
  types: {
    context: {} as WorkerContext,
    events: {} as WorkerEvent,
    input: {} as WorkerInput,
  },
  guards: {
    hasRunning: ({ context }) => context.running.size > 0,
    noneRunning: ({ context }) => context.running.size === 0,
    /** ASSIGN of a task not already running that fits in the free capacity. */
    canAssign: ({ context, event }) =>
      event.type === "ASSIGN" && !isRunning(context, event) && canAccept(context, event.resources),
    /** TASK_FINISHED / CANCEL_TASK of a task this worker runs. */
    isRunning: ({ context, event }) => isRunning(context, event),
  },
  actions: {
    registered: assign(({ event }) => ({ lastHeartbeatAt: event.at, fencedAt: null })),
    heartbeat: assign(({ event }) => ({ lastHeartbeatAt: event.at })),
    addTask: assign(({ context, event }) => {
      if (event.type !== "ASSIGN") return {};
      const task: RunningTask = {
        epoch: event.epoch,
        resources: { ...event.resources },
        startedAt: event.at,
      };
      return {
        running: context.running.with(event.taskId, task),
        used: plus(context.used, task.resources, 1),
      };
    }),
    removeTask: assign(({ context, event }) => {
      if (!("taskId" in event)) return {};
      const task = context.running.get(event.taskId);
      if (task === undefined) return {};
      const running = context.running.without(event.taskId);
      return {
        running,
        // Back to exact zeros when nothing runs: sums of fractions do not drift for ever.
        used: running.size === 0 ? { ...NONE } : plus(context.used, task.resources, -1),
      };
    }),
    fence: assign(({ event }) => ({
      running: RunningTasks.empty,
      used: { ...NONE },
      fencedAt: event.at,
    })),
    drain: assign(({ event }) =>
      event.type === "DRAIN" ? { drainDeadline: event.at + event.graceMs } : {},
    ),
  },
});

const stop = { STOP: { target: "#worker.stopped" } } as const;
const heartbeat = { HEARTBEAT_OK: { actions: "heartbeat" } } as const;
const fence = { LEASE_LOST: { target: "#worker.fenced", actions: "fence" } } as const;
const finish = { guard: "isRunning", actions: "removeTask" } as const;

/**
 * The worker machine. Start it with {@link initialWorkerSnapshot} and apply events with
 * {@link applyWorkerEvent}.
 */
export const workerMachine = machineSetup.createMachine({
  id: "worker",
  context: ({ input }) => ({
    workerId: input.workerId,
    capacity: { ...input.capacity },
    running: RunningTasks.empty,
    used: { ...NONE },
    lastHeartbeatAt: null,
    heartbeatTtlMs: input.heartbeatTtlMs,
    fencedAt: null,
    drainDeadline: null,
  }),
  initial: "starting",
  states: {
    starting: {
      on: { CONNECTED: { target: "registering" }, ...stop },
    },
    registering: {
      on: { REGISTERED: { target: "ready", actions: "registered" }, ...stop },
    },
    ready: {
      initial: "idle",
      states: {
        idle: { always: { guard: "hasRunning", target: "busy" } },
        busy: { always: { guard: "noneRunning", target: "idle" } },
      },
      on: {
        ASSIGN: { guard: "canAssign", actions: "addTask" },
        TASK_FINISHED: finish,
        CANCEL_TASK: finish,
        DRAIN: { target: "draining", actions: "drain" },
        ...heartbeat,
        ...fence,
        ...stop,
      },
    },
    draining: {
      always: { guard: "noneRunning", target: "stopped" },
      on: {
        TASK_FINISHED: finish,
        CANCEL_TASK: finish,
        DRAINED: { target: "stopped" },
        ...heartbeat,
        ...fence,
        ...stop,
      },
    },
    fenced: {
      on: { REGISTERED: { target: "ready", actions: "registered" }, ...stop },
    },
    stopped: { type: "final" },
  },
});

/** A snapshot of the worker machine. */
export type WorkerSnapshot = SnapshotFrom<typeof workerMachine>;

/** Result of {@link applyWorkerEvent}. */
export type ApplyWorkerResult =
  { ok: true; snapshot: WorkerSnapshot; changed: boolean } | { ok: false; reason: string };

/** The initial snapshot (`starting`) for `input`. */
export function initialWorkerSnapshot(input: WorkerInput): WorkerSnapshot {
  return initialTransition(workerMachine, input)[0];
}

/** The (leaf) state of a snapshot as a dotted name, e.g. `ready.busy`. */
export function workerState(snapshot: WorkerSnapshot): WorkerState {
  const value: unknown = snapshot.value;
  if (typeof value === "string") return value as WorkerState;
  const [parent, child] = Object.entries(value as Record<string, string>)[0] ?? ["?", "?"];
  return `${parent}.${child}` as WorkerState;
}

/** Event types the machine accepts in `snapshot`'s state (ignoring guards). */
export function acceptedWorkerEvents(snapshot: WorkerSnapshot): WorkerEventType[] {
  if (snapshot.status !== "active") return [];
  const own = new Set<string>();
  for (const node of snapshot._nodes) for (const type of node.ownEvents) own.add(type);
  return WORKER_EVENT_TYPES.filter((type) => own.has(type));
}

function refusal(snapshot: WorkerSnapshot, event: WorkerEvent): { ok: false; reason: string } {
  const state = workerState(snapshot);
  const refuse = (reason: string) => ({ ok: false as const, reason });
  if (!acceptedWorkerEvents(snapshot).includes(event.type))
    return refuse(`illegal event ${event.type} in state ${state}`);
  const { context } = snapshot;
  switch (event.type) {
    case "ASSIGN": {
      if (isRunning(context, event))
        return refuse(`task ${event.taskId} is already running on worker ${context.workerId}`);
      const free = workerFreeCapacity(context);
      return refuse(
        `task ${event.taskId} does not fit on worker ${context.workerId}: requested ${JSON.stringify(event.resources)}, free ${JSON.stringify(free)}`,
      );
    }
    case "TASK_FINISHED":
    case "CANCEL_TASK":
      return refuse(`task ${event.taskId} is not running on worker ${context.workerId}`);
    default:
      return refuse(`event ${event.type} refused in state ${state}`);
  }
}

/**
 * Applies one event to a worker snapshot, purely. Illegal events (wrong state, an ASSIGN
 * that does not fit or duplicates a running task, finishing a task that is not running)
 * are refused and nothing changes.
 *
 * `changed` is false when neither the state nor the context changed.
 */
export function applyWorkerEvent(snapshot: WorkerSnapshot, event: WorkerEvent): ApplyWorkerResult {
  if (snapshot.status !== "active" || !snapshot.can(event)) return refusal(snapshot, event);
  const next = pureTransition(workerMachine, snapshot, event);
  const changed =
    workerState(next) !== workerState(snapshot) || !sameContext(next.context, snapshot.context);
  return { ok: true, snapshot: next, changed };
}

/** Field by field; `running` by identity (a step that changes it makes a new one). */
function sameContext(a: WorkerContext, b: WorkerContext): boolean {
  if (a === b) return true;
  for (const key of Object.keys(a) as (keyof WorkerContext)[]) {
    if (key === "capacity" || key === "used") continue;
    if (a[key] !== b[key]) return false;
  }
  return sameEntries(a.capacity, b.capacity) && sameEntries(a.used, b.used);
}

function sameEntries<T extends object>(a: T, b: T): boolean {
  if (a === b) return true;
  const keys = Object.keys(a) as (keyof T)[];
  return (
    keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k])
  );
}
