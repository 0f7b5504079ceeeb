import { createActor, type AnyActorScope, type AnyMachineSnapshot, type AnyStateMachine, type EventObject } from 'xstate';

export interface ExecutableAction {
  readonly type: string;
  readonly params?: unknown;
}

/**
 * XState's pure `transition()`/`initialTransition()`, minus their cost: those build a fresh
 * inert actor (and run the machine's initial state) on every call, which dominates a turn.
 * Our machines spawn no children and have no delays, so one inert scope per machine can be
 * reused; actions are collected, never executed, exactly as XState's own helpers do.
 */
export class MachineStepper {
  private readonly scope: AnyActorScope;
  private collected: ExecutableAction[] = [];

  constructor(private readonly machine: AnyStateMachine, probeInput: unknown) {
    const self = createActor(machine, { input: probeInput });
    this.scope = {
      self,
      defer: () => {},
      id: '',
      logger: () => {},
      sessionId: '',
      stopChild: () => {},
      system: self.system,
      emit: () => {},
      actionExecutor: (action: ExecutableAction) => {
        this.collected.push(action);
      },
    } as unknown as AnyActorScope;
  }

  initial(input: unknown): [AnyMachineSnapshot, ExecutableAction[]] {
    this.collected = [];
    const snapshot = this.machine.getInitialSnapshot(this.scope, input) as AnyMachineSnapshot;
    return [snapshot, this.collected];
  }

  step(snapshot: AnyMachineSnapshot, event: EventObject): [AnyMachineSnapshot, ExecutableAction[]] {
    this.collected = [];
    const next = this.machine.transition(snapshot, event, this.scope) as AnyMachineSnapshot;
    return [next, this.collected];
  }
}
