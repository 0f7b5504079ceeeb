/**
 * Quant aggregates over a data dir: the journal's causality (intent, origin, signals) joined
 * with the ledger's reality (fills, timings, P&L) by order and plan id.
 */
import type { DirectiveEntry, OrderRecordedEntry } from '../../actors/journal-writer.js';
import type { ChainIds } from '../../actors/strategy-cache.js';
import { D, str, type Dec } from '../domain/decimal.js';
import { executionOf, intendedOf, StrategyJournal } from './query.js';

export interface SlippageStats {
  readonly orders: number;
  /** Orders with fills and an intended price: the ones slippage is measured on. */
  readonly measured: number;
  /** Mean of the orders' slippage in bps (adverse positive). */
  readonly mean_bps: string | null;
  /** Total slippage cost over total intended notional, in bps. */
  readonly weighted_bps: string | null;
  readonly max_bps: string | null;
  readonly total_cost: string;
}

export interface OrderTypeStats {
  readonly orders: number;
  readonly filled: number;
  readonly partially_filled: number;
  readonly unfilled: number;
  readonly ordered_quantity: string;
  readonly filled_quantity: string;
  /** Filled quantity over ordered quantity. */
  readonly fill_ratio: string | null;
  readonly mean_ms_to_ack: number | null;
  readonly mean_ms_to_first_fill: number | null;
  readonly mean_ms_to_complete: number | null;
}

export interface PnlStats {
  readonly plans: number;
  readonly closed: number;
  readonly wins: number;
  readonly losses: number;
  readonly flat: number;
  /** wins / closed. */
  readonly win_rate: string | null;
  /** Realized P&L net of fees over closed plans. */
  readonly realized_pnl_net: string;
  readonly mean_pnl_net: string | null;
}

export interface JournalAggregates {
  readonly orders: number;
  readonly plans: number;
  readonly rejected_opportunities: number;
  readonly slippage_by_execution_strategy: Readonly<Record<string, SlippageStats>>;
  readonly by_order_type: Readonly<Record<string, OrderTypeStats>>;
  readonly pnl_by_origin_type: Readonly<Record<string, PnlStats>>;
  readonly pnl_by_signal: Readonly<Record<string, PnlStats>>;
  /** By the `type` of the plan's described signals (signal ids are often per occurrence); `(undescribed)` otherwise. */
  readonly pnl_by_signal_type: Readonly<Record<string, PnlStats>>;
  readonly rejections_by_origin_type: Readonly<Record<string, number>>;
}

class Mean {
  private sum = 0;
  private n = 0;
  add(v: number | null): void {
    if (v === null) return;
    this.sum += v;
    this.n++;
  }
  get value(): number | null {
    return this.n === 0 ? null : Math.round(this.sum / this.n);
  }
}

class SlippageAcc {
  orders = 0;
  measured = 0;
  private bpsSum = new D(0);
  private max: Dec | null = null;
  private cost = new D(0);
  private notional = new D(0);
  add(bps: string | null, cost: string | null, intendedNotional: Dec | null): void {
    this.orders++;
    if (bps === null || cost === null || intendedNotional === null) return;
    this.measured++;
    const b = new D(bps);
    this.bpsSum = this.bpsSum.plus(b);
    if (this.max === null || b.greaterThan(this.max)) this.max = b;
    this.cost = this.cost.plus(cost);
    this.notional = this.notional.plus(intendedNotional);
  }
  result(): SlippageStats {
    return {
      orders: this.orders,
      measured: this.measured,
      mean_bps: this.measured === 0 ? null : str(this.bpsSum.div(this.measured).toDecimalPlaces(2)),
      weighted_bps: this.notional.isZero() ? null : str(this.cost.div(this.notional).times(10_000).toDecimalPlaces(2)),
      max_bps: this.max === null ? null : str(this.max),
      total_cost: str(this.cost),
    };
  }
}

class OrderTypeAcc {
  orders = 0;
  filled = 0;
  partial = 0;
  unfilled = 0;
  private ordered = new D(0);
  private done = new D(0);
  readonly ack = new Mean();
  readonly firstFill = new Mean();
  readonly complete = new Mean();
  add(status: string, quantity: string, filledQuantity: string): void {
    this.orders++;
    this.ordered = this.ordered.plus(quantity);
    this.done = this.done.plus(filledQuantity);
    if (status === 'FILLED') this.filled++;
    else if (new D(filledQuantity).greaterThan(0)) this.partial++;
    else this.unfilled++;
  }
  result(): OrderTypeStats {
    return {
      orders: this.orders,
      filled: this.filled,
      partially_filled: this.partial,
      unfilled: this.unfilled,
      ordered_quantity: str(this.ordered),
      filled_quantity: str(this.done),
      fill_ratio: this.ordered.isZero() ? null : str(this.done.div(this.ordered).toDecimalPlaces(6)),
      mean_ms_to_ack: this.ack.value,
      mean_ms_to_first_fill: this.firstFill.value,
      mean_ms_to_complete: this.complete.value,
    };
  }
}

class PnlAcc {
  plans = 0;
  closed = 0;
  wins = 0;
  losses = 0;
  flat = 0;
  private pnl = new D(0);
  add(closed: boolean, net: string): void {
    this.plans++;
    if (!closed) return;
    this.closed++;
    const n = new D(net);
    this.pnl = this.pnl.plus(n);
    if (n.isZero()) this.flat++;
    else if (n.isPositive()) this.wins++;
    else this.losses++;
  }
  result(): PnlStats {
    return {
      plans: this.plans,
      closed: this.closed,
      wins: this.wins,
      losses: this.losses,
      flat: this.flat,
      win_rate: this.closed === 0 ? null : str(new D(this.wins).div(this.closed).toDecimalPlaces(4)),
      realized_pnl_net: str(this.pnl),
      mean_pnl_net: this.closed === 0 ? null : str(this.pnl.div(this.closed).toDecimalPlaces(8)),
    };
  }
}

function acc<T>(map: Map<string, T>, key: string, make: () => T): T {
  let v = map.get(key);
  if (!v) map.set(key, (v = make()));
  return v;
}

function record<T, R>(map: Map<string, T>, f: (t: T) => R): Record<string, R> {
  const out: Record<string, R> = {};
  for (const k of [...map.keys()].sort()) out[k] = f(map.get(k)!);
  return out;
}

async function idsOf(journal: StrategyJournal, kind: 'order' | 'plan'): Promise<string[]> {
  return journal.ledger.allIds(kind);
}

/**
 * Slippage by execution strategy, fill ratio and timings by order type, P&L and win rate by
 * origin type and by signal id (a plan counts under each of its signals; plans the journal
 * cannot attribute count under UNATTRIBUTED), and rejected opportunities by origin type.
 */
export async function aggregate(journal: StrategyJournal): Promise<JournalAggregates> {
  const recorded = new Map<string, OrderRecordedEntry>();
  const planDirectives = new Map<string, DirectiveEntry[]>();
  const rejections = new Map<string, number>();
  /** A plan no directive entry opened (e.g. registered directly): the first attributed order's chain. */
  const firstAttributed = new Map<string, ChainIds>();
  let rejected = 0;
  for await (const e of journal.all()) {
    if (e.kind === 'ORDER_RECORDED') {
      recorded.set(e.order_id, e);
      if (e.causality && !firstAttributed.has(e.plan_id)) firstAttributed.set(e.plan_id, e.causality);
    }
    else if (e.kind === 'DIRECTIVE' && e.plan_id) acc(planDirectives, e.plan_id, () => []).push(e);
    else if (e.kind === 'OPPORTUNITY_REJECTED') {
      rejected++;
      rejections.set(e.causality.origin.type, (rejections.get(e.causality.origin.type) ?? 0) + 1);
    }
  }
  const ledger = journal.ledger;
  await ledger.host.settled();

  const slippage = new Map<string, SlippageAcc>();
  const byType = new Map<string, OrderTypeAcc>();
  const strategies = new Map<string, string>();
  const orderIds = await idsOf(journal, 'order');
  for (const id of orderIds) {
    const order = await ledger.order(id);
    if (!order) continue;
    const fills = await ledger.fillsOfOrder(id);
    const history = await ledger.history(id);
    const intended = intendedOf(order, recorded.get(id), planDirectives.get(order.parentPlanId) ?? [], null);
    const ack = history.find((r) => r.event.type === 'ACCEPTED')?.at ?? null;
    const x = executionOf(order, fills, intended, ack);
    let strategy = strategies.get(order.parentGroupId);
    if (strategy === undefined) {
      strategy = (await ledger.group(order.parentGroupId))?.executionStrategy ?? 'UNKNOWN';
      strategies.set(order.parentGroupId, strategy);
    }
    const filled = new D(order.filledQuantity);
    acc(slippage, strategy, () => new SlippageAcc()).add(x.slippage_bps, x.slippage_cost, intended && filled.greaterThan(0) ? new D(intended.price).times(filled) : null);
    const t = acc(byType, order.orderType, () => new OrderTypeAcc());
    t.add(order.status, order.quantity, order.filledQuantity);
    t.ack.add(x.ms_to_ack);
    t.firstFill.add(x.ms_to_first_fill);
    t.complete.add(x.ms_to_complete);
  }

  const byOrigin = new Map<string, PnlAcc>();
  const bySignal = new Map<string, PnlAcc>();
  const bySignalType = new Map<string, PnlAcc>();
  const planIds = await idsOf(journal, 'plan');
  for (const id of planIds) {
    const plan = await ledger.plan(id);
    const position = await ledger.position(id);
    if (!plan || !position) continue;
    const directives = planDirectives.get(id) ?? [];
    const opening = directives.find((d) => d.scope === 'NEW_TRADE') ?? directives[0];
    const chain: ChainIds | null = opening?.causality ?? firstAttributed.get(id) ?? null;
    const closed = plan.status === 'CLOSED' || plan.status === 'CANCELLED';
    acc(byOrigin, chain?.origin.type ?? 'UNATTRIBUTED', () => new PnlAcc()).add(closed, position.realizedPnlNet);
    const signals = chain && chain.signal_ids.length > 0 ? [...new Set(chain.signal_ids)] : ['(none)'];
    for (const s of signals) acc(bySignal, s, () => new PnlAcc()).add(closed, position.realizedPnlNet);
    const described = new Map((opening?.context?.signals ?? []).map((s) => [s.id, s.type]));
    const types = chain && chain.signal_ids.length > 0 ? [...new Set(chain.signal_ids.map((s) => described.get(s) ?? '(undescribed)'))] : ['(none)'];
    for (const t of types) acc(bySignalType, t, () => new PnlAcc()).add(closed, position.realizedPnlNet);
  }

  return {
    orders: orderIds.length,
    plans: planIds.length,
    rejected_opportunities: rejected,
    slippage_by_execution_strategy: record(slippage, (a) => a.result()),
    by_order_type: record(byType, (a) => a.result()),
    pnl_by_origin_type: record(byOrigin, (a) => a.result()),
    pnl_by_signal: record(bySignal, (a) => a.result()),
    pnl_by_signal_type: record(bySignalType, (a) => a.result()),
    rejections_by_origin_type: record(rejections, (n) => n),
  };
}

/** Aggregates of a data dir that no running runtime holds. */
export async function aggregateDataDir(dataDir: string): Promise<JournalAggregates> {
  const journal = await StrategyJournal.open(dataDir);
  try {
    return await aggregate(journal);
  } finally {
    await journal.close();
  }
}
