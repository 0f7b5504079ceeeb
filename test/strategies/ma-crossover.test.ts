import { describe, expect, it } from 'vitest';
import type { DirectiveOutcome } from '../../actors/worker.js';
import type { OhlcvBar } from '../../src/data/ohlcv.js';
import { PlanningPipeline, type MarketContext, type Strategy, type StrategyDirective } from '../../src/strategies/api.js';
import { createMaCrossover, MaCrossoverParamsSchema, type MacHints } from '../../src/strategies/ma-crossover.js';
import { FakeLedger } from './fake-ledger.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2024, 0, 1);
const PLAN = 'TPL_20240101_000000_plan1';
const PLAN2 = 'TPL_20240101_000000_plan2';
const PROT = 'EXG_20240101_000000_prot1';

/** Bars with range 2 around the close: with one-point steps the ATR is exactly 2. */
function bar(i: number, close: number, low = close - 1): OhlcvBar {
  return { at: T0 + i * DAY, open: String(close), high: String(close + 1), low: String(low), close: String(close), volume: '1000' };
}

/** Closes: 100 down to 90, then up by 1 a bar. */
const DOWN_UP = [...Array.from({ length: 11 }, (_, i) => 100 - i), ...Array.from({ length: 30 }, (_, i) => 91 + i)];

function setup(params: Record<string, unknown> = {}) {
  const p = MaCrossoverParamsSchema.parse({ fast: 3, slow: 6, atr_period: 3, ...params });
  const strategy = createMaCrossover(p, 'mac') as unknown as Strategy<MacHints>;
  const ledger = new FakeLedger();
  const pipeline = new PlanningPipeline(strategy);
  const market = (i: number, b: OhlcvBar): MarketContext => ({
    symbol: 'TEST',
    bar: b,
    index: i,
    decisionAt: b.at + DAY - 1,
    ledger: ledger.view(),
    account: { equity: '100000', initialCapital: '100000', currency: 'USD' },
  });
  return { strategy, ledger, pipeline, market };
}

function outcome(planId: string, id: string): DirectiveOutcome {
  return { directive_id: id, scope: 'NEW_TRADE', action: 'EXECUTE_TRADE', plan_id: planId, group_ids: [], order_ids: [], affected_order_ids: [], stage: 'done', at: '2024-01-01T00:00:00.000Z' };
}

describe('ma-crossover on synthetic bars', () => {
  it('goes long on the upward cross with ATR stop, take-profit, trailing offset and risk sizing', async () => {
    const { strategy, pipeline, market } = setup();
    let first: { i: number; sd: StrategyDirective<MacHints> } | null = null;
    for (let i = 0; i < DOWN_UP.length && first === null; i++) {
      const out = await strategy.planner.onBar(market(i, bar(i, DOWN_UP[i]!)));
      if (out.length > 0) {
        expect(out).toHaveLength(1);
        first = { i, sd: out[0]! };
      }
    }
    expect(first).not.toBeNull();
    const { i, sd } = first!;
    // SMA(3) overtakes SMA(6) two bars after the bottom at bar 10.
    expect(i).toBe(13);
    expect(sd).toMatchObject({ id: 'mac-b13-0', scope: 'NEW_TRADE', direction: 'BUY', symbol: 'TEST', hints: { reference_price: '93', atr: '2', new_stop_loss: null } });
    expect(sd.signalIds).toEqual(['sma3x6:up@2024-01-14T00:00:00.000Z']);
    const planned = await pipeline.plan(sd, market(i, bar(i, 93)));
    expect(planned.kind).toBe('directive');
    if (planned.kind !== 'directive') return;
    // 1% of 100000 at risk over 2 x ATR (4) = 250 shares; stop 93 - 4, take-profit 93 + 8, trail 3 x 2.
    expect(planned.directive).toMatchObject({
      directive_id: 'mac-b13-0',
      strategy_instance_id: 'mac',
      entry_plan: { symbol: 'TEST', direction: 'BUY', order_type: 'MARKET' },
      size_plan: { position_size: '250' },
      exit_plan: { stop_loss_price: '89', take_profit_price: '101', trailing_offset: '6' },
      execution_plan: { action: 'EXECUTE_TRADE', execution_strategy: 'SINGLE' },
    });
  });

  /**
   * Runs bars, answering NEW_TRADEs with the next of `planIds` (the ledger shows the plan ACTIVE
   * with 250) and, when `closesFill`, CLOSE_EXISTINGs by showing the plan CLOSED.
   */
  async function drive(s: ReturnType<typeof setup>, closes: readonly (number | OhlcvBar)[], planIds: string[], from = 0, closesFill = true) {
    const all: { i: number; sd: StrategyDirective<MacHints> }[] = [];
    for (let k = 0; k < closes.length; k++) {
      const i = from + k;
      const c = closes[k]!;
      const m = s.market(i, typeof c === 'number' ? bar(i, c) : c);
      for (const sd of await s.strategy.planner.onBar(m)) {
        all.push({ i, sd });
        const planned = await s.pipeline.plan(sd, m);
        if (planned.kind !== 'directive') {
          s.strategy.planner.onOutcome?.(sd, planned);
          continue;
        }
        const planId = sd.scope === 'NEW_TRADE' ? planIds.shift()! : sd.targetPlanId!;
        if (sd.scope === 'CLOSE_EXISTING' && closesFill) Object.assign(s.ledger.plans.get(planId)!, { status: 'CLOSED', netQuantity: '0' });
        if (sd.scope === 'NEW_TRADE') {
          s.ledger.plans.set(planId, { planId, symbol: 'TEST', direction: sd.direction!, status: 'ACTIVE', netQuantity: sd.direction === 'BUY' ? '250' : '-250', openGroupIds: [], exitPlan: null });
        }
        s.strategy.planner.onOutcome?.(sd, { kind: 'executed', directive: planned.directive, outcome: outcome(planId, sd.id) });
      }
    }
    return all;
  }

  it('without exchange protection it trails its own stop and closes when a bar touches it', async () => {
    const s = setup();
    const rise = DOWN_UP.slice(0, 20); // long from bar 13; highs rise to 100 by bar 19
    const got = await drive(s, rise, [PLAN]);
    expect(got.map((g) => g.sd.scope)).toEqual(['NEW_TRADE']); // no MODIFY: nothing on the exchange to modify
    // Highest high 100 - 6 = 94: a bar with low 93.5 touches it.
    const next = await drive(s, [94.5], [], 20, false);
    expect(next).toHaveLength(1);
    expect(next[0]!.sd).toMatchObject({ scope: 'CLOSE_EXISTING', targetPlanId: PLAN });
    expect(next[0]!.sd.rationale).toMatch(/^stop-loss 94 touched on 2024-01-21 \(low 93.5\); no exchange stop on the plan/);
    const closed = await s.pipeline.plan(next[0]!.sd, s.market(20, bar(20, 94.5)));
    expect(closed.kind === 'directive' && closed.directive).toMatchObject({ scope: 'CLOSE_EXISTING', target_plan_id: PLAN, execution_plan: { action: 'EXECUTE_TRADE', urgency: 'HIGH' }, size_plan: { position_size: '250' } });
  });

  it('with an exchange stop-loss it sends MODIFY_EXISTING + MODIFY_ORDERS to trail it, and leaves stops to the exchange', async () => {
    const s = setup();
    await drive(s, DOWN_UP.slice(0, 14), [PLAN]); // entry at bar 13
    s.ledger.plans.get(PLAN)!.openGroupIds = [PROT];
    s.ledger.plans.get(PLAN)!.exitPlan = { stopLossPrice: '89', takeProfitPrice: '101', trailingOffset: '6' };
    s.ledger.groups.set(PROT, [
      { orderId: 'ORD_20240101_000000_sl001', role: 'STOP_LOSS', status: 'OPEN' },
      { orderId: 'ORD_20240101_000000_tp001', role: 'TAKE_PROFIT', status: 'OPEN' },
    ]);
    const got = await drive(s, [94, 95, 96], [], 14);
    // Highest high 95 at bar 14 - 6 = 89: not above the plan's 89. Bar 15: 96 - 6 = 90; bar 16: 97 - 6 = 91.
    const modifies = got.filter((g) => g.sd.scope === 'MODIFY_EXISTING');
    expect(modifies.map((g) => [g.i, g.sd.hints.new_stop_loss])).toEqual([
      [15, '90'],
      [16, '91'],
    ]);
    const m = await s.pipeline.plan(modifies[0]!.sd, s.market(15, bar(15, 95)));
    expect(m.kind === 'directive' && m.directive).toMatchObject({
      scope: 'MODIFY_EXISTING',
      target_plan_id: PLAN,
      target_group_id: PROT,
      exit_plan: { stop_loss_price: '90', take_profit_price: null, trailing_offset: null },
      execution_plan: { action: 'MODIFY_ORDERS' },
    });
    expect(modifies[0]!.sd.signalIds).toEqual([`trail:${PLAN}@2024-01-16`]);
    // The position monitor already trailed further on the exchange: no MODIFY that would loosen it.
    s.ledger.plans.get(PLAN)!.exitPlan = { stopLossPrice: '95', takeProfitPrice: '101', trailingOffset: '6' };
    expect(await drive(s, [97], [], 17)).toEqual([]);
    // A bar through the stop is the exchange's business: no CLOSE from the strategy.
    expect(await drive(s, [bar(18, 98, 80)], [], 18)).toEqual([]);
    // The exchange stopped the plan out: the strategy forgets it and reads it no more.
    s.ledger.plans.get(PLAN)!.status = 'CLOSED';
    expect(await drive(s, [99], [], 19)).toEqual([]);
    s.ledger.calls.length = 0;
    expect(await drive(s, [100], [], 20)).toEqual([]);
    expect(s.ledger.calls).toEqual([]);
  });

  it('reverses on the opposite cross: CLOSE_EXISTING of the long and NEW_TRADE short on the same bar', async () => {
    const s = setup({ stop_atr: 10, take_profit_atr: null, trail_atr: null });
    const closes = [...DOWN_UP.slice(0, 17), 105, 104, 103, 102, 101, 100, 99, 98, 97];
    const got = await drive(s, closes, [PLAN, PLAN2]);
    const reversal = got.filter((g) => g.i === got.find((x) => x.sd.scope === 'CLOSE_EXISTING')!.i);
    expect(reversal.map((g) => [g.sd.scope, g.sd.direction ?? null, g.sd.targetPlanId ?? null])).toEqual([
      ['CLOSE_EXISTING', null, PLAN],
      ['NEW_TRADE', 'SELL', null],
    ]);
    expect(reversal[0]!.sd.rationale).toMatch(/crossed down .*: close the long/);
    expect(reversal[0]!.sd.signalIds).toEqual(reversal[1]!.sd.signalIds);
  });

  it('long only: no short entries', async () => {
    const s = setup({ allow_short: false, stop_atr: 10, take_profit_atr: null, trail_atr: null });
    const closes = [...DOWN_UP.slice(0, 17), 105, 104, 103, 102, 101, 100, 99, 98, 97];
    const got = await drive(s, closes, [PLAN]);
    expect(got.map((g) => g.sd.scope)).toEqual(['NEW_TRADE', 'CLOSE_EXISTING']);
    expect(got.every((g) => g.sd.direction !== 'SELL')).toBe(true);
  });

  it('closes again if a plan is still open two bars after its close', async () => {
    const s = setup({ stop_atr: 10, take_profit_atr: null, trail_atr: null, allow_short: false });
    const closes = [...DOWN_UP.slice(0, 17), 105, 104, 103, 102, 101, 100, 99, 98, 97];
    // The ledger keeps showing the plan open (e.g. its exit order was refused).
    const got = await drive(s, closes, [PLAN], 0, false);
    const closesSent = got.filter((g) => g.sd.scope === 'CLOSE_EXISTING');
    expect(closesSent.length).toBeGreaterThanOrEqual(2);
    expect(closesSent[1]!.i - closesSent[0]!.i).toBe(2);
    expect(closesSent.every((g) => g.sd.targetPlanId === PLAN)).toBe(true);
    expect(closesSent[1]!.sd.rationale).toMatch(/again: still open 2 bars after the last close/);
  });

  it('continues identically from saved state (what a resumed backtest relies on)', async () => {
    const closes = [...DOWN_UP, 119, 117, 115, 113, 111, 109, 107, 105, 103, 101, 99, 97, 95];
    const a = setup();
    const all = await drive(a, closes, [PLAN, PLAN2, 'TPL_20240101_000000_plan3']);
    const b = setup();
    const cut = 25;
    const firstPart = await drive(b, closes.slice(0, cut), [PLAN, PLAN2, 'TPL_20240101_000000_plan3']);
    const state = JSON.parse(JSON.stringify(b.strategy.planner.saveState()));
    const c = setup();
    for (const [id, p] of b.ledger.plans) c.ledger.plans.set(id, { ...p });
    c.strategy.planner.restoreState(state);
    const rest = await drive(c, closes.slice(cut), [PLAN2, 'TPL_20240101_000000_plan3'].slice(firstPart.filter((g) => g.sd.scope === 'NEW_TRADE').length - 1), cut);
    const ids = (xs: { sd: StrategyDirective<MacHints> }[]) => xs.map((x) => `${x.sd.id} ${x.sd.scope} ${x.sd.direction ?? ''} ${x.sd.targetPlanId ?? ''} ${x.sd.hints.new_stop_loss ?? ''}`);
    expect(ids([...firstPart, ...rest])).toEqual(ids(all));
    expect(all.length).toBeGreaterThan(3);
  });
});
