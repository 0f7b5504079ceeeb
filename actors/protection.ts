import { D, str } from '../src/domain/decimal.js';
import { NotFoundError } from '../src/domain/errors.js';
import type { ConnectorCapabilities } from '../src/connectors/connector.js';
import type { Order, OrderRole, TradePlan } from '../src/domain/schemas.js';
import type { Turn } from './host.js';
import type { Lanes } from './lanes.js';
import type { PreparedOrder, ReadonlyDeep, StrategyLedger } from './ledger.js';

const PROTECTION_ROLES: readonly OrderRole[] = ['STOP_LOSS', 'TAKE_PROFIT'];
/** States in which an exit order can be changed now; others settle first and are looked at again. */
const ADJUSTABLE: readonly Order['status'][] = ['OPEN', 'PARTIALLY_FILLED'];
const OPEN: readonly Order['status'][] = ['PENDING', 'SUBMITTED', 'OPEN', 'PARTIALLY_FILLED', 'PENDING_CANCEL', 'PENDING_UPDATE'];

/** Whether a turn touched something protection may need to act on. */
export function protectedPlansOf(turn: Turn): Set<string> {
  const plans = new Set<string>();
  for (const [id, d] of turn.dirty) {
    const c = d.snapshot.context as { planId?: string; parentPlanId?: string };
    const planId = id.startsWith('TPL_') ? c.planId : c.parentPlanId;
    if (planId) plans.add(planId);
  }
  return plans;
}

type Level = { role: OrderRole; orderType: 'STOP' | 'LIMIT'; price: string | null; stopPrice: string | null };

/**
 * Exchange-native protection (seeds/TRADE_LIFECYCLE.md §6.5, TRADING_MONITOR_COMPONENTS.md):
 * a plan with an exit plan gets a stop-loss and a take-profit order on the exchange, each sized
 * to the open position, linked one-cancels-other. `ensure` compares that desired state with
 * the plan's open exit orders and closes the gap in one turn: place what is missing, resize or
 * re-price what differs (modify, or cancel-replace without modify), cancel what a flat plan no
 * longer needs. It is idempotent, so it runs after every turn that touched the plan, on open,
 * and on the order monitor's interval.
 */
export class Protection {
  private readonly queued = new Set<string>();

  constructor(
    private readonly ledger: StrategyLedger,
    private readonly capabilities: ConnectorCapabilities,
    private readonly lanes: Lanes,
    private readonly onError: (error: unknown) => void,
    /** Asks the exchange about these orders and records what the ledger lacks (in this lane). */
    private readonly resync: (orderIds: readonly string[]) => Promise<void>,
  ) {}

  /** Runs `ensure(planId)` soon, at most once queued per plan. */
  schedule(planId: string): void {
    if (this.queued.has(planId)) return;
    this.queued.add(planId);
    void this.lanes
      .run(`plan:${planId}`, async () => {
        this.queued.delete(planId);
        try {
          await this.ensure(planId);
        } catch (error) {
          // A parent ended between reading and writing (an effect result in flight): look again.
          if (error instanceof NotFoundError) this.schedule(planId);
          else throw error;
        }
      })
      .catch(this.onError);
  }

  async ensure(planId: string, verified = false): Promise<void> {
    const plan = await this.ledger.plan(planId);
    if (!plan || (plan.status !== 'ACTIVE' && plan.status !== 'PENDING') || plan.exitPlan === null) return;
    // Orders being cancelled are on their way out; the others count as present.
    const exits = (await this.openExitOrders(plan)).filter((o) => o.status !== 'PENDING_CANCEL');
    const net = new D(plan.position.netQuantity);
    const size = net.abs();
    const side = net.isNegative() ? 'BUY' : 'SELL';
    const levels: Level[] = [];
    if (!net.isZero()) {
      if (plan.exitPlan.stopLossPrice) levels.push({ role: 'STOP_LOSS', orderType: 'STOP', price: null, stopPrice: plan.exitPlan.stopLossPrice });
      if (plan.exitPlan.takeProfitPrice) levels.push({ role: 'TAKE_PROFIT', orderType: 'LIMIT', price: plan.exitPlan.takeProfitPrice, stopPrice: null });
    }

    type Change = { order: ReadonlyDeep<Order>; cancel: true } | { order: ReadonlyDeep<Order>; modify: { quantity: string | null; price: string | null; stopPrice: string | null } };
    const changes: Change[] = [];
    const missing: Level[] = [];
    for (const level of levels) {
      const current = exits.filter((o) => o.role === level.role && o.side === side);
      const [keep, ...extra] = current;
      for (const o of extra) changes.push({ order: o, cancel: true });
      if (!keep) {
        missing.push(level);
        continue;
      }
      // Not acknowledged yet, or a change in flight: look again when it settles (the next turn of it).
      if (!ADJUSTABLE.includes(keep.status)) continue;
      const remaining = new D(keep.quantity).minus(keep.filledQuantity);
      const quantity = remaining.equals(size) ? null : str(size.plus(keep.filledQuantity));
      const price = level.price !== null && level.price !== keep.price ? level.price : null;
      const stopPrice = level.stopPrice !== null && level.stopPrice !== keep.stopPrice ? level.stopPrice : null;
      if (quantity !== null || price !== null || stopPrice !== null) changes.push({ order: keep, modify: { quantity, price, stopPrice } });
    }
    // Exit orders no level asks for (flat, wrong side, level removed): cancel.
    for (const o of exits) if (!levels.some((l) => l.role === o.role && o.side === side)) changes.push({ order: o, cancel: true });
    if (changes.length === 0 && missing.length === 0) return;
    // Adding exposure to exits (a new exit order, or a larger one) on a stale view of the
    // position could close more than is held: a sibling may have filled with its reply still on
    // the way (the exchange shrank this order, or cancelled its sibling). Ask the exchange first.
    const grows = missing.length > 0 || changes.some((c) => 'modify' in c && c.modify.quantity !== null && new D(c.modify.quantity).minus(c.order.filledQuantity).greaterThan(new D(c.order.quantity).minus(c.order.filledQuantity)));
    if (grows && !verified) {
      const siblings = (await this.ledger.groupsOfPlan(planId)).flatMap((g) => g.orderIds);
      const exitIds: string[] = [];
      for (const id of siblings) {
        const o = await this.ledger.order(id);
        if (o && PROTECTION_ROLES.includes(o.role)) exitIds.push(id);
      }
      await this.resync(exitIds);
      return this.ensure(planId, true);
    }

    // Cancel-replace where the exchange cannot modify: the replacement is a new order.
    const replace = this.capabilities.modify ? [] : changes.filter((c): c is Extract<Change, { modify: unknown }> => 'modify' in c);
    for (const r of replace) missing.push(this.levelOf(r.order, r.modify));
    const groupId = exits[0]?.parentGroupId ?? null;
    const prepared: PreparedOrder[] = [];
    try {
      for (const level of missing) {
        prepared.push(
          await this.ledger.prepareOrder({
            plan: { planId },
            group: groupId ? { groupId } : { executionStrategy: 'SINGLE', targetQuantity: str(size) },
            order: {
              side,
              orderType: level.orderType,
              role: level.role,
              quantity: str(size),
              price: level.price,
              stopPrice: level.stopPrice,
              timeInForce: 'GTC',
              ocoGroup: `OCO-${planId}`,
            },
          }),
        );
        if (!groupId) break; // the first registration creates the group; the rest join it next round
      }
      await this.ledger.host.run(this.ledger.now(), (turn) => {
        turn.meta.protection = planId;
        for (const p of prepared) this.ledger.addOrder(turn, p);
        for (const c of changes) {
          if ('cancel' in c || !this.capabilities.modify) {
            this.cancel(turn, c.order, 'cancel' in c ? 'protection no longer needed' : 'replaced with new protection levels');
          } else {
            turn.send(c.order.orderId, { type: 'MODIFY', at: turn.at, ...c.modify });
          }
        }
      });
    } finally {
      for (const p of prepared) this.ledger.release(p);
    }
    // A new group was created for the first level; the second level joins it.
    if (!groupId && missing.length > 1) await this.ensure(planId);
  }

  private levelOf(order: ReadonlyDeep<Order>, m: { price: string | null; stopPrice: string | null }): Level {
    return {
      role: order.role,
      orderType: order.orderType === 'STOP' ? 'STOP' : 'LIMIT',
      price: order.orderType === 'STOP' ? null : (m.price ?? order.price),
      stopPrice: order.orderType === 'STOP' ? (m.stopPrice ?? order.stopPrice) : null,
    };
  }

  private cancel(turn: Turn, order: ReadonlyDeep<Order>, reason: string): void {
    turn.send(order.orderId, { type: 'CANCEL', at: turn.at, reason });
  }

  /** Non-terminal STOP_LOSS / TAKE_PROFIT orders of the plan's open groups. */
  async openExitOrders(plan: ReadonlyDeep<TradePlan>): Promise<ReadonlyDeep<Order>[]> {
    const out: ReadonlyDeep<Order>[] = [];
    for (const groupId of plan.openGroupIds) {
      for (const o of await this.ledger.ordersOfGroup(groupId)) {
        if (PROTECTION_ROLES.includes(o.role) && OPEN.includes(o.status)) out.push(o);
      }
    }
    return out;
  }
}
