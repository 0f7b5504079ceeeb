/**
 * The story for a person and for a machine (`tradestate story <id> [--json]`), and aggregates
 * over a data dir: slippage by execution strategy, fill ratio and timings by order type, P&L and
 * win rate by origin type and by signal.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { aggregateDataDir } from '../../src/journal/aggregates.js';
import { StrategyJournal, slippageOf } from '../../src/journal/query.js';
import { STORY_EXIT, storyCommand } from '../../src/journal/story-command.js';
import { D } from '../../src/domain/decimal.js';
import { BREAKOUT, EXPOSURE, RSI, VOL_OK, bar, cleanup, entryDirective, flat, iso, openHarness, T0, tempDir, tickCausality } from './helpers.js';

afterEach(cleanup);

async function run(dir: string, id: string, json = false): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await storyCommand(dir, id, { json }, (l) => lines.push(l));
  return { code, lines };
}

/** Two trades, one won (TICK, RSI; take-profit) and one lost (NEWS, BREAKOUT; stop-loss), and a vetoed one. */
async function twoTrades() {
  const h = await openHarness({ exchange: { slippageBps: 10 } });
  const rt = h.runtime;
  const win = await rt.submit(entryDirective('win-1', tickCausality('tick-w', [RSI], [VOL_OK]), { reference: '100', sl: '95', tp: '110' }));
  const news = { origin: { type: 'NEWS' as const, id: 'news-l', at: iso(T0) }, signal_ids: [BREAKOUT.id], signals: [BREAKOUT] };
  const loss = await rt.submit(entryDirective('loss-1', news, { symbol: 'MSFT', orderType: 'LIMIT', limit: '400', sl: '390', size: '2' }));
  await rt.recordRejection({ causality: tickCausality('tick-v', [RSI], [EXPOSURE]), reasons: ['exposure'] });
  await rt.settled();
  flat(h, '100');
  bar(h, '399', '399', '398', '398.5', 'MSFT');
  await rt.settled();
  flat(h, '111'); // take-profit
  bar(h, '391', '391', '385', '386', 'MSFT'); // stop-loss
  await rt.settled();
  expect((await rt.ledger.plan(win.plan_id!))!.status).toBe('CLOSED');
  expect((await rt.ledger.plan(loss.plan_id!))!.status).toBe('CLOSED');
  return { h, win, loss };
}

describe('tradestate story', () => {
  it('prints an order story for a person and a plan story as JSON; errors have exit codes', async () => {
    const { h, win } = await twoTrades();
    const entryId = win.order_ids[0]!;
    // A running runtime holds the data dir.
    const busy = await run(h.dir, entryId);
    expect(busy.code).toBe(STORY_EXIT.notFound);
    expect(busy.lines[0]).toMatch(/in use by a running runtime/);
    await h.runtime.close();

    const text = await run(h.dir, entryId);
    expect(text.code).toBe(0);
    const out = text.lines.join('\n');
    expect(text.lines[0]).toBe(`Order ${entryId} - BUY 10 AAPL MARKET (ENTRY, GTC) - FILLED`);
    for (const part of [
      'WHY',
      'origin      TICK tick-w at 2025-01-02T14:30:00.000Z',
      `signals     ${RSI.id} [rsi_oversold] RSI(14) crossed below 30 (rsi=27.4, period=14)`,
      `risks       ${VOL_OK.id} [volatility] ATR within budget (atr=1.9)`,
      'directive   win-1 NEW_TRADE/EXECUTE_TRADE at 2025-01-02T14:30:00.000Z - "oversold bounce"',
      'intent      BUY 10 AAPL MARKET ref 100; exit SL 95 TP 110; SINGLE normal urgency',
      'WHAT HAPPENED',
      'journal  ORDER_RECORDED (directive win-1)',
      'ledger   SUBMIT: PENDING -> SUBMITTED',
      'FILLS',
      'slippage 0.1 (10 bps)',
      'intended    100 (entry_plan.reference_price)',
      'average     100.1   slippage 0.1 per unit = 10 bps, cost 1',
      'filled      10 of 10 (100.0%)',
      'timings     ack 0 ms, first fill 1m 0s, complete 1m 0s',
      'CLOSED PROFIT_TAKEN',
      '-> WIN',
    ]) {
      expect(out).toContain(part);
    }

    const json = await run(h.dir, win.plan_id!, true);
    expect(json.code).toBe(0);
    const plan = JSON.parse(json.lines.join('\n')) as { kind: string; why: { origin: { type: string } }; orders: { order: { role: string }; why: { cause: string } }[]; pnl: { result: string } };
    expect(plan.kind).toBe('plan');
    expect(plan.why.origin.type).toBe('TICK');
    expect(plan.orders.map((o) => [o.order.role, o.why.cause])).toEqual([
      ['ENTRY', 'DIRECTIVE'],
      ['STOP_LOSS', 'PLAN'],
      ['TAKE_PROFIT', 'PLAN'],
    ]);
    expect(plan.pnl.result).toBe('WIN');
    const planText = (await run(h.dir, win.plan_id!)).lines.join('\n');
    expect(planText).toContain('DIRECTIVES');
    expect(planText).toContain('by runtime (protection)');

    expect(await run(h.dir, 'ORD_20250102_143000_zzzzzzzz')).toMatchObject({ code: STORY_EXIT.notFound });
    expect((await run(h.dir, 'hello')).code).toBe(STORY_EXIT.usage);
    const missing = await run(h.dir, 'hello', true);
    expect(JSON.parse(missing.lines[0]!)).toMatchObject({ id: 'hello' });
    expect((await run(tempDir(), entryId)).code).toBe(STORY_EXIT.notFound);
  });
});

describe('aggregates', () => {
  it('slippage by execution strategy, fill ratio and timings by order type, P&L and win rate by origin and signal', async () => {
    const { h } = await twoTrades();
    await h.runtime.close();
    const a = await aggregateDataDir(h.dir);
    expect(a).toMatchObject({ plans: 2, rejected_opportunities: 1, rejections_by_origin_type: { TICK: 1 } });
    expect(a.pnl_by_origin_type.TICK).toMatchObject({ plans: 1, closed: 1, wins: 1, losses: 0, win_rate: '1' });
    expect(a.pnl_by_origin_type.NEWS).toMatchObject({ plans: 1, closed: 1, wins: 0, losses: 1, win_rate: '0' });
    expect(new D(a.pnl_by_origin_type.TICK!.realized_pnl_net).isPositive()).toBe(true);
    expect(new D(a.pnl_by_origin_type.NEWS!.realized_pnl_net).isNegative()).toBe(true);
    expect(Object.keys(a.pnl_by_signal).sort()).toEqual([BREAKOUT.id, RSI.id].sort());
    expect(a.pnl_by_signal[RSI.id]).toMatchObject({ wins: 1, win_rate: '1' });
    expect(a.pnl_by_signal[BREAKOUT.id]).toMatchObject({ losses: 1, win_rate: '0' });
    expect(a.pnl_by_signal_type).toMatchObject({ rsi_oversold: { wins: 1 }, breakout: { losses: 1 } });

    // Entries: MARKET AAPL 10 bps adverse (100 -> 100.1), LIMIT MSFT at its limit; exits: TP and SL.
    const single = a.slippage_by_execution_strategy.SINGLE!;
    expect(single.orders).toBe(a.orders);
    expect(single.measured).toBeGreaterThanOrEqual(4);
    expect(a.by_order_type.MARKET).toMatchObject({ orders: 1, filled: 1, fill_ratio: '1', mean_ms_to_first_fill: 60_000 });
    expect(a.by_order_type.LIMIT!.orders).toBe(2); // MSFT entry, AAPL take-profit
    expect(a.by_order_type.STOP!.orders).toBe(2); // the two stop-losses

    // The figures agree with the stories they summarize.
    const journal = await StrategyJournal.open(h.dir);
    try {
      let bps = new D(0);
      let n = 0;
      for (const id of ['win-1', 'loss-1']) {
        for (const e of await journal.ofDirective(id)) {
          if (e.kind !== 'ORDER_RECORDED') continue;
          const s = (await journal.orderStory(e.order_id))!;
          if (s.execution.slippage_bps !== null) {
            bps = bps.plus(s.execution.slippage_bps);
            n++;
          }
        }
      }
      expect(n).toBe(single.measured);
      expect(single.mean_bps).toBe(bps.div(n).toDecimalPlaces(2).toFixed());
    } finally {
      await journal.close();
    }
  });

  it('slippage is adverse-positive on both sides', () => {
    expect(slippageOf('BUY', '100', '100.1')).toEqual({ slippage: '0.1', bps: '10' });
    expect(slippageOf('SELL', '100', '99.9')).toEqual({ slippage: '0.1', bps: '10' });
    expect(slippageOf('SELL', '100', '100.2')).toEqual({ slippage: '-0.2', bps: '-20' });
  });
});
