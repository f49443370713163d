/**
 * The actors: pure XState machines and placement strategies. Imports only xstate and the
 * protocol; every effect is performed by the runtime.
 */
export * from "./task-machine.ts";
export * from "./backoff.ts";
export * from "./assignment-backoff.ts";
export * from "./queue-index.ts";
export * from "./shapes.ts";
export * from "./scheduling-pass.ts";
export * from "./interner.ts";
export * from "./scheduler-machine.ts";
export * from "./placement/index.ts";
export {
  acceptedWorkerEvents,
  applyWorkerEvent,
  canAccept,
  workerFreeCapacity,
  heartbeatOverdue,
  initialWorkerSnapshot,
  workerUsedResources,
  WORKER_EVENT_TYPES,
  WORKER_STATES,
  workerMachine,
  workerState,
} from "./worker-machine.ts";
export type {
  ApplyWorkerResult,
  RunningTask as WorkerRunningTask,
  WorkerContext,
  WorkerEvent,
  WorkerEventType,
  WorkerInput,
  WorkerSnapshot,
  WorkerState as WorkerMachineState,
} from "./worker-machine.ts";
export * from "./demand.ts";
export * from "./foreign-tasks.ts";
export * from "./task-timer.ts";
export * from "./autoscaler-machine.ts";
export * from "./admission.ts";
export * from "./schedule-ticks.ts";
export * from "./schedule-plan.ts";
