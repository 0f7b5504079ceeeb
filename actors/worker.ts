import { D, str } from '../src/domain/decimal.js';
import { ExecutionDirectiveSchema, type ExecutionAction, type ExecutionDirective, type Scope } from '../src/domain/directive.js';
import { NotFoundError, parseOrThrow } from '../src/domain/errors.js';
import type { ExitPlanLevels, Order, OrderRole } from '../src/domain/schemas.js';
import type { ConnectorCapabilities } from '../src/connectors/connector.js';
import type { PlanExecutionConfig } from '../src/domain/config.js';
import type { EffectResult } from './effect-runner.js';
import type { RuntimeEvents } from './flows.js';
import type { Turn } from './host.js';
import type { PreparedOrder, ReadonlyDeep, StrategyLedger } from './ledger.js';

/** What a directive did, as committed; a second submit of the same directive_id returns it. */
export interface DirectiveOutcome {
  readonly directive_id: string;
  readonly scope: Scope;
  readonly action: ExecutionAction;
  readonly plan_id: string | null;
  readonly group_ids: readonly string[];
  /** Orders this directive created. */
  readonly order_ids: readonly string[];
  /** Existing orders it asked to cancel or modify. */
  readonly affected_order_ids: readonly string[];
  /** `closing`: a CLOSE_EXISTING waiting for its cancels before it flattens. */
  readonly stage: 'done' | 'closing';
  readonly at: string;
  /** Kept while `stage` is `closing`, so the close can resume after a restart. */
  readonly directive?: unknown;
}

interface Replacement {
  readonly oldId: string;
  readonly newId: string;
  /** The order's new total quantity, fills of the old order included. */
  readonly total: string;
  readonly groupId: string;
}

interface Flow {
  readonly directive: ExecutionDirective;
  readonly startedMs: number;
  readonly pending: Set<string>;
  readonly failures: { orderId: string; kind: string; message: string }[];
  outcome: DirectiveOutcome;
  /** Runs when every pending effect has reported (CLOSE_EXISTING's second step). */
  then?: () => Promise<void>;
}

/** The exit plan of a directive as the plan's exit levels, or null when it has none. */
function exitLevels(d: ExecutionDirective): ExitPlanLevels | null {
  const x = d.exit_plan;
  if (!x || (!x.stop_loss_price && !x.take_profit_price && !x.trailing_offset)) return null;
  return { stopLossPrice: x.stop_loss_price, takeProfitPrice: x.take_profit_price, trailingOffset: x.trailing_offset };
}

/** A directive as the ledger-side `directive` area may keep it: without causality (journal wiring). */
function withoutCausality(d: ExecutionDirective): Omit<ExecutionDirective, 'causality'> {
  const { causality: _journal, ...rest } = d;
  return rest;
}

function publicOutcome(o: DirectiveOutcome): DirectiveOutcome {
  const { directive: _kept, ...rest } = o;
  return rest;
}

const WORKING: readonly Order['status'][] = ['SUBMITTED', 'OPEN', 'PARTIALLY_FILLED', 'PENDING_UPDATE'];
const MODIFIABLE: readonly Order['status'][] = ['OPEN', 'PARTIALLY_FILLED'];

/**
 * ExecutionWorker (the seeds' PlanExecutionOrchestrator): validates a directive, turns it into
 * actor events in one committed turn with its outcome record, and follows the effects it caused
 * until the flow ends with TRADE_EXECUTED or EXECUTION_FAILED, then FLOW_STOPPED.
 */
export class ExecutionWorker {
  private readonly flows = new Map<string, Flow>();
  private readonly byOrder = new Map<string, Flow>();
  private readonly inFlight = new Map<string, Promise<DirectiveOutcome>>();
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly ledger: StrategyLedger,
    private readonly capabilities: ConnectorCapabilities,
    private readonly config: PlanExecutionConfig,
    private readonly events: RuntimeEvents,
  ) {}

  /**
   * Journal wiring (set by TradingRuntime; see actors/strategy-cache.ts): `started` when a
   * validated directive begins a flow (the StrategyCache is created), `settled` when its submit
   * settles (`running`: a flow of it still waits for effects, so FLOW_STOPPED will follow).
   */
  flowHooks: { started(d: ExecutionDirective): void; settled(directiveId: string, running: boolean): void } | undefined;
  /** Journal wiring: the causality of a directive whose resumable close was kept without it (see `close`). */
  causalityOf: ((directiveId: string) => Promise<unknown>) | undefined;

  /** Validates and executes; resolves once the directive's turn is committed. Idempotent by directive_id. */
  submit(input: unknown): Promise<DirectiveOutcome> {
    const directive = parseOrThrow('ExecutionDirective', ExecutionDirectiveSchema, input);
    const running = this.inFlight.get(directive.directive_id);
    if (running) return running;
    this.flowHooks?.started(directive); // journal: StrategyCache of this flow
    const p = this.execute(directive)
      .then(publicOutcome)
      .finally(() => {
        this.inFlight.delete(directive.directive_id);
        this.flowHooks?.settled(directive.directive_id, this.flows.has(directive.directive_id)); // journal
      });
    this.inFlight.set(directive.directive_id, p);
    return p;
  }

  /** The stored outcome of a directive, as committed (including what a resumable close keeps). */
  async outcome(directiveId: string): Promise<DirectiveOutcome | undefined> {
    await this.ledger.host.settled();
    const raw = await this.ledger.store.getJson('directive', directiveId);
    return raw as DirectiveOutcome | undefined;
  }

  private async execute(d: ExecutionDirective): Promise<DirectiveOutcome> {
    const earlier = await this.outcome(d.directive_id);
    if (earlier) return earlier;
    const action = d.execution_plan!.action;
    switch (d.scope) {
      case 'NEW_TRADE':
        return this.newTrade(d);
      case 'MODIFY_EXISTING':
        return action === 'CANCEL_GROUP' ? this.cancel(d, [d.target_group_id!]) : this.modifyOrders(d);
      case 'CLOSE_EXISTING':
        return this.close(d, action === 'EXECUTE_TRADE');
    }
  }

  // ---- scopes ---------------------------------------------------------------------------------

  private async newTrade(d: ExecutionDirective): Promise<DirectiveOutcome> {
    const e = d.entry_plan!;
    const prepared = await this.ledger.prepareOrder({
      plan: { strategyInstanceId: d.strategy_instance_id, symbol: e.symbol, direction: e.direction, comments: d.rationale, exitPlan: exitLevels(d) },
      group: { executionStrategy: d.execution_plan!.execution_strategy, targetQuantity: d.size_plan!.position_size },
      order: {
        side: e.direction,
        orderType: e.order_type,
        role: 'ENTRY',
        quantity: d.size_plan!.position_size,
        price: e.limit_price,
        stopPrice: e.stop_price,
        timeInForce: e.time_in_force,
      },
    });
    return this.commit(d, [prepared], (turn, flow) => {
      const o = this.ledger.addOrder(turn, prepared);
      this.expect(flow, o.orderId);
      return { plan_id: o.planId, group_ids: [o.groupId], order_ids: [o.orderId], affected_order_ids: [] };
    });
  }

  /** CANCEL_GROUP (groupIds given) or CANCEL_ALL_IN_PLAN / the first step of a close. */
  private async cancel(d: ExecutionDirective, groupIds: readonly string[], planId: string | null = null): Promise<DirectiveOutcome> {
    for (const g of groupIds) if (!(await this.ledger.group(g))) throw new NotFoundError(g, 'no such ExecutionGroup');
    const plan = planId ?? (await this.ledger.group(groupIds[0]!))?.parentPlanId ?? null;
    return this.commit(d, [], (turn, flow) => ({
      plan_id: plan,
      group_ids: groupIds,
      order_ids: [],
      affected_order_ids: this.cancelGroupsIn(turn, flow, groupIds, d.rationale ?? `directive ${d.directive_id}`),
    }));
  }

  private cancelGroupsIn(turn: Turn, flow: Flow, groupIds: readonly string[], reason: string): string[] {
    const affected: string[] = [];
    for (const groupId of groupIds) {
      const group = turn.snapshot(groupId);
      if (!group || group.status !== 'active') continue;
      turn.send(groupId, { type: 'CANCEL', at: turn.at });
      for (const orderId of (group.context as { openOrderIds: string[] }).openOrderIds) {
        const before = turn.snapshot(orderId)?.value;
        if (before === 'PENDING_CANCEL') continue; // already being cancelled
        if (turn.send(orderId, { type: 'CANCEL', at: turn.at, reason }) !== 'applied') continue;
        affected.push(orderId);
        if (before !== 'PENDING') this.expect(flow, orderId);
      }
    }
    return affected;
  }

  private async close(d: ExecutionDirective, flatten: boolean): Promise<DirectiveOutcome> {
    const planId = d.target_plan_id!;
    const plan = await this.ledger.plan(planId);
    if (!plan || (plan.status !== 'PENDING' && plan.status !== 'ACTIVE')) throw new NotFoundError(planId, 'is not an open TradePlan');
    const outcome = await this.commit(d, [], (turn, flow) => {
      // No protection is to be re-placed for a plan being closed.
      if (plan.exitPlan) turn.send(planId, { type: 'EXIT_PLAN_SET', at: turn.at, exitPlan: { stopLossPrice: null, takeProfitPrice: null, trailingOffset: null } });
      const affected = this.cancelGroupsIn(turn, flow, plan.openGroupIds, d.rationale ?? `close ${planId}`);
      if (flatten) flow.then = () => this.flatten(flow, planId);
      return {
        plan_id: planId,
        group_ids: plan.openGroupIds,
        order_ids: [],
        affected_order_ids: affected,
        stage: flatten ? 'closing' : 'done',
        // Kept without its causality: the `directive` area is ledger-side, causality is the
        // journal's (seeds/EXECUTION_FLOW.md); `resumeClosing` takes it back from the journal.
        ...(flatten ? { directive: withoutCausality(d) } : {}),
      };
    });
    return outcome;
  }

  /** Second step of CLOSE_EXISTING + EXECUTE_TRADE: once its orders are done, a market exit for the net position. */
  private async flatten(flow: Flow, planId: string): Promise<void> {
    if (flow.failures.length > 0) {
      // The cancels did not all go through: do not trade against orders that may still work.
      await this.ledger.host.run(this.ledger.now(), (turn) => this.recordOutcome(turn, { ...flow.outcome, stage: 'done', directive: undefined }, flow));
      return;
    }
    const deadline = Date.now() + this.config.timeout_seconds * 1000;
    while (!(await this.planQuiet(planId))) {
      if (Date.now() > deadline) throw new Error(`orders of ${planId} did not finish cancelling within ${this.config.timeout_seconds} s`);
      await Promise.race([this.ledger.host.nextCommit(), new Promise((r) => setTimeout(r, 50))]);
    }
    const position = await this.ledger.position(planId);
    const net = new D(position?.netQuantity ?? '0');
    const d = flow.directive;
    if (net.isZero() || !position || (position.status !== 'ACTIVE' && position.status !== 'PENDING')) {
      await this.ledger.host.run(this.ledger.now(), (turn) => this.recordOutcome(turn, { ...flow.outcome, stage: 'done', directive: undefined }, flow));
      return;
    }
    const prepared = await this.ledger.prepareOrder({
      plan: { planId },
      group: { executionStrategy: d.execution_plan!.execution_strategy, targetQuantity: str(net.abs()) },
      order: { side: net.isNegative() ? 'BUY' : 'SELL', orderType: 'MARKET', role: 'EXIT', quantity: str(net.abs()), timeInForce: 'GTC' },
    });
    try {
      await this.ledger.host.run(this.ledger.now(), (turn) => {
        turn.meta.directive = d;
        const o = this.ledger.addOrder(turn, prepared);
        this.expect(flow, o.orderId);
        this.recordOutcome(turn, { ...flow.outcome, stage: 'done', directive: undefined, group_ids: [...flow.outcome.group_ids, o.groupId], order_ids: [o.orderId] }, flow);
      });
    } finally {
      this.ledger.release(prepared);
    }
  }

  private async planQuiet(planId: string): Promise<boolean> {
    for (const group of await this.ledger.groupsOfPlan(planId)) {
      for (const order of await this.ledger.ordersOfGroup(group.groupId)) {
        if (WORKING.includes(order.status) || order.status === 'PENDING_CANCEL') return false;
      }
    }
    return true;
  }

  private async modifyOrders(d: ExecutionDirective): Promise<DirectiveOutcome> {
    const groupId = d.target_group_id!;
    const group = await this.ledger.group(groupId);
    if (!group || group.status !== 'ACTIVE') throw new NotFoundError(groupId, 'is not an active ExecutionGroup');
    const orders = (await this.ledger.ordersOfGroup(groupId)).filter((o) => MODIFIABLE.includes(o.status));
    const changes = orders.map((o) => ({ order: o, change: this.changeFor(d, o) })).filter((c) => c.change !== null);
    const replacements: { old: ReadonlyDeep<Order>; total: string; prepared: PreparedOrder }[] = [];
    try {
      if (!this.capabilities.modify) {
        for (const { order, change } of changes) {
          const quantity = str(new D(change!.quantity ?? order.quantity).minus(order.filledQuantity));
          replacements.push({
            old: order,
            total: change!.quantity ?? order.quantity,
            prepared: await this.ledger.prepareOrder({
              group: { groupId },
              // Held back (PENDING) until the old order's cancel is confirmed: it may fill meanwhile.
              submit: false,
              order: {
                side: order.side,
                orderType: order.orderType,
                role: order.role,
                quantity,
                price: change!.price ?? order.price,
                stopPrice: change!.stopPrice ?? order.stopPrice,
                timeInForce: order.timeInForce,
                ocoGroup: order.ocoGroup,
              },
            }),
          });
        }
      }
      return await this.commit(d, replacements.map((r) => r.prepared), (turn, flow) => {
        const affected: string[] = [];
        const created: string[] = [];
        // New exit levels are the plan's from now on: protection follows them.
        const plan = turn.snapshot(group.parentPlanId);
        const levels = exitLevels(d);
        if (plan && levels) {
          const current = (plan.context as { exitPlan: ExitPlanLevels | null }).exitPlan;
          turn.send(group.parentPlanId, {
            type: 'EXIT_PLAN_SET',
            at: turn.at,
            exitPlan: {
              stopLossPrice: levels.stopLossPrice ?? current?.stopLossPrice ?? null,
              takeProfitPrice: levels.takeProfitPrice ?? current?.takeProfitPrice ?? null,
              trailingOffset: levels.trailingOffset ?? current?.trailingOffset ?? null,
            },
          });
        }
        if (this.capabilities.modify) {
          for (const { order, change } of changes) {
            if (turn.send(order.orderId, { type: 'MODIFY', at: turn.at, price: change!.price, stopPrice: change!.stopPrice, quantity: change!.quantity }) === 'applied') {
              affected.push(order.orderId);
              this.expect(flow, order.orderId);
            }
          }
        } else {
          // Cancel-replace: the replacement joins the group (held PENDING) before the old order
          // can end it, and is sent only once the cancel is confirmed (see `releaseReplacements`).
          const pairs: Replacement[] = [];
          for (const { old, total, prepared } of replacements) {
            const o = this.ledger.addOrder(turn, prepared);
            created.push(o.orderId);
            pairs.push({ oldId: old.orderId, newId: o.orderId, total, groupId });
            if (turn.send(old.orderId, { type: 'CANCEL', at: turn.at, reason: `replaced by ${o.orderId}` }) === 'applied') {
              affected.push(old.orderId);
              this.expect(flow, old.orderId);
            }
          }
          flow.then = () => this.releaseReplacements(flow, pairs);
        }
        return { plan_id: group.parentPlanId, group_ids: [groupId], order_ids: created, affected_order_ids: affected };
      });
    } finally {
      for (const r of replacements) this.ledger.release(r.prepared);
    }
  }

  /**
   * Second step of a cancel-replace: each replacement is sent for what the old order left
   * unfilled once its cancel is settled, re-registered if that differs from what was held, and
   * dropped if the old order filled (or the cancel failed and it still works).
   */
  private async releaseReplacements(flow: Flow, pairs: readonly Replacement[]): Promise<void> {
    const resized: { pair: Replacement; prepared: PreparedOrder }[] = [];
    const plans: { pair: Replacement; action: 'submit' | 'drop' | 'resize' }[] = [];
    for (const pair of pairs) {
      const old = await this.ledger.order(pair.oldId);
      const held = await this.ledger.order(pair.newId);
      if (!old || !held || held.status !== 'PENDING') continue;
      const remaining = new D(pair.total).minus(old.filledQuantity);
      const oldStillWorks = !['CANCELED', 'EXPIRED', 'REJECTED', 'FILLED'].includes(old.status);
      if (oldStillWorks || !remaining.greaterThan(0)) plans.push({ pair, action: 'drop' });
      else if (remaining.equals(held.quantity)) plans.push({ pair, action: 'submit' });
      else {
        plans.push({ pair, action: 'resize' });
        resized.push({
          pair,
          prepared: await this.ledger.prepareOrder({
            group: { groupId: pair.groupId },
            order: { side: held.side, orderType: held.orderType, role: held.role, quantity: str(remaining), price: held.price, stopPrice: held.stopPrice, timeInForce: held.timeInForce, ocoGroup: held.ocoGroup },
          }),
        });
      }
    }
    try {
      await this.ledger.host.run(this.ledger.now(), (turn) => {
        turn.meta.directive = flow.directive;
        for (const { pair, action } of plans) {
          if (action === 'submit') {
            turn.send(pair.newId, { type: 'SUBMIT', at: turn.at });
            this.expect(flow, pair.newId);
            continue;
          }
          const again = resized.find((r) => r.pair === pair);
          if (again) {
            const o = this.ledger.addOrder(turn, again.prepared);
            this.expect(flow, o.orderId);
          }
          turn.send(pair.newId, { type: 'CANCEL', at: turn.at, reason: action === 'drop' ? 'replaced order filled or still works' : 'resized before sending' });
        }
      });
    } finally {
      for (const r of resized) this.ledger.release(r.prepared);
    }
  }

  /** The new price/stop/quantity a MODIFY_ORDERS directive gives an order of this role, or null. */
  private changeFor(d: ExecutionDirective, o: ReadonlyDeep<Order>): { price: string | null; stopPrice: string | null; quantity: string | null } | null {
    const byRole: Record<OrderRole, { price: string | null; stopPrice: string | null }> = {
      ENTRY: { price: d.entry_plan?.limit_price ?? null, stopPrice: d.entry_plan?.stop_price ?? null },
      EXIT: { price: d.entry_plan?.limit_price ?? null, stopPrice: d.entry_plan?.stop_price ?? null },
      STOP_LOSS: { price: null, stopPrice: d.exit_plan?.stop_loss_price ?? null },
      TAKE_PROFIT: { price: d.exit_plan?.take_profit_price ?? null, stopPrice: null },
    };
    const c = byRole[o.role];
    const price = o.orderType === 'LIMIT' || o.orderType === 'STOP_LIMIT' ? c.price : null;
    const stopPrice = o.orderType === 'STOP' || o.orderType === 'STOP_LIMIT' ? c.stopPrice : null;
    let quantity = d.size_plan?.position_size ?? null;
    if (quantity !== null && !new D(quantity).greaterThan(o.filledQuantity)) quantity = null;
    if (price === null && stopPrice === null && quantity === null) return null;
    return { price, stopPrice, quantity };
  }

  // ---- flows ----------------------------------------------------------------------------------

  /**
   * One turn: `build` sends the directive's events and says what it did; the outcome record is
   * written in the same batch. The flow exists before the commit, so no effect result is missed.
   */
  private async commit(
    d: ExecutionDirective,
    prepared: readonly PreparedOrder[],
    build: (turn: Turn, flow: Flow) => Partial<DirectiveOutcome> & Pick<DirectiveOutcome, 'plan_id' | 'group_ids' | 'order_ids' | 'affected_order_ids'>,
  ): Promise<DirectiveOutcome> {
    const at = this.ledger.now();
    const flow: Flow = {
      directive: d,
      startedMs: performance.now(),
      pending: new Set(),
      failures: [],
      outcome: { directive_id: d.directive_id, scope: d.scope, action: d.execution_plan!.action, plan_id: null, group_ids: [], order_ids: [], affected_order_ids: [], stage: 'done', at },
    };
    try {
      const outcome = await this.ledger.host.run(at, (turn) => {
        turn.meta.directive = d;
        const done = { ...flow.outcome, ...build(turn, flow) };
        this.recordOutcome(turn, done, flow);
        return done;
      });
      this.flows.set(d.directive_id, flow);
      this.maybeFinish(flow);
      return outcome;
    } catch (error) {
      for (const id of flow.pending) this.byOrder.delete(id);
      throw error;
    } finally {
      for (const p of prepared) this.ledger.release(p);
    }
  }

  private recordOutcome(turn: Turn, outcome: DirectiveOutcome, flow: Flow): void {
    flow.outcome = outcome;
    turn.ops.push({ type: 'put', area: 'directive', key: outcome.directive_id, value: JSON.stringify(outcome) });
    // A close still to flatten survives a restart through this index (see `resumeClosing`).
    const closing = `closing!${outcome.directive_id}`;
    turn.ops.push(outcome.stage === 'closing' ? { type: 'put', area: 'index', key: closing, value: '' } : { type: 'del', area: 'index', key: closing });
  }

  /**
   * After a restart: CLOSE_EXISTING directives whose flattening step had not run yet continue.
   * Needs the directive itself, so its record keeps it.
   */
  async resumeClosing(): Promise<number> {
    const ids: string[] = [];
    for await (const key of this.ledger.store.keys('index', { gte: 'closing!', lt: 'closing"' })) ids.push(key.slice('closing!'.length));
    for (const id of ids) {
      const outcome = await this.outcome(id);
      if (!outcome?.directive || !outcome.plan_id) continue;
      // Causality comes back from the journal (older records kept it inline); without either,
      // the resumed step is attributed to a MANUAL origin that says so.
      const kept = outcome.directive as Record<string, unknown>;
      const causality = kept.causality ?? (await this.causalityOf?.(id)) ?? { origin: { type: 'MANUAL', id: `causality-unavailable:${id}`, at: outcome.at }, directive_id: id };
      const directive = ExecutionDirectiveSchema.parse({ ...kept, causality });
      const flow: Flow = { directive, startedMs: performance.now(), pending: new Set(), failures: [], outcome };
      this.flows.set(id, flow);
      const planId = outcome.plan_id;
      flow.then = () => this.flatten(flow, planId);
      this.maybeFinish(flow);
    }
    return ids.length;
  }

  private expect(flow: Flow, orderId: string): void {
    flow.pending.add(orderId);
    this.byOrder.set(orderId, flow);
  }

  /** Called by the effect runner for every effect outcome. */
  onEffectResult = (orderId: string, kind: string, result: EffectResult): void => {
    const flow = this.byOrder.get(orderId);
    if (!flow) return;
    this.byOrder.delete(orderId);
    flow.pending.delete(orderId);
    if (!result.ok) flow.failures.push({ orderId, kind, message: result.error.message });
    if (this.flows.has(flow.directive.directive_id)) this.maybeFinish(flow);
  };

  private maybeFinish(flow: Flow): void {
    if (flow.pending.size > 0) return;
    const next = flow.then;
    if (next) {
      flow.then = undefined;
      next().then(
        () => this.maybeFinish(flow),
        (error: Error) => {
          flow.failures.push({ orderId: '', kind: 'flow', message: error.message });
          this.finish(flow);
        },
      );
      return;
    }
    this.finish(flow);
  }

  private finish(flow: Flow): void {
    const d = flow.directive;
    this.flows.delete(d.directive_id);
    if (this.flows.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    const at = this.ledger.now();
    const o = flow.outcome;
    const base = { directiveId: d.directive_id, scope: d.scope, action: o.action, planId: o.plan_id, orderIds: [...o.order_ids, ...o.affected_order_ids], at };
    const durationMs = performance.now() - flow.startedMs;
    if (flow.failures.length === 0) {
      this.events.publish({ type: 'TRADE_EXECUTED', ...base });
      this.events.publish({ type: 'FLOW_STOPPED', flowId: d.directive_id, finalState: 'SUCCESS', reason: 'Execution completed successfully', durationMs, at });
    } else {
      const message = flow.failures.map((f) => `${f.orderId || 'flow'} ${f.kind}: ${f.message}`).join('; ');
      this.events.publish({ type: 'EXECUTION_FAILED', ...base, errorType: flow.failures[0]!.kind, errorMessage: message });
      this.events.publish({ type: 'FLOW_STOPPED', flowId: d.directive_id, finalState: 'ERROR', reason: `Execution failed: ${message}`, durationMs, at });
    }
  }

  /** Flows still waiting for effects (for `settled()`). */
  get openFlows(): number {
    return this.flows.size;
  }

  /** Resolves when no flow is open. */
  idle(): Promise<void> {
    if (this.flows.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
