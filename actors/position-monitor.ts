import { D, str } from '../src/domain/decimal.js';
import type { IExecutionConnector } from '../src/connectors/connector.js';
import type { Order, TradePlan } from '../src/domain/schemas.js';
import type { ReadonlyDeep, StrategyLedger } from './ledger.js';

export interface PositionReport {
  /** Plans marked at a fresh price. */
  readonly marked: number;
  /** Stop-losses moved by a trailing offset. */
  readonly trailed: number;
  /** Plans closed because the exchange shows their position closed outside the runtime. */
  readonly closedExternally: readonly string[];
  /** Exchange orders no ledger order has (reported as anomalies). */
  readonly unknownOrders: readonly string[];
  /** Symbols whose exchange position differs from the ledger's (reported as anomalies). */
  readonly mismatches: readonly string[];
}

const EXIT_ROLES: readonly Order['role'][] = ['STOP_LOSS', 'TAKE_PROFIT', 'EXIT'];
const WORKING: readonly Order['status'][] = ['PENDING', 'SUBMITTED', 'OPEN', 'PARTIALLY_FILLED', 'PENDING_UPDATE'];

/**
 * position_monitor of seeds/TRADING_MONITOR_COMPONENTS.md: marks every open position at the
 * exchange's price (moving trailing stops with it), and reconciles positions with the
 * exchange: a position the exchange shows closed is closed in the ledger as MANUAL_EXIT at the
 * exit order's fill price if one filled, else at the last known price, and its leftover orders
 * are cancelled; exchange orders nobody knows and unexplained differences are anomalies.
 */
export class PositionMonitor {
  constructor(
    private readonly ledger: StrategyLedger,
    private readonly connector: IExecutionConnector,
    /** Brings working orders in line with the exchange first (the order monitor's resync). */
    private readonly resyncOrders: () => Promise<unknown>,
  ) {}

  async tick(): Promise<PositionReport> {
    const plans = await this.activePlans();
    const prices = new Map<string, string>();
    for (const symbol of new Set(plans.map((p) => p.symbol))) {
      try {
        const price = await this.connector.fetchPrice(symbol);
        if (price) prices.set(symbol, price.last);
      } catch {
        // Market data unavailable: skip this symbol until the next tick.
      }
    }
    const { marked, trailed } = await this.mark(plans, prices);
    const { closedExternally, mismatches } = await this.reconcilePositions(prices);
    const unknownOrders = await this.findUnknownOrders();
    return { marked, trailed, closedExternally, unknownOrders, mismatches };
  }

  private async activePlans(): Promise<ReadonlyDeep<TradePlan>[]> {
    const out: ReadonlyDeep<TradePlan>[] = [];
    for (const id of this.ledger.host.liveIds('plan')) {
      const plan = await this.ledger.plan(id);
      if (plan?.status === 'ACTIVE') out.push(plan);
    }
    return out;
  }

  private async mark(plans: readonly ReadonlyDeep<TradePlan>[], prices: ReadonlyMap<string, string>) {
    let marked = 0;
    let trailed = 0;
    const at = this.ledger.now();
    await this.ledger.host.run(at, (turn) => {
      for (const plan of plans) {
        const price = prices.get(plan.symbol);
        if (price === undefined) continue;
        turn.send(plan.planId, { type: 'MARK', at, price });
        marked++;
        const stop = trailingStop(plan, price);
        if (stop !== null) {
          turn.send(plan.planId, { type: 'EXIT_PLAN_SET', at, exitPlan: { ...plan.exitPlan!, stopLossPrice: stop } });
          trailed++;
        }
      }
    });
    return { marked, trailed };
  }

  private async reconcilePositions(prices: ReadonlyMap<string, string>) {
    const closedExternally: string[] = [];
    const mismatches: string[] = [];
    let exchange: Map<string, string>;
    try {
      exchange = new Map((await this.connector.fetchPositions()).map((p) => [p.symbol, p.quantity]));
    } catch {
      return { closedExternally, mismatches };
    }
    // Fills the ledger missed explain most differences: take them in first.
    await this.resyncOrders();
    const bySymbol = new Map<string, ReadonlyDeep<TradePlan>[]>();
    for (const plan of await this.activePlans()) bySymbol.set(plan.symbol, [...(bySymbol.get(plan.symbol) ?? []), plan]);
    const symbols = new Set([...bySymbol.keys(), ...exchange.keys()]);
    for (const symbol of symbols) {
      const plans = bySymbol.get(symbol) ?? [];
      const ledgerNet = plans.reduce((sum, p) => sum.plus(p.position.netQuantity), new D(0));
      const exchangeNet = new D(exchange.get(symbol) ?? '0');
      if (ledgerNet.equals(exchangeNet)) continue;
      if (exchangeNet.isZero()) {
        for (const plan of plans) {
          if (new D(plan.position.netQuantity).isZero()) continue;
          await this.closeExternally(plan, prices.get(symbol));
          closedExternally.push(plan.planId);
        }
      } else {
        mismatches.push(symbol);
        await this.ledger.recordAnomaly(
          { kind: 'position_mismatch', detail: `${symbol}: exchange position ${str(exchangeNet)}, ledger ${str(ledgerNet)}`, data: { symbol, exchange: str(exchangeNet), ledger: str(ledgerNet) } },
          null,
          null,
        );
      }
    }
    return { closedExternally, mismatches };
  }

  private async closeExternally(plan: ReadonlyDeep<TradePlan>, marketPrice: string | undefined): Promise<void> {
    const orders = (await Promise.all(plan.groupIds.map((g) => this.ledger.ordersOfGroup(g)))).flat();
    const filledExit = orders
      .filter((o) => EXIT_ROLES.includes(o.role) && o.averageFillPrice !== null && new D(o.filledQuantity).greaterThan(0))
      .sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : -1))[0];
    const price = filledExit?.averageFillPrice ?? plan.mark?.price ?? marketPrice ?? plan.position.averageEntryPrice;
    if (price === null || price === undefined) return;
    await this.ledger.host.run(this.ledger.now(), (turn) => {
      turn.send(plan.planId, { type: 'EXTERNAL_CLOSE', at: turn.at, price });
      for (const o of orders) if (WORKING.includes(o.status)) turn.send(o.orderId, { type: 'CANCEL', at: turn.at, reason: 'position closed outside the runtime' });
    });
  }

  private async findUnknownOrders(): Promise<string[]> {
    let open;
    try {
      open = await this.connector.fetchOpenOrders();
    } catch {
      return [];
    }
    const unknown: string[] = [];
    for (const o of open) {
      if ((await this.ledger.orderIdForClientOrderId(o.clientOrderId)) !== undefined) continue;
      unknown.push(o.clientOrderId);
      // Reported once, also across restarts: the report leaves a marker in the same batch.
      const marker = `unknown-order!${o.clientOrderId}`;
      if ((await this.ledger.store.getRaw('index', marker)) !== undefined) continue;
      await this.ledger.host.run(this.ledger.now(), (turn) => {
        turn.reportAnomaly(
          { kind: 'unknown_exchange_order', detail: `exchange order ${o.exchangeOrderId} (${o.clientOrderId}, ${o.side} ${o.quantity} ${o.symbol}) is not in the ledger` },
          null,
          o,
        );
        turn.ops.push({ type: 'put', area: 'index', key: marker, value: '' });
      });
    }
    return unknown;
  }
}

/** A trailing stop's new level at this price, if it moves the stop towards the price. */
export function trailingStop(plan: ReadonlyDeep<TradePlan>, price: string): string | null {
  const exit = plan.exitPlan;
  if (!exit?.trailingOffset) return null;
  const net = new D(plan.position.netQuantity);
  if (net.isZero()) return null;
  const candidate = net.isNegative() ? new D(price).plus(exit.trailingOffset) : new D(price).minus(exit.trailingOffset);
  if (candidate.lessThanOrEqualTo(0)) return null;
  if (exit.stopLossPrice === null) return str(candidate);
  const better = net.isNegative() ? candidate.lessThan(exit.stopLossPrice) : candidate.greaterThan(exit.stopLossPrice);
  return better ? str(candidate) : null;
}
