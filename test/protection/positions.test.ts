/**
 * Requirement 4: the position of each TradePlan: net quantity, weighted average entry, realized
 * P&L net of fees (maker/taker fees on), unrealized P&L and market value at a mark; the plan
 * closes when flat with every group terminal, its exitReason saying how: STOPPED_OUT,
 * PROFIT_TAKEN, CLOSED_BY_DIRECTIVE (MANUAL_EXIT: see position-monitor.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { bar, cleanup, closePlan, exchangeNet, liveOrders, newTrade, onExchange, openHarness, ordersOfPlan, type Harness } from './helpers.js';

afterEach(cleanup);

const TERMINAL_GROUP = ['COMPLETED', 'PARTIAL', 'CANCELLED', 'FAILED'];

async function expectClosed(h: Harness, planId: string, exitReason: string) {
  const plan = await h.runtime.ledger.plan(planId);
  expect(plan).toMatchObject({ status: 'CLOSED', exitReason, openGroupIds: [] });
  expect(plan?.closedAt).not.toBeNull();
  for (const g of await h.runtime.ledger.groupsOfPlan(planId)) expect(TERMINAL_GROUP).toContain(g.status);
  for (const o of await ordersOfPlan(h.runtime, planId)) expect(['FILLED', 'CANCELED']).toContain(o.status);
  expect(h.exchange.allOrders().filter((o) => o.status === 'open')).toEqual([]);
  expect(await exchangeNet(h.exchange)).toBe('0');
  expect((await h.runtime.ledger.position(planId))?.netQuantity).toBe('0');
}

describe('position figures', () => {
  it('entry in three fills (4 @ 100, 4 @ 102, 2 @ 101, taker 20 bps): net 10, average 101, fees 2.02; marks and an explicit mark; TP fills 10 @ 110 as maker (10 bps): realized 90, net 86.88', async () => {
    const h = await openHarness({ exchange: { participation: '0.4', makerBps: 10, takerBps: 20 } });
    const out = await h.runtime.submit(newTrade('pos-1', { size: '10', exit: { sl: '95', tp: '110' } }));
    const planId = out.plan_id!;
    await h.runtime.settled();
    for (const open of ['100', '102', '101']) {
      bar(h, { open, high: open, low: open, close: open, volume: '10' });
      await h.runtime.settled();
    }
    let pos = await h.runtime.ledger.position(planId);
    expect(pos).toMatchObject({
      status: 'ACTIVE',
      netQuantity: '10',
      averageEntryPrice: '101',
      costBasis: '1010',
      boughtQuantity: '10',
      soldQuantity: '0',
      realizedPnl: '0',
      fees: '2.02',
      realizedPnlNet: '-2.02',
      markPrice: null,
      unrealizedPnl: null,
      marketValue: null,
    });
    const entry = (await ordersOfPlan(h.runtime, planId)).find((o) => o.role === 'ENTRY')!;
    expect(entry).toMatchObject({ filledQuantity: '10', averageFillPrice: '101', fees: '2.02' });
    expect((await h.runtime.ledger.fillsOfOrder(entry.orderId)).map((f) => [f.quantity, f.price, f.fee])).toEqual([
      ['4', '100', '0.8'],
      ['4', '102', '0.816'],
      ['2', '101', '0.404'],
    ]);

    // Marked by the position monitor at the last price (the bar's close).
    bar(h, { open: '104', high: '105.5', low: '104', close: '105', volume: '10' });
    await h.runtime.monitorPositions();
    pos = await h.runtime.ledger.position(planId);
    expect(pos).toMatchObject({ markPrice: '105', unrealizedPnl: '40', marketValue: '1050' });
    expect((await h.runtime.ledger.plan(planId))?.mark?.price).toBe('105');
    // An explicit mark overrides the stored one, without changing it.
    expect(await h.runtime.ledger.position(planId, '98.5')).toMatchObject({ markPrice: '98.5', unrealizedPnl: '-25', marketValue: '985' });
    expect((await h.runtime.ledger.position(planId))?.markPrice).toBe('105');

    bar(h, { open: '108', high: '111', low: '108', close: '110', volume: '100' });
    await h.runtime.settled();
    pos = await h.runtime.ledger.position(planId);
    expect(pos).toMatchObject({
      status: 'CLOSED',
      netQuantity: '0',
      averageEntryPrice: null,
      costBasis: '0',
      boughtQuantity: '10',
      soldQuantity: '10',
      realizedPnl: '90',
      fees: '3.12',
      realizedPnlNet: '86.88',
      unrealizedPnl: '0',
      marketValue: '0',
    });
    await expectClosed(h, planId, 'PROFIT_TAKEN');
    expect((await h.runtime.ledger.plan(planId))?.position.fees).toBe('3.12');
  });

  it('short: sold 10 @ 100 (taker 10 bps), marked at 97: unrealized +30, market value -970; stopped out at 103: realized -30, net -32.03', async () => {
    const h = await openHarness({ exchange: { makerBps: 5, takerBps: 10 } });
    const out = await h.runtime.submit(newTrade('pos-short', { size: '10', direction: 'SELL', exit: { sl: '103', tp: '90' } }));
    const planId = out.plan_id!;
    await h.runtime.settled();
    bar(h, { open: '100', high: '100', low: '100', close: '100' });
    await h.runtime.settled();
    bar(h, { open: '98', high: '98', low: '96.5', close: '97' });
    await h.runtime.monitorPositions();
    expect(await h.runtime.ledger.position(planId)).toMatchObject({
      netQuantity: '-10',
      averageEntryPrice: '100',
      fees: '1',
      markPrice: '97',
      unrealizedPnl: '30',
      marketValue: '-970',
    });
    bar(h, { open: '102', high: '104', low: '102', close: '103.5' });
    await h.runtime.settled();
    // Stop fill 10 @ 103 as taker: fee 1.03.
    expect(await h.runtime.ledger.position(planId)).toMatchObject({ netQuantity: '0', realizedPnl: '-30', fees: '2.03', realizedPnlNet: '-32.03' });
    await expectClosed(h, planId, 'STOPPED_OUT');
  });

  it('a partial exit realizes pro rata: 10 @ 100, TP sells 4 @ 110: realized 40, 6 left at average 100, unrealized at 105 = 30', async () => {
    const h = await openHarness({ exchange: { participation: '0.4' } });
    const out = await h.runtime.submit(newTrade('pos-partial', { size: '10', exit: { sl: '90', tp: '110' } }));
    const planId = out.plan_id!;
    await h.runtime.settled();
    bar(h, { open: '100', high: '100', low: '100', close: '100', volume: '100' });
    await h.runtime.settled();
    bar(h, { open: '109', high: '111', low: '109', close: '110', volume: '10' });
    await h.runtime.settled();
    expect(await h.runtime.ledger.position(planId, '105')).toMatchObject({
      status: 'ACTIVE',
      netQuantity: '6',
      averageEntryPrice: '100',
      costBasis: '600',
      realizedPnl: '40',
      unrealizedPnl: '30',
      marketValue: '630',
    });
    // Partly out through the take-profit: the reason so far; the plan is still open.
    expect((await h.runtime.ledger.plan(planId))?.exitReason).toBe('PROFIT_TAKEN');
  });
});

describe('how a plan closes', () => {
  it('STOPPED_OUT: the stop fills; take-profit cancelled; both groups terminal', async () => {
    const h = await openHarness();
    const out = await h.runtime.submit(newTrade('close-sl', { size: '5', exit: { sl: '95', tp: '110' } }));
    await h.runtime.settled();
    bar(h, { open: '100', high: '100', low: '100', close: '100' });
    await h.runtime.settled();
    bar(h, { open: '97', high: '97', low: '94', close: '94.5' });
    await h.runtime.settled();
    await expectClosed(h, out.plan_id!, 'STOPPED_OUT');
    expect((await h.runtime.ledger.position(out.plan_id!))?.realizedPnl).toBe('-25');
    expect(await h.runtime.ledger.groupsOfPlan(out.plan_id!)).toHaveLength(2);
  });

  it('PROFIT_TAKEN: the take-profit fills; stop cancelled', async () => {
    const h = await openHarness();
    const out = await h.runtime.submit(newTrade('close-tp', { size: '5', exit: { sl: '95', tp: '110' } }));
    await h.runtime.settled();
    bar(h, { open: '100', high: '100', low: '100', close: '100' });
    await h.runtime.settled();
    bar(h, { open: '107', high: '112', low: '107', close: '111' });
    await h.runtime.settled();
    await expectClosed(h, out.plan_id!, 'PROFIT_TAKEN');
    expect((await h.runtime.ledger.position(out.plan_id!))?.realizedPnl).toBe('50');
  });

  it('CLOSED_BY_DIRECTIVE: CLOSE_EXISTING cancels SL/TP and flattens at market; no protection is re-placed', async () => {
    const h = await openHarness({ exchange: { takerBps: 10 } });
    const out = await h.runtime.submit(newTrade('close-dir', { size: '10', exit: { sl: '95', tp: '110' } }));
    const planId = out.plan_id!;
    await h.runtime.settled();
    bar(h, { open: '100', high: '100', low: '100', close: '100' });
    await h.runtime.settled();
    const [sl] = await liveOrders(h.runtime, planId, 'STOP_LOSS');
    const [tp] = await liveOrders(h.runtime, planId, 'TAKE_PROFIT');

    const closing = await h.runtime.submit(closePlan('close-dir-1', planId));
    expect([...closing.affected_order_ids].sort()).toEqual([sl!.orderId, tp!.orderId].sort());
    await h.runtime.settled();
    expect(onExchange(h.exchange, sl!.clientOrderId)?.status).toBe('canceled');
    expect(onExchange(h.exchange, tp!.clientOrderId)?.status).toBe('canceled');
    const exit = (await ordersOfPlan(h.runtime, planId)).find((o) => o.role === 'EXIT')!;
    expect(exit).toMatchObject({ side: 'SELL', orderType: 'MARKET', quantity: '10' });
    // Only the exit is working: no stop-loss or take-profit came back.
    expect(h.exchange.allOrders().filter((o) => o.status === 'open').map((o) => o.clientOrderId)).toEqual([exit.clientOrderId]);

    bar(h, { open: '103', high: '103', low: '102', close: '102.5' });
    await h.runtime.settled();
    await expectClosed(h, planId, 'CLOSED_BY_DIRECTIVE');
    // 10 @ 100 in, 10 @ 103 out; taker 10 bps both ways: 1 + 1.03.
    expect(await h.runtime.ledger.position(planId)).toMatchObject({ realizedPnl: '30', fees: '2.03', realizedPnlNet: '27.97' });
    expect(h.exchange.allOrders()).toHaveLength(4);
  });

  it('two plans on the same symbol keep their own positions', async () => {
    const h = await openHarness();
    const a = await h.runtime.submit(newTrade('two-a', { size: '10', exit: { sl: '95', tp: '110' } }));
    const b = await h.runtime.submit(newTrade('two-b', { size: '4', exit: { sl: '90', tp: '120' } }));
    await h.runtime.settled();
    bar(h, { open: '100', high: '100', low: '100', close: '100' });
    await h.runtime.settled();
    bar(h, { open: '97', high: '97', low: '94', close: '94.5' }); // A's stop only
    await h.runtime.settled();
    expect(await h.runtime.ledger.plan(a.plan_id!)).toMatchObject({ status: 'CLOSED', exitReason: 'STOPPED_OUT' });
    expect(await h.runtime.ledger.position(b.plan_id!)).toMatchObject({ status: 'ACTIVE', netQuantity: '4' });
    expect(await exchangeNet(h.exchange)).toBe('4');
    const stops = h.exchange.allOrders().filter((o) => o.status === 'open');
    expect(stops.map((o) => [o.orderType, o.quantity]).sort()).toEqual([['LIMIT', '4'], ['STOP', '4']]);
  });
});
