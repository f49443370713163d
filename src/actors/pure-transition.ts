/**
 * A pure machine step without xstate's per-call set-up.
 *
 * xstate's own `transition(machine, snapshot, event)` builds a fresh inert actor (and with it
 * an actor system and the machine's initial snapshot) on every call, to have a scope to run
 * the step in. For Drover's machines, whose actions are all `assign`s and which spawn and
 * schedule nothing, that set-up was most of the step's cost (≈ 65 µs of ≈ 70 µs per task
 * event, measured by `npm run bench:machines`). The scope below is built once per machine and
 * reused; like `transition`, it executes no action (none of these machines has one that is
 * not an assignment), so a step stays a pure function of the snapshot and the event.
 */
import { createActor } from "xstate";
import type { ActorScope, AnyStateMachine, EventFrom, SnapshotFrom } from "xstate";

type Scope<M extends AnyStateMachine> = ActorScope<SnapshotFrom<M>, EventFrom<M>>;

const scopes = new WeakMap<AnyStateMachine, unknown>();

function inertScope<M extends AnyStateMachine>(machine: M): Scope<M> {
  const known = scopes.get(machine);
  if (known !== undefined) return known as Scope<M>;
  // Never started: it only lends the step a `self` and a `system`, as xstate's own does (and,
  // like xstate's, it is created without input: its own initial snapshot is never used).
  const self = createActor(machine);
  const scope = {
    self,
    system: self.system,
    id: "",
    sessionId: "",
    logger: () => undefined,
    defer: () => undefined,
    emit: () => undefined,
    stopChild: () => undefined,
    actionExecutor: () => undefined,
  } as unknown as Scope<M>;
  scopes.set(machine, scope);
  return scope;
}

/**
 * The snapshot after `event`, exactly as xstate's `transition(machine, snapshot, event)[0]`.
 */
export function pureTransition<M extends AnyStateMachine>(
  machine: M,
  snapshot: SnapshotFrom<M>,
  event: EventFrom<M>,
): SnapshotFrom<M> {
  return machine.transition(snapshot, event, inertScope(machine)) as SnapshotFrom<M>;
}
