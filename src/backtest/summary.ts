import type { StrategyLedger } from '../../actors/ledger.js';
import { D, str, type Dec } from '../domain/decimal.js';
import { PlanStatus, type Fill, type Order } from '../domain/schemas.js';
import type { OhlcvBar } from '../data/ohlcv.js';
import type { DirectiveCounts } from './checkpoint.js';
import type { MetricsState } from './metrics.js';

/** Slippage of the fills of one execution strategy. Costs are positive when against us. */
export interface SlippageRow {
  readonly executionStrategy: string;
  readonly fills: number;
  readonly quantity: string;
  /** Reference price x quantity. */
  readonly notional: string;
  /** Against each order's own reference: the fill bar's open (MARKET), the stop (STOP), the limit (LIMIT). */
  readonly cost: string;
  readonly bps: string | null;
  /** Against the close of the bar the order was decided on (implementation shortfall); decided orders only. */
  readonly shortfall: string;
  readonly shortfallBps: string | null;
}

/** Everything in a backtest's result; all amounts are exact decimal strings in `currency`. */
export interface BacktestSummary {
  readonly symbol: string;
  readonly source: string;
  readonly strategy: string;
  readonly instanceId: string;
  readonly bars: { readonly total: number; readonly processed: number; readonly first: string | null; readonly last: string | null; readonly interval: string };
  readonly currency: string;
  readonly initialCapital: string;
  readonly finalEquity: string;
  readonly trades: {
    /** Plans that traded (closed + open). */
    readonly total: number;
    readonly closed: number;
    readonly open: number;
    readonly won: number;
    readonly lost: number;
    /** won / closed, in percent; null before the first closed trade. */
    readonly winRatePct: string | null;
    readonly long: number;
    readonly short: number;
    /** Plans whose entry never filled. */
    readonly cancelled: number;
    readonly averageWin: string | null;
    readonly averageLoss: string | null;
    readonly exitReasons: Readonly<Record<string, number>>;
  };
  readonly pnl: {
    /** realized + unrealized, net of fees. */
    readonly net: string;
    readonly realized: string;
    /** Open positions marked at the last close. */
    readonly unrealized: string;
    /** Before fees. */
    readonly gross: string;
    readonly returnPct: string;
  };
  readonly fees: string;
  readonly maxDrawdown: { readonly amount: string; readonly pct: string; readonly peakAt: string | null; readonly troughAt: string | null };
  readonly exposure: {
    /** Share of bars that closed with a position open, in percent. */
    readonly timeInMarketPct: string;
    /** Mean over all bars of gross position value / equity, in percent. */
    readonly averageGrossPct: string;
  };
  readonly slippage: readonly SlippageRow[];
  readonly directives: DirectiveCounts & { readonly total: number };
  readonly ledger: { readonly dataDir: string; readonly plans: number; readonly orders: number; readonly fills: number };
}

export interface SummaryInput {
  readonly ledger: StrategyLedger;
  readonly dataDir: string;
  readonly symbol: string;
  readonly source: string;
  readonly strategy: string;
  readonly instanceId: string;
  readonly currency: string;
  readonly initialCapital: string;
  readonly bars: readonly OhlcvBar[];
  readonly processed: number;
  readonly interval: string;
  /** Bar index by its decision time (end of bar). */
  readonly decisionIndex: ReadonlyMap<number, number>;
  readonly barIndex: ReadonlyMap<number, number>;
  readonly metrics: MetricsState;
  readonly directives: DirectiveCounts;
}

const pct = (part: Dec, whole: Dec, dp = 4): string | null => (whole.isZero() ? null : str(part.div(whole).times(100).toDecimalPlaces(dp)));
const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/** Reads every plan of the data dir (one backtest per dir) and totals them. */
export async function computeSummary(input: SummaryInput): Promise<BacktestSummary> {
  const { ledger, bars } = input;
  const lastBar = input.processed > 0 ? bars[input.processed - 1] : undefined;
  const lastClose = lastBar ? new D(lastBar.close) : null;
  let realized = new D(0);
  let unrealized = new D(0);
  let fees = new D(0);
  let closed = 0, open = 0, won = 0, lost = 0, long = 0, short = 0, cancelled = 0, plans = 0, orders = 0, fills = 0;
  let winSum = new D(0);
  let lossSum = new D(0);
  const exitReasons: Record<string, number> = {};
  const slip = new Map<string, { fills: number; quantity: Dec; notional: Dec; cost: Dec; sfNotional: Dec; shortfall: Dec }>();

  for (const status of PlanStatus.options) {
    for (const planId of await ledger.idsByStatus('plan', status)) {
      const plan = await ledger.plan(planId);
      if (!plan) continue;
      plans++;
      const p = plan.position;
      const traded = new D(p.boughtQuantity).plus(p.soldQuantity).gt(0);
      fees = fees.plus(p.fees);
      const net = new D(p.realizedPnl).minus(p.fees);
      realized = realized.plus(net);
      if (!traded) {
        if (plan.status === 'CANCELLED') cancelled++;
      } else {
        if (plan.direction === 'BUY') long++;
        else short++;
        if (plan.status === 'CLOSED') {
          closed++;
          if (net.gt(0)) {
            won++;
            winSum = winSum.plus(net);
          } else {
            lost++;
            lossSum = lossSum.plus(net);
          }
          const reason = plan.exitReason ?? 'UNKNOWN';
          exitReasons[reason] = (exitReasons[reason] ?? 0) + 1;
        } else {
          open++;
        }
        const q = new D(p.netQuantity);
        if (!q.isZero() && lastClose !== null) {
          unrealized = unrealized.plus(q.times(lastClose).minus(q.isNegative() ? new D(p.costBasis).neg() : new D(p.costBasis)));
        }
      }
      for (const group of await ledger.groupsOfPlan(planId)) {
        const row = slip.get(group.executionStrategy) ?? { fills: 0, quantity: new D(0), notional: new D(0), cost: new D(0), sfNotional: new D(0), shortfall: new D(0) };
        slip.set(group.executionStrategy, row);
        for (const order of await ledger.ordersOfGroup(group.groupId)) {
          orders++;
          const orderFills = order.fillIds.length === 0 ? [] : await ledger.fillsOfOrder(order.orderId);
          fills += orderFills.length;
          for (const fill of orderFills) addSlippage(row, order, fill, input);
        }
      }
    }
  }

  const m = input.metrics;
  const capital = new D(input.initialCapital);
  const total = realized.plus(unrealized);
  const directiveTotal = input.directives.newTrade + input.directives.modify + input.directives.close;
  return {
    symbol: input.symbol,
    source: input.source,
    strategy: input.strategy,
    instanceId: input.instanceId,
    bars: { total: bars.length, processed: input.processed, first: iso(bars[0]?.at), last: iso(lastBar?.at), interval: input.interval },
    currency: input.currency,
    initialCapital: str(capital),
    finalEquity: str(capital.plus(total)),
    trades: {
      total: closed + open,
      closed,
      open,
      won,
      lost,
      winRatePct: pct(new D(won), new D(closed), 2),
      long,
      short,
      cancelled,
      averageWin: won === 0 ? null : str(winSum.div(won).toDecimalPlaces(8)),
      averageLoss: lost === 0 ? null : str(lossSum.div(lost).toDecimalPlaces(8)),
      exitReasons,
    },
    pnl: { net: str(total), realized: str(realized), unrealized: str(unrealized), gross: str(total.plus(fees)), returnPct: pct(total, capital) ?? '0' },
    fees: str(fees),
    maxDrawdown: { amount: m.maxDrawdown, pct: str(new D(m.maxDrawdownPct).times(100).toDecimalPlaces(4)), peakAt: iso(m.drawdownPeakAt), troughAt: iso(m.drawdownTroughAt) },
    exposure: {
      timeInMarketPct: pct(new D(m.barsInMarket), new D(m.bars), 2) ?? '0',
      averageGrossPct: m.bars === 0 ? '0' : str(new D(m.exposureSum).div(m.bars).times(100).toDecimalPlaces(2)),
    },
    slippage: [...slip.entries()]
      .filter(([, r]) => r.fills > 0)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([executionStrategy, r]) => ({
        executionStrategy,
        fills: r.fills,
        quantity: str(r.quantity),
        notional: str(r.notional.toDecimalPlaces(8)),
        cost: str(r.cost.toDecimalPlaces(8)),
        bps: r.notional.isZero() ? null : str(r.cost.div(r.notional).times(10_000).toDecimalPlaces(4)),
        shortfall: str(r.shortfall.toDecimalPlaces(8)),
        shortfallBps: r.sfNotional.isZero() ? null : str(r.shortfall.div(r.sfNotional).times(10_000).toDecimalPlaces(4)),
      })),
    // Background warnings are races inside the runtime, not results: they go to the log only.
    directives: { newTrade: input.directives.newTrade, modify: input.directives.modify, close: input.directives.close, declined: input.directives.declined, refused: input.directives.refused, failed: input.directives.failed, total: directiveTotal },
    ledger: { dataDir: input.dataDir, plans, orders, fills },
  };
}

function addSlippage(
  row: { fills: number; quantity: Dec; notional: Dec; cost: Dec; sfNotional: Dec; shortfall: Dec },
  order: { readonly orderType: Order['orderType']; readonly price: string | null; readonly stopPrice: string | null; readonly side: Order['side']; readonly createdAt: string },
  fill: { readonly at: Fill['at']; readonly price: string; readonly quantity: string },
  input: SummaryInput,
): void {
  const q = new D(fill.quantity);
  const px = new D(fill.price);
  const against = (ref: Dec) => (order.side === 'BUY' ? px.minus(ref) : ref.minus(px)).times(q);
  let ref: Dec | null = null;
  if (order.orderType === 'MARKET') {
    const i = input.barIndex.get(Date.parse(fill.at));
    const bar = i === undefined ? undefined : input.bars[i];
    if (bar) ref = new D(bar.open);
  } else if (order.orderType === 'STOP') {
    ref = order.stopPrice === null ? null : new D(order.stopPrice);
  } else {
    ref = order.price === null ? null : new D(order.price);
  }
  row.fills++;
  row.quantity = row.quantity.plus(q);
  if (ref !== null) {
    row.notional = row.notional.plus(ref.times(q));
    row.cost = row.cost.plus(against(ref));
  }
  const decided = input.decisionIndex.get(Date.parse(order.createdAt));
  const decisionBar = decided === undefined ? undefined : input.bars[decided];
  if (decisionBar) {
    const close = new D(decisionBar.close);
    row.sfNotional = row.sfNotional.plus(close.times(q));
    row.shortfall = row.shortfall.plus(against(close));
  }
}
