/**
 * StrategyJournal query API: the story of an order or a plan = causality from the journal
 * (origin, signals, risks, directive and its intent) joined by order_id / fill_id with reality
 * from the ledger (orders, fills, fees, timings, P&L). The journal says why; the ledger says
 * what happened; neither is copied into the other.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  decodeEntry,
  JournalKeys,
  type DirectiveEntry,
  type IntentSource,
  type JournalEntry,
  type OpportunityRejectedEntry,
  type OrderRecordedEntry,
  type Attribution,
} from '../../actors/journal-writer.js';
import type { ChainIds } from '../../actors/strategy-cache.js';
import type { TransitionRecord } from '../../actors/host.js';
import { StrategyLedger, type ReadonlyDeep } from '../../actors/ledger.js';
import { prefixEnd } from '../../storage/store.js';
import { D, str, type Dec } from '../domain/decimal.js';
import type { ContextDescription, ExecutionAction, Scope } from '../domain/directive.js';
import { NotFoundError } from '../domain/errors.js';
import type { ExecutionStrategyType, Fill, Order, OrderRole, OrderType, Side } from '../domain/schemas.js';

// ---- story types ----------------------------------------------------------------------------------

export interface DirectiveSummary {
  readonly directive_id: string;
  readonly scope: Scope;
  readonly action: ExecutionAction | null;
  /** When its first turn was committed. */
  readonly at: string;
  readonly rationale: string | null;
  readonly intent: DirectiveEntry['intent'];
  readonly causality: ChainIds;
  /** Orders it created and existing orders it asked to cancel or change, over all its turns. */
  readonly created_order_ids: readonly string[];
  readonly affected_order_ids: readonly string[];
}

/** Why: the causal half of a story (journal). */
export interface Why {
  readonly cause: Attribution;
  readonly origin: ChainIds['origin'] | null;
  /** The latest chain of the subject (an order's: its fills appended). */
  readonly causality: ChainIds | null;
  /** Every listed signal/risk id, with its description where the journal has one. */
  readonly signals: readonly ContextDescription[];
  readonly risks: readonly ContextDescription[];
  readonly directive: DirectiveSummary | null;
}

export interface FillStory {
  readonly fill_id: string;
  readonly at: string;
  readonly side: Side;
  readonly quantity: string;
  readonly price: string;
  readonly fee: string;
  readonly fee_currency: string | null;
  readonly liquidity: 'MAKER' | 'TAKER' | null;
  /** Against the intended price, adverse positive (paid more on a buy, got less on a sell); null without intent. */
  readonly slippage: string | null;
  readonly slippage_bps: string | null;
}

export interface Execution {
  readonly intended_price: string | null;
  readonly intended_price_source: IntentSource | 'order.placed_price' | null;
  readonly average_fill_price: string | null;
  readonly slippage: string | null;
  readonly slippage_bps: string | null;
  /** slippage x filled quantity, in quote currency. */
  readonly slippage_cost: string | null;
  readonly fill_ratio: string;
  readonly fees: string;
  readonly created_at: string;
  readonly acknowledged_at: string | null;
  readonly first_fill_at: string | null;
  readonly completed_at: string | null;
  readonly ms_to_ack: number | null;
  readonly ms_to_first_fill: number | null;
  readonly ms_to_complete: number | null;
}

/** The ledger's order, as the story shows it (reality). */
export interface OrderReality {
  readonly symbol: string;
  readonly side: Side;
  readonly order_type: OrderType;
  readonly role: OrderRole;
  readonly time_in_force: string;
  readonly execution_strategy: ExecutionStrategyType | null;
  readonly status: string;
  readonly quantity: string;
  readonly filled_quantity: string;
  readonly price: string | null;
  readonly stop_price: string | null;
  readonly average_fill_price: string | null;
  readonly fees: string;
  readonly reason: string | null;
  readonly created_at: string;
  readonly closed_at: string | null;
}

export interface PnlSummary {
  readonly closed: boolean;
  readonly status: string;
  readonly exit_reason: string | null;
  readonly net_quantity: string;
  readonly realized_pnl: string;
  readonly fees: string;
  readonly realized_pnl_net: string;
  /** WIN / LOSS / FLAT by net realized P&L once the plan is closed; null while it is open. */
  readonly result: 'WIN' | 'LOSS' | 'FLAT' | null;
}

export interface OrderStory {
  readonly kind: 'order';
  readonly order_id: string;
  readonly plan_id: string;
  readonly group_id: string;
  readonly why: Why;
  readonly order: OrderReality;
  readonly execution: Execution;
  readonly fills: readonly FillStory[];
  /** The ledger's transitions of the order (reality). */
  readonly transitions: readonly TransitionRecord[];
  /** The journal's entries about the order (causality). */
  readonly journal: readonly JournalEntry[];
  readonly plan: PnlSummary | null;
}

export interface PlanStory {
  readonly kind: 'plan';
  readonly plan_id: string;
  readonly symbol: string;
  readonly direction: Side;
  readonly strategy_instance_id: string;
  readonly created_at: string;
  readonly closed_at: string | null;
  /** Why the plan exists: the directive that opened it. */
  readonly why: Why;
  /** Every directive that acted on it, in order. */
  readonly directives: readonly DirectiveSummary[];
  readonly orders: readonly OrderStory[];
  readonly pnl: PnlSummary;
  readonly journal: readonly JournalEntry[];
}

export type Story = OrderStory | PlanStory;

// ---- helpers ----------------------------------------------------------------------------------------

const ms = (a: string | null | undefined, b: string | null | undefined): number | null =>
  a && b ? Date.parse(b) - Date.parse(a) : null;

/** Adverse-positive slippage of `actual` against `intended` for a side, and in basis points. */
export function slippageOf(side: Side, intended: string, actual: string): { slippage: string; bps: string } {
  const i = new D(intended);
  const diff = side === 'BUY' ? new D(actual).minus(i) : i.minus(actual);
  return { slippage: str(diff), bps: str(diff.div(i).times(10_000).toDecimalPlaces(2)) };
}

function describe(ids: readonly string[], known: ReadonlyMap<string, ContextDescription>): ContextDescription[] {
  return ids.map((id) => known.get(id) ?? { id });
}

function summarize(turns: readonly DirectiveEntry[]): DirectiveSummary | null {
  const first = turns[0];
  const last = turns[turns.length - 1];
  if (!first || !last) return null;
  return {
    directive_id: first.directive_id,
    scope: first.scope,
    action: first.action,
    at: first.at,
    rationale: first.intent.rationale,
    intent: first.intent,
    causality: last.causality,
    created_order_ids: [...new Set(turns.flatMap((t) => t.created_order_ids))],
    affected_order_ids: [...new Set(turns.flatMap((t) => t.affected_order_ids))],
  };
}

function pnlOf(plan: { status: string; exitReason: string | null }, position: { netQuantity: string; realizedPnl: string; fees: string; realizedPnlNet: string }): PnlSummary {
  const closed = plan.status === 'CLOSED' || plan.status === 'CANCELLED';
  const net = new D(position.realizedPnlNet);
  return {
    closed,
    status: plan.status,
    exit_reason: plan.exitReason,
    net_quantity: position.netQuantity,
    realized_pnl: position.realizedPnl,
    fees: position.fees,
    realized_pnl_net: position.realizedPnlNet,
    result: closed ? (net.isPositive() && !net.isZero() ? 'WIN' : net.isZero() ? 'FLAT' : 'LOSS') : null,
  };
}

/**
 * The intended price of an order: the one its ORDER_RECORDED entry has from the directive; for
 * protection orders without one, the exit level of the latest directive of the plan before the
 * order was recorded that set it; failing that, for protection only, the price it was placed at.
 */
export function intendedOf(
  order: { role: OrderRole; orderType: OrderType },
  recorded: OrderRecordedEntry | undefined,
  planDirectives: readonly DirectiveEntry[],
  placed: { price: string | null; stopPrice: string | null } | null,
): { price: string; source: Execution['intended_price_source'] } | null {
  if (recorded?.intended_price) return { price: recorded.intended_price, source: recorded.intended_price_source };
  if (order.role !== 'STOP_LOSS' && order.role !== 'TAKE_PROFIT') return null;
  const before = recorded ? planDirectives.filter((d) => d.seq < recorded.seq) : planDirectives;
  for (let i = before.length - 1; i >= 0; i--) {
    const x = before[i]!.intent.exit_plan;
    if (order.role === 'STOP_LOSS' && x?.stop_loss_price) return { price: x.stop_loss_price, source: 'exit_plan.stop_loss_price' };
    if (order.role === 'TAKE_PROFIT' && x?.take_profit_price) return { price: x.take_profit_price, source: 'exit_plan.take_profit_price' };
  }
  const p = order.orderType === 'STOP' || order.orderType === 'STOP_LIMIT' ? placed?.stopPrice : placed?.price;
  return p ? { price: p, source: 'order.placed_price' } : null;
}

/** Execution figures of an order from its fills and intent (all decimal strings). */
export function executionOf(
  order: ReadonlyDeep<Order>,
  fills: readonly ReadonlyDeep<Fill>[],
  intended: { price: string; source: Execution['intended_price_source'] } | null,
  acknowledgedAt: string | null,
): Execution {
  const filled = new D(order.filledQuantity);
  let avg: Dec | null = null;
  if (fills.length > 0) {
    let notional = new D(0);
    let qty = new D(0);
    for (const f of fills) {
      notional = notional.plus(new D(f.price).times(f.quantity));
      qty = qty.plus(f.quantity);
    }
    if (!qty.isZero()) avg = notional.div(qty);
  }
  const avgStr = avg ? str(avg.toDecimalPlaces(12)) : order.averageFillPrice;
  const slip = intended && avgStr ? slippageOf(order.side, intended.price, avgStr) : null;
  const firstFill = fills.reduce<string | null>((m, f) => (m === null || f.at < m ? f.at : m), null);
  const completedAt = order.status === 'FILLED' ? order.closedAt : null;
  return {
    intended_price: intended?.price ?? null,
    intended_price_source: intended?.source ?? null,
    average_fill_price: avgStr,
    slippage: slip?.slippage ?? null,
    slippage_bps: slip?.bps ?? null,
    slippage_cost: slip ? str(new D(slip.slippage).times(filled)) : null,
    fill_ratio: str(filled.div(order.quantity).toDecimalPlaces(6)),
    fees: order.fees,
    created_at: order.createdAt,
    acknowledged_at: acknowledgedAt,
    first_fill_at: firstFill,
    completed_at: completedAt,
    ms_to_ack: ms(order.createdAt, acknowledgedAt),
    ms_to_first_fill: ms(order.createdAt, firstFill),
    ms_to_complete: ms(order.createdAt, completedAt),
  };
}

/** When the exchange acknowledged the order (its ACCEPTED transition), from the ledger's log. */
export function acknowledgedAt(history: readonly TransitionRecord[]): string | null {
  return history.find((r) => r.event.type === 'ACCEPTED')?.at ?? null;
}

// ---- the journal ----------------------------------------------------------------------------------

/**
 * Read access to the StrategyJournal of a ledger (a running runtime's `strategyLedger`, or a
 * data dir opened with `StrategyJournal.open`). Every read first waits for the turns started
 * so far to commit.
 */
export class StrategyJournal {
  constructor(readonly ledger: StrategyLedger) {}

  /** Opens a data dir (not in use by a running runtime) for reading; `close()` when done. */
  static async open(dataDir: string): Promise<StrategyJournal> {
    if (!existsSync(join(dataDir, 'CURRENT'))) throw new NotFoundError(dataDir, 'is not a data dir (no ledger there)');
    return new StrategyJournal(await StrategyLedger.open({ dataDir }));
  }

  close(): Promise<void> {
    return this.ledger.close();
  }

  private get store() {
    return this.ledger.store;
  }

  /** Entries whose index keys start with `prefix`, in journal order. */
  async entriesUnder(prefix: string): Promise<JournalEntry[]> {
    await this.ledger.host.settled();
    const keys: string[] = [];
    for await (const key of this.store.keys('journal', { gte: prefix, lt: prefixEnd(prefix) })) keys.push(JournalKeys.entry(JournalKeys.seqOf(key)));
    const raws = await this.store.getManyRaw('journal', keys);
    const out: JournalEntry[] = [];
    raws.forEach((raw, i) => {
      if (raw !== undefined) out.push(decodeEntry(keys[i]!, raw));
    });
    return out.sort((a, b) => a.seq - b.seq);
  }

  /** Every entry, in order. */
  async *all(): AsyncGenerator<JournalEntry> {
    await this.ledger.host.settled();
    for await (const [key, raw] of this.store.entries('journal', { gte: 'entry!', lt: prefixEnd('entry!') })) yield decodeEntry(key, raw);
  }

  ofOrder(orderId: string): Promise<JournalEntry[]> {
    return this.entriesUnder(JournalKeys.order(orderId));
  }

  ofPlan(planId: string): Promise<JournalEntry[]> {
    return this.entriesUnder(JournalKeys.plan(planId));
  }

  ofDirective(directiveId: string): Promise<JournalEntry[]> {
    return this.entriesUnder(JournalKeys.directive(directiveId));
  }

  /** Directive and rejection entries of an origin type, or of one origin. */
  byOrigin(type: string, originId?: string): Promise<JournalEntry[]> {
    return this.entriesUnder(JournalKeys.origin(type, originId));
  }

  bySignal(signalId: string): Promise<JournalEntry[]> {
    return this.entriesUnder(JournalKeys.signal(signalId));
  }

  byRisk(riskId: string): Promise<JournalEntry[]> {
    return this.entriesUnder(JournalKeys.risk(riskId));
  }

  async rejections(): Promise<OpportunityRejectedEntry[]> {
    return (await this.entriesUnder(JournalKeys.rejected())) as OpportunityRejectedEntry[];
  }

  /** The story of an order (ORD_), a plan (TPL_), or the order of a fill (FIL_); undefined if unknown. */
  async story(id: string): Promise<Story | undefined> {
    if (id.startsWith('TPL_')) return this.planStory(id);
    if (id.startsWith('ORD_')) return this.orderStory(id);
    if (id.startsWith('FIL_')) {
      await this.ledger.host.settled();
      const fill = (await this.store.getJson('fill', id)) as { parentOrderId?: string } | undefined;
      return fill?.parentOrderId ? this.orderStory(fill.parentOrderId) : undefined;
    }
    return undefined;
  }

  async orderStory(orderId: string): Promise<OrderStory | undefined> {
    const order = await this.ledger.order(orderId);
    if (!order) return undefined;
    const [journal, planEntries] = await Promise.all([this.ofOrder(orderId), this.ofPlan(order.parentPlanId)]);
    return this.buildOrderStory(order, journal, planEntries, true);
  }

  private async buildOrderStory(order: ReadonlyDeep<Order>, journal: readonly JournalEntry[], planEntries: readonly JournalEntry[], withPlan: boolean): Promise<OrderStory> {
    const [fills, history, group, plan] = await Promise.all([
      this.ledger.fillsOfOrder(order.orderId),
      this.ledger.history(order.orderId),
      this.ledger.group(order.parentGroupId),
      withPlan ? this.planPnl(order.parentPlanId) : Promise.resolve(null),
    ]);
    const recorded = journal.find((e): e is OrderRecordedEntry => e.kind === 'ORDER_RECORDED');
    const planDirectives = planEntries.filter((e): e is DirectiveEntry => e.kind === 'DIRECTIVE');
    const init = history[0]?.event.type === 'xstate.init' ? (history[0].event.input as { price?: string | null; stopPrice?: string | null } | undefined) : undefined;
    const intended = intendedOf(order, recorded, planDirectives, init ? { price: init.price ?? null, stopPrice: init.stopPrice ?? null } : null);
    const latest = [...journal].reverse().find((e) => 'causality' in e && e.causality !== null);
    const causality = latest && 'causality' in latest ? latest.causality : null;
    const directiveId = recorded?.directive_id ?? null;
    const directive = directiveId ? summarize(planDirectives.filter((d) => d.directive_id === directiveId)) : null;
    const known = descriptionsOf(planEntries);
    const execution = executionOf(order, fills, intended, acknowledgedAt(history));
    return {
      kind: 'order',
      order_id: order.orderId,
      plan_id: order.parentPlanId,
      group_id: order.parentGroupId,
      why: {
        cause: recorded?.cause ?? 'UNATTRIBUTED',
        origin: causality?.origin ?? null,
        causality,
        signals: describe(causality?.signal_ids ?? [], known.signals),
        risks: describe(causality?.risk_ids ?? [], known.risks),
        directive,
      },
      order: {
        symbol: order.symbol,
        side: order.side,
        order_type: order.orderType,
        role: order.role,
        time_in_force: order.timeInForce,
        execution_strategy: group?.executionStrategy ?? null,
        status: order.status,
        quantity: order.quantity,
        filled_quantity: order.filledQuantity,
        price: order.price,
        stop_price: order.stopPrice,
        average_fill_price: execution.average_fill_price,
        fees: order.fees,
        reason: order.reason,
        created_at: order.createdAt,
        closed_at: order.closedAt,
      },
      execution,
      fills: fills.map((f) => {
        const s = intended ? slippageOf(f.side, intended.price, f.price) : null;
        return {
          fill_id: f.fillId,
          at: f.at,
          side: f.side,
          quantity: f.quantity,
          price: f.price,
          fee: f.fee,
          fee_currency: f.feeCurrency,
          liquidity: f.liquidity,
          slippage: s?.slippage ?? null,
          slippage_bps: s?.bps ?? null,
        };
      }),
      transitions: history,
      journal,
      plan,
    };
  }

  private async planPnl(planId: string): Promise<PnlSummary | null> {
    const [plan, position] = await Promise.all([this.ledger.plan(planId), this.ledger.position(planId)]);
    return plan && position ? pnlOf(plan, position) : null;
  }

  async planStory(planId: string): Promise<PlanStory | undefined> {
    const plan = await this.ledger.plan(planId);
    if (!plan) return undefined;
    const [journal, position, groups] = await Promise.all([this.ofPlan(planId), this.ledger.position(planId), this.ledger.groupsOfPlan(planId)]);
    const byDirective = new Map<string, DirectiveEntry[]>();
    for (const e of journal) if (e.kind === 'DIRECTIVE') byDirective.set(e.directive_id, [...(byDirective.get(e.directive_id) ?? []), e]);
    const directives = [...byDirective.values()].map((turns) => summarize(turns)!);
    const opening = directives.find((d) => d.scope === 'NEW_TRADE') ?? directives[0] ?? null;
    const firstRecorded = journal.find((e): e is OrderRecordedEntry => e.kind === 'ORDER_RECORDED' && e.causality !== null);
    const causality = opening?.causality ?? firstRecorded?.causality ?? null;
    const known = descriptionsOf(journal);
    const orders: OrderStory[] = [];
    for (const g of groups) {
      for (const o of await this.ledger.ordersOfGroup(g.groupId)) {
        orders.push(await this.buildOrderStory(o, journal.filter((e) => 'order_id' in e && e.order_id === o.orderId), journal, false));
      }
    }
    orders.sort((a, b) => (a.order.created_at === b.order.created_at ? a.order_id.localeCompare(b.order_id) : a.order.created_at < b.order.created_at ? -1 : 1));
    return {
      kind: 'plan',
      plan_id: planId,
      symbol: plan.symbol,
      direction: plan.direction,
      strategy_instance_id: plan.strategyInstanceId,
      created_at: plan.createdAt,
      closed_at: plan.closedAt,
      why: {
        cause: opening ? 'DIRECTIVE' : firstRecorded ? firstRecorded.cause : 'UNATTRIBUTED',
        origin: causality?.origin ?? null,
        causality,
        signals: describe(causality?.signal_ids ?? [], known.signals),
        risks: describe(causality?.risk_ids ?? [], known.risks),
        directive: opening,
      },
      directives,
      orders,
      pnl: pnlOf(plan, position!),
      journal,
    };
  }
}

/** Descriptions of signals and risks that directive and rejection entries carry, by id (later ones win). */
export function descriptionsOf(entries: Iterable<JournalEntry>): { signals: Map<string, ContextDescription>; risks: Map<string, ContextDescription> } {
  const signals = new Map<string, ContextDescription>();
  const risks = new Map<string, ContextDescription>();
  for (const e of entries) {
    const ctx = e.kind === 'DIRECTIVE' || e.kind === 'OPPORTUNITY_REJECTED' ? e.context : null;
    if (!ctx) continue;
    for (const s of ctx.signals) signals.set(s.id, s);
    for (const r of ctx.risks) risks.set(r.id, r);
  }
  return { signals, risks };
}
