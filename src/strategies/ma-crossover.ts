/**
 * Example strategy: moving-average crossover with ATR-sized stop-loss and take-profit and a
 * trailing stop, long and short.
 *
 * - Signal: the fast SMA of closes crosses the slow SMA (up: go long; down: go short, when
 *   `allow_short`). Only the bar of the cross is a signal; after a stop-out the strategy waits
 *   for the next cross.
 * - Entry: a MARKET order when the signal bar closes (it fills at the next bar's open).
 * - Size: risk `risk_per_trade` of equity between entry and stop (`stop_atr` x ATR), rounded
 *   down to `quantity_step`, capped at `max_leverage` x equity of notional.
 * - Exit plan on NEW_TRADE: stop-loss `stop_atr` x ATR and take-profit `take_profit_atr` x ATR
 *   from the signal close, trailing offset `trail_atr` x ATR.
 * - Trailing (chandelier): each bar the stop follows the highest high (long) or lowest low
 *   (short) since the signal by the trailing offset, never loosening. When the plan has an
 *   exchange-native stop-loss order and the new level beats the plan's current one, the move is
 *   sent as MODIFY_EXISTING + MODIFY_ORDERS with the new exit_plan.stop_loss_price (targeting
 *   the protection group). The exit_plan's trailing_offset also lets the runtime's position
 *   monitor trail on marks between bars (live); on bar data that trail, from closes, is looser.
 * - Exits: the opposite cross sends CLOSE_EXISTING + EXECUTE_TRADE (and, if allowed, the
 *   reversal's NEW_TRADE on the same bar). While a plan has no exchange-native stop-loss order,
 *   the strategy watches its own levels instead: a bar whose low (long) or high (short) touches
 *   the stop, or whose high/low reaches the take-profit, sends CLOSE_EXISTING, filled at the next
 *   open. With exchange protection in place the exchange does this intrabar and the strategy
 *   just sees the plan closed.
 */
import { z } from 'zod';
import type { LedgerView } from '../../actors/ledger.js';
import { D, str, type Dec } from '../domain/decimal.js';
import type { Side } from '../domain/schemas.js';
import { positiveDecimal } from '../config/fields.js';
import {
  directiveId,
  EntryPlanner,
  ExecutionPlanner,
  ExitPlanner,
  SizePlanner,
  type DirectiveResult,
  type EntryPlan,
  type ExecutionPlan,
  type ExitPlan,
  type Json,
  type MarketContext,
  type PlanningContext,
  type SizePlan,
  type Strategy,
  type StrategyDirective,
  type StrategyPlanner,
} from './api.js';
import { Atr, Sma, type AtrState } from './indicators.js';

export const MaCrossoverParamsSchema = z
  .object({
    /** Fast SMA period (bars). */
    fast: z.number().int().min(1).default(20),
    /** Slow SMA period (bars); must exceed `fast`. */
    slow: z.number().int().min(2).default(50),
    /** ATR period (bars, Wilder). */
    atr_period: z.number().int().min(1).default(14),
    /** Stop-loss distance in ATRs. */
    stop_atr: positiveDecimal().default('2'),
    /** Take-profit distance in ATRs; null for none. */
    take_profit_atr: positiveDecimal().nullable().default('4'),
    /** Trailing-stop offset in ATRs; null for no trailing. */
    trail_atr: positiveDecimal().nullable().default('3'),
    /** Fraction of equity risked between entry and stop, e.g. 0.01 for 1%. */
    risk_per_trade: positiveDecimal().default('0.01'),
    /** Largest position notional as a multiple of equity. */
    max_leverage: positiveDecimal().default('1'),
    allow_short: z.boolean().default(true),
    /** Lot size: quantities are rounded down to a multiple of it. */
    quantity_step: positiveDecimal().default('1'),
    /** Price decimals of stop and take-profit levels. */
    price_decimals: z.number().int().min(0).max(12).default(2),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.slow <= p.fast) ctx.addIssue({ code: 'custom', path: ['slow'], message: `must be greater than fast (${p.fast}), got ${p.slow}` });
  });

export type MaCrossoverParams = z.output<typeof MaCrossoverParamsSchema>;

/** What the StrategyPlanner tells its TradePlanners. */
export type MacHints = {
  /** Close of the signal bar. */
  readonly reference_price: string;
  /** ATR at the signal bar. */
  readonly atr: string;
  /** MODIFY_EXISTING: the new (trailed) stop-loss. */
  readonly new_stop_loss: string | null;
};

interface Trade {
  readonly directiveId: string;
  planId: string | null;
  readonly direction: Side;
  stop: string | null;
  takeProfit: string | null;
  trailOffset: string | null;
  /** Highest high (long) or lowest low (short) since the signal. */
  extreme: string;
}

interface Closing {
  readonly planId: string;
  /** Bar index of the last CLOSE_EXISTING sent for it. */
  sentAt: number;
}

interface MacState {
  readonly fast: string[];
  readonly slow: string[];
  readonly atr: AtrState;
  readonly lastSign: number;
  readonly trade: Trade | null;
  readonly closing: Closing[];
}

const OPEN_ORDER = ['PENDING', 'SUBMITTED', 'OPEN', 'PARTIALLY_FILLED', 'PENDING_CANCEL', 'PENDING_UPDATE'];

/** The open group of a plan holding a working STOP_LOSS order (exchange-native protection), or null. */
export async function protectionGroupOf(ledger: LedgerView, planId: string): Promise<string | null> {
  const plan = await ledger.plan(planId);
  if (!plan) return null;
  for (const groupId of plan.openGroupIds) {
    for (const order of await ledger.ordersOfGroup(groupId)) {
      if (order.role === 'STOP_LOSS' && OPEN_ORDER.includes(order.status)) return groupId;
    }
  }
  return null;
}

function roundPrice(value: Dec, decimals: number, up: boolean): Dec {
  return value.toDecimalPlaces(decimals, up ? D.ROUND_CEIL : D.ROUND_FLOOR);
}

/** WHAT to do: crossovers, stops, trailing. */
export class MaCrossoverPlanner implements StrategyPlanner<MacHints> {
  private fast: Sma;
  private slow: Sma;
  private atr: Atr;
  private lastSign = 0;
  private trade: Trade | null = null;
  private closing: Closing[] = [];

  constructor(
    private readonly params: MaCrossoverParams,
    private readonly idPrefix: string,
  ) {
    this.fast = new Sma(params.fast);
    this.slow = new Sma(params.slow);
    this.atr = new Atr(params.atr_period);
  }

  async onBar(market: MarketContext): Promise<readonly StrategyDirective<MacHints>[]> {
    const { bar, ledger, index, symbol } = market;
    const close = new D(bar.close);
    const high = new D(bar.high);
    const low = new D(bar.low);
    this.fast.push(close);
    this.slow.push(close);
    this.atr.push(high, low, close);
    const signal = this.crossover();
    const atr = this.atr.value;
    const out: StrategyDirective<MacHints>[] = [];
    let k = 0;
    const nextId = () => directiveId(this.idPrefix, `b${index}`, k++);
    const day = new Date(bar.at).toISOString().slice(0, 10);
    const signalId = signal === null ? null : `sma${this.params.fast}x${this.params.slow}:${signal}@${new Date(bar.at).toISOString()}`;
    const hints = (over: Partial<MacHints> = {}): MacHints => ({ reference_price: bar.close, atr: atr === null ? '0' : str(atr), new_stop_loss: null, ...over });
    const close_ = (planId: string, why: string, signals: readonly string[]) => {
      out.push({ id: nextId(), scope: 'CLOSE_EXISTING', symbol, targetPlanId: planId, signalIds: signals, rationale: why, hints: hints() });
      const c = this.closing.find((x) => x.planId === planId);
      if (c) c.sentAt = index;
      else this.closing.push({ planId, sentAt: index });
    };

    // Plans being closed: forget the closed ones; send the close again if one is still open two bars on.
    const stillClosing: Closing[] = [];
    for (const c of this.closing) {
      const p = await ledger.position(c.planId);
      if (!p || p.status === 'CLOSED' || p.status === 'CANCELLED') continue;
      stillClosing.push(c);
    }
    this.closing = stillClosing;
    for (const c of [...this.closing]) {
      if (index - c.sentAt >= 2) close_(c.planId, `close of ${c.planId} again: still open ${index - c.sentAt} bars after the last close`, []);
    }

    // The current trade, as the ledger has it.
    let t = this.trade;
    let net = new D(0);
    if (t !== null) {
      const p = t.planId === null ? undefined : await ledger.position(t.planId);
      if (!p || p.status === 'CLOSED' || p.status === 'CANCELLED') {
        this.trade = t = null; // stopped out, taken profit, or never filled
      } else {
        net = new D(p.netQuantity);
      }
    }

    if (t !== null && t.planId !== null && !net.isZero()) {
      const long = t.direction === 'BUY';
      const planId = t.planId;
      if (signal !== null && signal === (long ? 'down' : 'up')) {
        close_(planId, `SMA(${this.params.fast}) crossed ${signal} through SMA(${this.params.slow}) on ${day}: close the ${long ? 'long' : 'short'}`, [signalId!]);
        this.trade = t = null;
      } else {
        const protection = await protectionGroupOf(ledger, planId);
        let closed = false;
        if (protection === null) {
          // No exchange-native stop: the strategy watches its own levels.
          if (t.stop !== null && (long ? low.lte(t.stop) : high.gte(t.stop))) {
            close_(planId, `stop-loss ${t.stop} touched on ${day} (${long ? 'low' : 'high'} ${long ? bar.low : bar.high}); no exchange stop on the plan`, [`stop:${planId}@${day}`]);
            closed = true;
          } else if (t.takeProfit !== null && (long ? high.gte(t.takeProfit) : low.lte(t.takeProfit))) {
            close_(planId, `take-profit ${t.takeProfit} reached on ${day} (${long ? 'high' : 'low'} ${long ? bar.high : bar.low}); no exchange take-profit on the plan`, [`tp:${planId}@${day}`]);
            closed = true;
          }
        }
        if (closed) {
          this.trade = t = null;
        } else if (t.trailOffset !== null) {
          const extreme = long ? D.max(t.extreme, high) : D.min(t.extreme, low);
          t.extreme = str(extreme);
          const candidate = roundPrice(long ? extreme.minus(t.trailOffset) : extreme.plus(t.trailOffset), this.params.price_decimals, !long);
          const beats = (level: string | null | undefined) => candidate.gt(0) && (level === null || level === undefined || (long ? candidate.gt(level) : candidate.lt(level)));
          if (protection !== null) {
            // The plan's exit levels are the truth (the position monitor may have trailed them already).
            const current = (await ledger.plan(planId))?.exitPlan?.stopLossPrice ?? t.stop;
            if (current !== null && !beats(current)) t.stop = current;
          }
          if (beats(t.stop)) {
            t.stop = str(candidate);
            if (protection !== null) {
              out.push({
                id: nextId(),
                scope: 'MODIFY_EXISTING',
                symbol,
                targetPlanId: planId,
                targetGroupId: protection,
                signalIds: [`trail:${planId}@${day}`],
                rationale: `trail the stop to ${t.stop} (${long ? 'highest high' : 'lowest low'} ${t.extreme} ${long ? '-' : '+'} ${t.trailOffset})`,
                hints: hints({ new_stop_loss: t.stop }),
              });
            }
          }
        }
      }
    }

    // Entries: on a cross, when no trade is open (or the open one was just closed: a reversal).
    if (signal !== null && this.trade === null && atr !== null && atr.gt(0)) {
      const direction: Side = signal === 'up' ? 'BUY' : 'SELL';
      if (direction === 'BUY' || this.params.allow_short) {
        const id = nextId();
        out.push({
          id,
          scope: 'NEW_TRADE',
          symbol,
          direction,
          signalIds: [signalId!],
          rationale: `SMA(${this.params.fast}) crossed ${signal} through SMA(${this.params.slow}) on ${day}: go ${direction === 'BUY' ? 'long' : 'short'}`,
          hints: hints(),
        });
        this.trade = { directiveId: id, planId: null, direction, stop: null, takeProfit: null, trailOffset: null, extreme: direction === 'BUY' ? bar.high : bar.low };
      }
    }
    return out;
  }

  onOutcome(sd: StrategyDirective<MacHints>, result: DirectiveResult): void {
    if (sd.scope !== 'NEW_TRADE' || this.trade === null || this.trade.directiveId !== sd.id) return;
    if (result.kind !== 'executed' || result.outcome.plan_id === null) {
      this.trade = null; // declined (too small) or refused: no trade
      return;
    }
    const exit = result.directive.exit_plan;
    this.trade.planId = result.outcome.plan_id;
    this.trade.stop = exit?.stop_loss_price ?? null;
    this.trade.takeProfit = exit?.take_profit_price ?? null;
    this.trade.trailOffset = exit?.trailing_offset ?? null;
  }

  /** 'up' / 'down' on the bar the fast SMA crosses the slow one; null otherwise. */
  private crossover(): 'up' | 'down' | null {
    if (!this.slow.ready || !this.fast.ready) return null;
    // fast/fastN vs slow/slowN, compared without dividing.
    const sign = this.fast.sum.times(this.slow.period).comparedTo(this.slow.sum.times(this.fast.period));
    if (sign === 0) return null;
    const previous = this.lastSign;
    this.lastSign = sign;
    if (previous === 0 || previous === sign) return null;
    return sign > 0 ? 'up' : 'down';
  }

  saveState(): Json {
    const state: MacState = {
      fast: this.fast.toJSON(),
      slow: this.slow.toJSON(),
      atr: this.atr.toJSON(),
      lastSign: this.lastSign,
      trade: this.trade === null ? null : { ...this.trade },
      closing: this.closing.map((c) => ({ ...c })),
    };
    return state as unknown as Json;
  }

  restoreState(state: Json): void {
    const s = state as unknown as MacState;
    this.fast = Sma.from(this.params.fast, s.fast);
    this.slow = Sma.from(this.params.slow, s.slow);
    this.atr = Atr.from(s.atr);
    this.lastSign = s.lastSign;
    this.trade = s.trade === null ? null : { ...s.trade };
    this.closing = s.closing.map((c) => ({ ...c }));
  }
}

/** entry_plan: market orders in the signal's direction. */
export class MacEntryPlanner extends EntryPlanner<MacHints> {
  readonly name = 'MacEntryPlanner';

  protected onNewTrade({ directive }: PlanningContext<MacHints>): EntryPlan {
    return { symbol: directive.symbol, direction: directive.direction!, order_type: 'MARKET', time_in_force: 'GTC' };
  }
}

/** size_plan: fixed-fraction risk to the ATR stop, capped by leverage. */
export class MacSizePlanner extends SizePlanner<MacHints> {
  readonly name = 'MacSizePlanner';

  constructor(private readonly params: MaCrossoverParams) {
    super();
  }

  protected onNewTrade({ directive, market }: PlanningContext<MacHints>): SizePlan | null {
    const equity = new D(market.account.equity);
    const price = new D(directive.hints.reference_price);
    const stopDistance = new D(directive.hints.atr).times(this.params.stop_atr);
    if (!equity.gt(0) || !price.gt(0) || !stopDistance.gt(0)) return null;
    const step = new D(this.params.quantity_step);
    const byRisk = equity.times(this.params.risk_per_trade).div(stopDistance);
    const byLeverage = equity.times(this.params.max_leverage).div(price);
    const quantity = D.min(byRisk, byLeverage).div(step).floor().times(step);
    return quantity.gt(0) ? { position_size: str(quantity) } : null;
  }
}

/** exit_plan: ATR stop-loss, take-profit and trailing offset; the trailed stop on MODIFY. */
export class MacExitPlanner extends ExitPlanner<MacHints> {
  readonly name = 'MacExitPlanner';

  constructor(private readonly params: MaCrossoverParams) {
    super();
  }

  protected onNewTrade({ directive }: PlanningContext<MacHints>): ExitPlan | null {
    const price = new D(directive.hints.reference_price);
    const atr = new D(directive.hints.atr);
    const long = directive.direction === 'BUY';
    const p = this.params;
    const stop = roundPrice(long ? price.minus(atr.times(p.stop_atr)) : price.plus(atr.times(p.stop_atr)), p.price_decimals, !long);
    const tp =
      p.take_profit_atr === null ? null : roundPrice(long ? price.plus(atr.times(p.take_profit_atr)) : price.minus(atr.times(p.take_profit_atr)), p.price_decimals, long);
    const trail = p.trail_atr === null ? null : roundPrice(atr.times(p.trail_atr), p.price_decimals, true);
    return {
      stop_loss_price: stop.gt(0) ? str(stop) : null,
      take_profit_price: tp !== null && tp.gt(0) ? str(tp) : null,
      trailing_offset: trail !== null && trail.gt(0) ? str(trail) : null,
    };
  }

  protected override onModifyTrade({ directive }: PlanningContext<MacHints>): ExitPlan | null {
    const stop = directive.hints.new_stop_loss;
    return stop === null ? null : { stop_loss_price: stop, take_profit_price: null, trailing_offset: null };
  }
}

/** execution_plan: one market order (SINGLE); modifies and closes use the base defaults. */
export class MacExecutionPlanner extends ExecutionPlanner<MacHints> {
  readonly name = 'MacExecutionPlanner';

  protected onNewTrade(): ExecutionPlan {
    return { action: 'EXECUTE_TRADE', execution_strategy: 'SINGLE', urgency: 'NORMAL' };
  }
}

export function createMaCrossover(params: MaCrossoverParams, instanceId: string): Strategy<MacHints> {
  const p = params;
  const describe = [
    `SMA ${p.fast}/${p.slow}`,
    `ATR ${p.atr_period}`,
    `stop ${p.stop_atr} ATR`,
    p.take_profit_atr === null ? 'no take-profit' : `take-profit ${p.take_profit_atr} ATR`,
    p.trail_atr === null ? 'no trailing' : `trail ${p.trail_atr} ATR`,
    `risk ${new D(p.risk_per_trade).times(100).toFixed()}%`,
    p.allow_short ? 'long/short' : 'long only',
  ];
  return {
    name: 'ma-crossover',
    instanceId,
    description: `ma-crossover (${describe.join(', ')})`,
    planner: new MaCrossoverPlanner(params, instanceId),
    entry: new MacEntryPlanner(),
    size: new MacSizePlanner(params),
    exit: new MacExitPlanner(params),
    execution: new MacExecutionPlanner(),
  };
}
