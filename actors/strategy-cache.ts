import { createStore } from '@xstate/store';
import type { CausalityChain, ContextDescription, ExecutionDirective } from '../src/domain/directive.js';

/**
 * The causality of one flow or order as the journal keeps it: ids only. Descriptions of signals
 * and risks travel separately (as context), so a chain can be copied onto every entry cheaply.
 */
export interface ChainIds {
  readonly origin: CausalityChain['origin'];
  readonly signal_ids: readonly string[];
  readonly risk_ids: readonly string[];
  readonly strategy_directive_id: string | null;
  readonly directive_id: string | null;
  readonly order_ids: readonly string[];
  readonly fill_ids: readonly string[];
}

/** A chain without its descriptions, `directive_id` filled in when the directive is known. */
export function chainIds(c: CausalityChain, directiveId: string | null = c.directive_id): ChainIds {
  return {
    origin: { type: c.origin.type, id: c.origin.id, at: c.origin.at },
    signal_ids: [...c.signal_ids],
    risk_ids: [...c.risk_ids],
    strategy_directive_id: c.strategy_directive_id,
    directive_id: directiveId,
    order_ids: [...c.order_ids],
    fill_ids: [...c.fill_ids],
  };
}

function appendOnce(list: readonly string[], id: string): readonly string[] {
  return list.includes(id) ? list : [...list, id];
}

export function withOrder(c: ChainIds, orderId: string): ChainIds {
  return { ...c, order_ids: appendOnce(c.order_ids, orderId) };
}

export function withFill(c: ChainIds, fillId: string): ChainIds {
  return { ...c, fill_ids: appendOnce(c.fill_ids, fillId) };
}

/** What signal detectors and risk monitors said, for the journal (never stored in the ledger). */
export interface FlowContext {
  readonly signals: readonly ContextDescription[];
  readonly risks: readonly ContextDescription[];
}

/** Order context a flow keeps while it runs (seeds: "EW -> SC: store order context + causality"). */
export interface CachedOrder {
  readonly causality: ChainIds;
  readonly planId: string;
  readonly groupId: string;
}

/** The StrategyCache of one flow: temporary, in memory, gone when the flow stops. */
export interface FlowCacheContext {
  readonly flowId: string;
  readonly origin: CausalityChain['origin'];
  /** The flow's chain: the directive's, with every order it created and every fill of those appended. */
  readonly causality: ChainIds;
  readonly context: FlowContext;
  readonly directive: ExecutionDirective;
  readonly orders: Readonly<Record<string, CachedOrder>>;
}

function mergeDescriptions(a: readonly ContextDescription[], b: readonly ContextDescription[]): readonly ContextDescription[] {
  const out = [...a];
  for (const d of b) {
    const i = out.findIndex((x) => x.id === d.id);
    if (i >= 0) out[i] = { ...out[i], ...d };
    else out.push(d);
  }
  return out;
}

function flowStore(d: ExecutionDirective) {
  return createStore({
    context: {
      flowId: d.directive_id,
      origin: d.causality.origin,
      causality: chainIds(d.causality, d.directive_id),
      context: { signals: d.causality.signals ?? [], risks: d.causality.risks ?? [] },
      directive: d,
      orders: {},
    } as FlowCacheContext,
    on: {
      /** A signal detector / risk monitor adds what it saw (merged by id). */
      contextAdded: (ctx, e: { signals?: readonly ContextDescription[]; risks?: readonly ContextDescription[] }): FlowCacheContext => ({
        ...ctx,
        context: {
          signals: mergeDescriptions(ctx.context.signals, e.signals ?? []),
          risks: mergeDescriptions(ctx.context.risks, e.risks ?? []),
        },
      }),
      orderRecorded: (ctx, e: { orderId: string; order: CachedOrder }): FlowCacheContext => ({
        ...ctx,
        causality: withOrder(ctx.causality, e.orderId),
        orders: { ...ctx.orders, [e.orderId]: e.order },
      }),
      fillRecorded: (ctx, e: { orderId: string; fillId: string }): FlowCacheContext => {
        const order = ctx.orders[e.orderId];
        return {
          ...ctx,
          causality: withFill(ctx.causality, e.fillId),
          orders: order ? { ...ctx.orders, [e.orderId]: { ...order, causality: withFill(order.causality, e.fillId) } } : ctx.orders,
        };
      },
    },
  });
}

export type FlowStore = ReturnType<typeof flowStore>;

/** Registers a flow's cleanup with the FlowTerminationHandler (its `onStop`). */
export interface FlowTerminator {
  onStop(flowId: string, cleanup: () => void): void;
}

/**
 * StrategyCache (seeds/EXECUTION_FLOW.md): the per-flow temporary context — origin, signals,
 * risks, the directive, the orders it created with their causality — one @xstate/store per flow.
 *
 * Lifetime: `start` when a validated directive begins a flow (ExecutionWorker.submit); the
 * journal writer reads it while the flow's turns are sealed and calls `running` on the first of
 * them, which hands the cleanup to the FlowTerminationHandler (`onStop`): FLOW_STOPPED clears
 * it. A submit that settles with no flow running (a repeat of a finished directive, a refusal)
 * is `abandon`ed. It is never a source of truth: everything the journal needs is written in the
 * turn it explains, and after a restart the journal continues from its own records.
 */
export class StrategyCache {
  private readonly flows = new Map<string, { store: FlowStore; terminating: boolean }>();
  /** Which running flow created an order (so a fill finds its flow without a scan). */
  private readonly orderFlows = new Map<string, string>();

  constructor(private readonly terminator: FlowTerminator) {}

  /** Creates the flow's cache; a flow of that id still running keeps the one it has. */
  start(directive: ExecutionDirective): FlowStore {
    const existing = this.flows.get(directive.directive_id);
    if (existing) return existing.store;
    const store = flowStore(directive);
    this.flows.set(directive.directive_id, { store, terminating: false });
    return store;
  }

  get(flowId: string): FlowStore | undefined {
    return this.flows.get(flowId)?.store;
  }

  /** The flow's context now, or undefined when it has none (ended, or resumed after a restart). */
  snapshot(flowId: string): FlowCacheContext | undefined {
    return this.flows.get(flowId)?.store.getSnapshot().context;
  }

  /** The flow whose cache holds this order, if one still runs. */
  flowOfOrder(orderId: string): FlowStore | undefined {
    const flowId = this.orderFlows.get(orderId);
    return flowId === undefined ? undefined : this.flows.get(flowId)?.store;
  }

  /** The flow created an order: its context and causality (the chain gets the order id). */
  recordOrder(flowId: string, orderId: string, order: CachedOrder): void {
    const entry = this.flows.get(flowId);
    if (!entry) return;
    this.orderFlows.set(orderId, flowId);
    entry.store.trigger.orderRecorded({ orderId, order });
  }

  /** A fill of an order a running flow created: appended to the flow's and the order's chain. */
  recordFill(orderId: string, fillId: string): void {
    this.flowOfOrder(orderId)?.trigger.fillRecorded({ orderId, fillId });
  }

  /** Whether a turn of the flow has been seen (see `running`). */
  isRunning(flowId: string): boolean {
    return this.flows.get(flowId)?.terminating ?? false;
  }

  /** The flow has a turn on its way to disk: FLOW_STOPPED will follow, and clears the cache. */
  running(flowId: string): void {
    const entry = this.flows.get(flowId);
    if (!entry || entry.terminating) return;
    entry.terminating = true;
    this.terminator.onStop(flowId, () => this.clear(flowId));
  }

  /** Submit settled without a flow left running: drop a cache no FLOW_STOPPED will clear. */
  abandon(flowId: string): void {
    const entry = this.flows.get(flowId);
    if (entry && !entry.terminating) this.clear(flowId);
  }

  clear(flowId: string): void {
    const entry = this.flows.get(flowId);
    if (!entry) return;
    for (const orderId of Object.keys(entry.store.getSnapshot().context.orders)) this.orderFlows.delete(orderId);
    this.flows.delete(flowId);
  }

  get size(): number {
    return this.flows.size;
  }
}
