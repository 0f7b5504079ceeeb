import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StrategyLedger } from '../../actors/ledger.js';
import { ValidationError } from '../../src/domain/errors.js';
import {
  EntryPlanner,
  ExecutionPlanner,
  ExitPlanner,
  PlanningPipeline,
  SizePlanner,
  TradePlanner,
  directiveId,
  type EntryPlan,
  type ExecutionPlan,
  type ExitPlan,
  type MarketContext,
  type PlanningContext,
  type SizePlan,
  type Strategy,
  type StrategyDirective,
} from '../../src/strategies/api.js';
import { FakeLedger } from './fake-ledger.js';

const PLAN = 'TPL_20240102_000000_abcde';
const GROUP = 'EXG_20240102_000000_abcde';
const AT = Date.UTC(2024, 0, 2);

function market(ledger: FakeLedger): MarketContext {
  return {
    symbol: 'AAPL',
    bar: { at: AT, open: '100', high: '101', low: '99', close: '100.5', volume: '1000' },
    index: 7,
    decisionAt: AT + 86_400_000 - 1,
    ledger: ledger.view(),
    account: { equity: '100000', initialCapital: '100000', currency: 'USD' },
  };
}

function sd(scope: StrategyDirective['scope'], extra: Partial<StrategyDirective> = {}): StrategyDirective {
  return { id: `d-${scope}`, scope, symbol: 'AAPL', signalIds: ['sig-1'], rationale: `test ${scope}`, hints: {}, ...extra };
}

class Recorder extends TradePlanner<string> {
  readonly name = 'Recorder';
  readonly seen: string[] = [];
  protected onNewTrade(ctx: PlanningContext): string {
    this.seen.push(`new ${ctx.directive.id}`);
    return 'new';
  }
  protected override onModifyTrade(ctx: PlanningContext): string {
    this.seen.push(`modify ${ctx.directive.id}`);
    return 'modify';
  }
}

class Entry extends EntryPlanner {
  readonly name = 'Entry';
  protected onNewTrade({ directive }: PlanningContext): EntryPlan {
    return { symbol: directive.symbol, direction: directive.direction!, order_type: 'MARKET' };
  }
}
class Size extends SizePlanner {
  readonly name = 'Size';
  constructor(private readonly size: string | null = '10') {
    super();
  }
  protected onNewTrade(): SizePlan | null {
    return this.size === null ? null : { position_size: this.size };
  }
}
class Exit extends ExitPlanner {
  readonly name = 'Exit';
  protected onNewTrade(): ExitPlan {
    return { stop_loss_price: '95', take_profit_price: '110', trailing_offset: '3' };
  }
  protected override onModifyTrade({ directive }: PlanningContext): ExitPlan {
    return { stop_loss_price: String(directive.hints['stop']), take_profit_price: null, trailing_offset: null };
  }
}
class Execution extends ExecutionPlanner {
  readonly name = 'Execution';
  protected onNewTrade(): ExecutionPlan {
    return { action: 'EXECUTE_TRADE', execution_strategy: 'SINGLE' };
  }
}

function strategy(size: Size = new Size()): Strategy {
  return {
    name: 'test',
    instanceId: 'test-1',
    description: 'test',
    planner: { onBar: () => [], saveState: () => null, restoreState: () => {} },
    entry: new Entry(),
    size,
    exit: new Exit(),
    execution: new Execution(),
  };
}

describe('TradePlanner routing (TRADE_LIFECYCLE.md §5)', () => {
  it('routes each scope to its hook; close falls back to the base default', async () => {
    const r = new Recorder();
    const ledger = new FakeLedger();
    const ctx = (d: StrategyDirective): PlanningContext => ({ market: market(ledger), ledger: ledger.view(), directive: d });
    expect(await r.plan(ctx(sd('NEW_TRADE')))).toBe('new');
    expect(await r.plan(ctx(sd('MODIFY_EXISTING')))).toBe('modify');
    expect(await r.plan(ctx(sd('CLOSE_EXISTING')))).toBeNull();
    expect(r.seen).toEqual(['new d-NEW_TRADE', 'modify d-MODIFY_EXISTING']);
  });

  it('close defaults read the ledger: market order against the plan, its full size, no exit plan, urgent execution', async () => {
    const ledger = new FakeLedger();
    ledger.plans.set(PLAN, { planId: PLAN, symbol: 'AAPL', direction: 'SELL', status: 'ACTIVE', netQuantity: '-25', openGroupIds: [], exitPlan: null });
    const ctx: PlanningContext = { market: market(ledger), ledger: ledger.view(), directive: sd('CLOSE_EXISTING', { targetPlanId: PLAN }) };
    expect(await new Entry().plan(ctx)).toEqual({ symbol: 'AAPL', direction: 'BUY', order_type: 'MARKET' });
    expect(await new Size().plan(ctx)).toEqual({ position_size: '25' });
    expect(await new Exit().plan(ctx)).toBeNull();
    expect(await new Execution().plan(ctx)).toEqual({ action: 'EXECUTE_TRADE', execution_strategy: 'SINGLE', urgency: 'HIGH' });
    expect(ledger.calls).toEqual([`plan ${PLAN}`, `position ${PLAN}`]);
    // Modify: entry and size stay out of it; execution modifies orders.
    const mctx: PlanningContext = { ...ctx, directive: sd('MODIFY_EXISTING', { targetPlanId: PLAN }) };
    expect(await new Entry().plan(mctx)).toBeNull();
    expect(await new Size().plan(mctx)).toBeNull();
    expect(await new Execution().plan(mctx)).toEqual({ action: 'MODIFY_ORDERS', execution_strategy: 'SINGLE', urgency: 'NORMAL' });
  });
});

describe('PlanningPipeline (PlanningAggregator)', () => {
  it('assembles a valid ExecutionDirective with its causality chain', async () => {
    const ledger = new FakeLedger();
    const p = await new PlanningPipeline(strategy()).plan(sd('NEW_TRADE', { id: 'mac-b7-0', direction: 'BUY', signalIds: ['sma3x6:up@2024-01-02'] }), market(ledger));
    expect(p.kind).toBe('directive');
    if (p.kind !== 'directive') return;
    expect(p.directive).toMatchObject({
      directive_id: 'mac-b7-0',
      scope: 'NEW_TRADE',
      strategy_instance_id: 'test-1',
      entry_plan: { symbol: 'AAPL', direction: 'BUY', order_type: 'MARKET' },
      size_plan: { position_size: '10' },
      exit_plan: { stop_loss_price: '95', take_profit_price: '110', trailing_offset: '3' },
      execution_plan: { action: 'EXECUTE_TRADE', execution_strategy: 'SINGLE' },
      rationale: 'test NEW_TRADE',
      causality: {
        origin: { type: 'TICK', id: 'AAPL@2024-01-02T00:00:00.000Z', at: '2024-01-02T23:59:59.999Z' },
        signal_ids: ['sma3x6:up@2024-01-02'],
        strategy_directive_id: 'mac-b7-0',
        directive_id: 'mac-b7-0',
      },
    });
  });

  it('builds MODIFY and CLOSE directives with their targets', async () => {
    const ledger = new FakeLedger();
    ledger.plans.set(PLAN, { planId: PLAN, symbol: 'AAPL', direction: 'BUY', status: 'ACTIVE', netQuantity: '10', openGroupIds: [GROUP], exitPlan: null });
    const pipe = new PlanningPipeline(strategy());
    const m = await pipe.plan(sd('MODIFY_EXISTING', { targetPlanId: PLAN, targetGroupId: GROUP, hints: { stop: '97.5' } }), market(ledger));
    expect(m.kind === 'directive' && m.directive).toMatchObject({
      scope: 'MODIFY_EXISTING',
      target_plan_id: PLAN,
      target_group_id: GROUP,
      exit_plan: { stop_loss_price: '97.5', take_profit_price: null },
      execution_plan: { action: 'MODIFY_ORDERS' },
    });
    const c = await pipe.plan(sd('CLOSE_EXISTING', { targetPlanId: PLAN }), market(ledger));
    expect(c.kind === 'directive' && c.directive).toMatchObject({
      scope: 'CLOSE_EXISTING',
      target_plan_id: PLAN,
      entry_plan: { direction: 'SELL', order_type: 'MARKET' },
      size_plan: { position_size: '10' },
      execution_plan: { action: 'EXECUTE_TRADE', urgency: 'HIGH' },
    });
  });

  it('declines a NEW_TRADE the size planner gives no size', async () => {
    const p = await new PlanningPipeline(strategy(new Size(null))).plan(sd('NEW_TRADE', { direction: 'BUY' }), market(new FakeLedger()));
    expect(p).toEqual({ kind: 'declined', reason: 'Size gave no size (position too small for the risk budget)' });
  });

  it('refuses a directive that breaks the schema, naming the rule', async () => {
    class LimitWithoutPrice extends Entry {
      protected override onNewTrade({ directive }: PlanningContext): EntryPlan {
        return { symbol: directive.symbol, direction: 'BUY', order_type: 'LIMIT' };
      }
    }
    const s = { ...strategy(), entry: new LimitWithoutPrice() };
    await expect(new PlanningPipeline(s).plan(sd('NEW_TRADE', { direction: 'BUY' }), market(new FakeLedger()))).rejects.toThrow(ValidationError);
    await expect(new PlanningPipeline(s).plan(sd('NEW_TRADE', { direction: 'BUY' }), market(new FakeLedger()))).rejects.toThrow(/entry_plan\.limit_price: is required for LIMIT entries/);
  });

  it('makes directive ids that the schema accepts', () => {
    expect(directiveId('ma crossover/x', 'b12', 0)).toBe('ma_crossover_x-b12-0');
    const long = directiveId('x'.repeat(80), 'b123456', 3);
    expect(long.length).toBeLessThanOrEqual(64);
    expect(long).toMatch(/^[A-Za-z0-9_.:~-]+$/);
  });
});

describe('planners get a read-only ledger', () => {
  it('the LedgerView is frozen and has only read methods', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradestate-view-'));
    const ledger = await StrategyLedger.open({ dataDir: dir });
    try {
      const view = ledger.view();
      expect(Object.isFrozen(view)).toBe(true);
      expect(Object.keys(view)).toEqual(expect.arrayContaining(['plan', 'group', 'order', 'plansByStatus', 'groupsOfPlan', 'ordersOfGroup', 'fillsOfOrder', 'history', 'position']));
      const writes = ['registerOrder', 'prepareOrder', 'addOrder', 'applyToOrder', 'applyEventsToOrder', 'applyToGroup', 'recordAnomaly', 'recordSettled', 'release', 'close', 'host', 'store'];
      expect(Object.keys(view).filter((k) => writes.includes(k))).toEqual([]);
      expect(() => Object.assign(view, { registerOrder: () => {} })).toThrow(TypeError);
    } finally {
      await ledger.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
