import type { Scope, ExecutionAction } from '../src/domain/directive.js';

/** Events a runtime publishes (seeds/PLATFORM_EXECUTION_ORCHESTRATION.md). */
export type RuntimeEvent =
  | {
      readonly type: 'TRADE_EXECUTED';
      readonly directiveId: string;
      readonly scope: Scope;
      readonly action: ExecutionAction;
      readonly planId: string | null;
      readonly orderIds: readonly string[];
      readonly at: string;
    }
  | {
      readonly type: 'EXECUTION_FAILED';
      readonly directiveId: string;
      readonly scope: Scope;
      readonly action: ExecutionAction;
      readonly planId: string | null;
      readonly orderIds: readonly string[];
      readonly errorType: string;
      readonly errorMessage: string;
      readonly at: string;
    }
  | {
      /** Every flow ends with exactly one of these (the seeds' _flow_stop_success / _flow_stop_error). */
      readonly type: 'FLOW_STOPPED';
      readonly flowId: string;
      readonly finalState: 'SUCCESS' | 'ERROR';
      readonly reason: string;
      readonly durationMs: number;
      readonly at: string;
    };

export type RuntimeEventType = RuntimeEvent['type'];
type Listener<T extends RuntimeEventType> = (event: Extract<RuntimeEvent, { type: T }>) => void;

/** Synchronous publish/subscribe of runtime events; a throwing listener does not stop others. */
export class RuntimeEvents {
  private readonly listeners = new Map<RuntimeEventType, Set<(e: RuntimeEvent) => void>>();

  on<T extends RuntimeEventType>(type: T, listener: Listener<T>): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    const l = listener as (e: RuntimeEvent) => void;
    set.add(l);
    return () => set.delete(l);
  }

  publish(event: RuntimeEvent): void {
    for (const l of this.listeners.get(event.type) ?? []) {
      try {
        l(event);
      } catch (error) {
        process.emitWarning(`runtime event listener for ${event.type} threw: ${(error as Error).message}`);
      }
    }
  }
}

export interface FlowMetrics {
  readonly flows: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly totalDurationMs: number;
  readonly maxDurationMs: number;
  /** Flows slower than monitoring.alert_on_slow_execution_ms. */
  readonly slow: number;
}

/**
 * FlowTerminationHandler: the end of every flow. Records metrics (count, duration, failures)
 * and runs the cleanups flows registered (e.g. clearing their StrategyCache).
 */
export class FlowTerminationHandler {
  private m = { flows: 0, succeeded: 0, failed: 0, totalDurationMs: 0, maxDurationMs: 0, slow: 0 };
  private readonly cleanups = new Map<string, (() => void)[]>();

  constructor(
    events: RuntimeEvents,
    private readonly slowMs: number,
  ) {
    events.on('FLOW_STOPPED', (e) => this.onFlowStopped(e));
  }

  /** Runs `cleanup` when flow `flowId` stops. */
  onStop(flowId: string, cleanup: () => void): void {
    const list = this.cleanups.get(flowId) ?? [];
    list.push(cleanup);
    this.cleanups.set(flowId, list);
  }

  metrics(): FlowMetrics {
    return { ...this.m };
  }

  private onFlowStopped(e: Extract<RuntimeEvent, { type: 'FLOW_STOPPED' }>): void {
    this.m.flows++;
    if (e.finalState === 'SUCCESS') this.m.succeeded++;
    else this.m.failed++;
    this.m.totalDurationMs += e.durationMs;
    this.m.maxDurationMs = Math.max(this.m.maxDurationMs, e.durationMs);
    if (e.durationMs > this.slowMs) this.m.slow++;
    for (const cleanup of this.cleanups.get(e.flowId) ?? []) cleanup();
    this.cleanups.delete(e.flowId);
  }
}
