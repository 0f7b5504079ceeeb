/**
 * Requirement 6: the position monitor reconciles positions with the exchange. A position
 * closed outside the runtime closes its plan as MANUAL_EXIT at the last known price (the
 * plan's mark) and cancels its leftover SL/TP; an exit order whose fill reply was dropped is
 * picked up by the reconciliation and the plan closes with that exit's price; an exchange
 * order the ledger does not know is reported once as 'unknown_exchange_order'.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { bar, cleanup, exchangeNet, liveOrders, newTrade, onExchange, openHarness, ordersOfPlan, SYMBOL, type Harness } from './helpers.js';

afterEach(cleanup);

async function protectedLong(h: Harness, id: string, size = '10') {
  const out = await h.runtime.submit(newTrade(id, { size, exit: { sl: '95', tp: '110' } }));
  await h.runtime.settled();
  bar(h, { open: '100', high: '100', low: '100', close: '100' });
  await h.runtime.settled();
  const planId = out.plan_id!;
  const [sl] = await liveOrders(h.runtime, planId, 'STOP_LOSS');
  const [tp] = await liveOrders(h.runtime, planId, 'TAKE_PROFIT');
  return { planId, sl: sl!, tp: tp! };
}

/** Closes the position on the exchange directly, with an order the runtime never heard of. */
async function closeOnExchange(h: Harness, clientOrderId: string, side: 'BUY' | 'SELL', quantity: string) {
  await h.exchange.place({ clientOrderId, symbol: SYMBOL, side, orderType: 'MARKET', quantity, price: null, stopPrice: null, timeInForce: 'GTC' });
}

const kinds = async (h: Harness, kind: string) => (await h.runtime.strategyLedger.anomalies()).filter((a) => a.kind === kind);

describe('position closed outside the runtime', () => {
  it('long closed by hand on the exchange: plan CLOSED as MANUAL_EXIT at the mark, SL and TP cancelled', async () => {
    const h = await openHarness();
    const { planId, sl, tp } = await protectedLong(h, 'pm-manual');
    bar(h, { open: '101', high: '101.5', low: '100.5', close: '101' });
    await h.runtime.monitorPositions();
    expect((await h.runtime.ledger.plan(planId))?.mark?.price).toBe('101');

    await closeOnExchange(h, 'by-hand-1', 'SELL', '10');
    bar(h, { open: '102', high: '102.5', low: '101.5', close: '102.5' }); // the market sell fills at 102
    await h.runtime.settled();
    expect(await exchangeNet(h.exchange)).toBe('0');
    // The runtime has not noticed yet.
    expect((await h.runtime.ledger.plan(planId))?.status).toBe('ACTIVE');

    const report = await h.runtime.monitorPositions();
    await h.runtime.settled();
    expect(report.closedExternally).toEqual([planId]);
    expect(report.mismatches).toEqual([]);
    const plan = await h.runtime.ledger.plan(planId);
    // The last known price is the mark this very tick took (the bar's close).
    expect(plan?.mark?.price).toBe('102.5');
    expect(plan).toMatchObject({ status: 'CLOSED', exitReason: 'MANUAL_EXIT', openGroupIds: [] });
    expect(plan?.externalClose).toMatchObject({ quantity: '-10', price: '102.5' });
    expect(await h.runtime.ledger.position(planId)).toMatchObject({ netQuantity: '0', realizedPnl: '25', boughtQuantity: '10', soldQuantity: '0' });
    for (const o of [sl, tp]) {
      expect(onExchange(h.exchange, o.clientOrderId)?.status).toBe('canceled');
      expect((await h.runtime.ledger.order(o.orderId))?.status).toBe('CANCELED');
    }
    expect(h.exchange.allOrders().filter((o) => o.status === 'open')).toEqual([]);
    // Nothing is re-placed afterwards.
    await h.runtime.monitorOrders();
    await h.runtime.settled();
    expect(h.exchange.allOrders().filter((o) => o.status === 'open')).toEqual([]);
    expect(await ordersOfPlan(h.runtime, planId)).toHaveLength(3);
  });

  it('short closed by hand: MANUAL_EXIT at the mark, realized from the short side', async () => {
    const h = await openHarness();
    const out = await h.runtime.submit(newTrade('pm-manual-short', { size: '4', direction: 'SELL', exit: { sl: '105', tp: '90' } }));
    await h.runtime.settled();
    bar(h, { open: '100', high: '100', low: '100', close: '100' });
    await h.runtime.settled();
    await closeOnExchange(h, 'by-hand-short', 'BUY', '4');
    bar(h, { open: '98', high: '98.5', low: '97.5', close: '98' });
    await h.runtime.settled();
    const report = await h.runtime.monitorPositions();
    await h.runtime.settled();
    expect(report.closedExternally).toEqual([out.plan_id]);
    expect(await h.runtime.ledger.plan(out.plan_id!)).toMatchObject({ status: 'CLOSED', exitReason: 'MANUAL_EXIT', externalClose: { quantity: '4', price: '98' } });
    expect((await h.runtime.ledger.position(out.plan_id!))?.realizedPnl).toBe('8');
    expect(h.exchange.allOrders().filter((o) => o.status === 'open')).toEqual([]);
  });

  it('without a fresh price the plan closes at its last mark', async () => {
    const h = await openHarness();
    const { planId } = await protectedLong(h, 'pm-stale');
    bar(h, { open: '101', high: '101', low: '101', close: '101' });
    await h.runtime.monitorPositions();
    await closeOnExchange(h, 'by-hand-stale', 'SELL', '10');
    bar(h, { open: '99', high: '99', low: '99', close: '99' });
    await h.runtime.settled();
    // Market data is unavailable for this tick.
    h.exchange.injectFault('network');
    const report = await h.runtime.monitorPositions();
    await h.runtime.settled();
    expect(report.marked).toBe(0);
    expect(report.closedExternally).toEqual([planId]);
    expect(await h.runtime.ledger.plan(planId)).toMatchObject({ status: 'CLOSED', exitReason: 'MANUAL_EXIT', externalClose: { price: '101' } });
    expect((await h.runtime.ledger.position(planId))?.realizedPnl).toBe('10');
  });
});

describe('exit fills the ledger missed', () => {
  it('stop filled with its fill (and the OCO resize) reply dropped: the reconciliation records the fill; plan STOPPED_OUT at 95', async () => {
    const h = await openHarness();
    const { planId, sl, tp } = await protectedLong(h, 'pm-lost-sl');
    h.exchange.injectFault('drop_reply');
    h.exchange.injectFault('drop_reply');
    bar(h, { open: '97', high: '97', low: '94', close: '94.5' });
    await h.runtime.settled();
    expect(h.exchange.droppedReplies().map((r) => r.type)).toEqual(['fill', 'resized']);
    expect((await h.runtime.ledger.order(sl.orderId))?.status).toBe('OPEN');
    expect(await exchangeNet(h.exchange)).toBe('0');

    const report = await h.runtime.monitorPositions();
    await h.runtime.settled();
    expect(report.closedExternally).toEqual([]); // explained by the fill, not an outside close
    const slNow = await h.runtime.ledger.order(sl.orderId);
    expect(slNow).toMatchObject({ status: 'FILLED', filledQuantity: '10', averageFillPrice: '95' });
    expect(slNow?.tradeIds).toEqual(onExchange(h.exchange, sl.clientOrderId)!.trades.map((t) => t.tradeId));
    expect((await h.runtime.ledger.order(tp.orderId))?.status).toBe('CANCELED');
    expect(await h.runtime.ledger.plan(planId)).toMatchObject({ status: 'CLOSED', exitReason: 'STOPPED_OUT', externalClose: null });
    expect((await h.runtime.ledger.position(planId))?.realizedPnl).toBe('-50');
    expect(h.exchange.allOrders().filter((o) => o.status === 'open')).toEqual([]);
  });

  it('take-profit filled 3 (replies dropped), the other 7 closed by hand: reconciliation records the 3 @ 110 and closes the rest at that exit price', async () => {
    const h = await openHarness({ exchange: { participation: '0.3' } });
    const out = await h.runtime.submit(newTrade('pm-mixed', { size: '10', exit: { sl: '95', tp: '110' } }));
    const planId = out.plan_id!;
    await h.runtime.settled();
    bar(h, { open: '100', high: '100', low: '100', close: '100', volume: '1000' });
    await h.runtime.settled();
    const [tp] = await liveOrders(h.runtime, planId, 'TAKE_PROFIT');
    h.exchange.injectFault('drop_reply');
    h.exchange.injectFault('drop_reply');
    bar(h, { open: '109', high: '111', low: '109', close: '109', volume: '10' });
    await h.runtime.settled();
    expect(onExchange(h.exchange, tp!.clientOrderId)?.filled).toBe('3');
    await closeOnExchange(h, 'by-hand-rest', 'SELL', '7');
    bar(h, { open: '108', high: '108', low: '107', close: '107', volume: '1000' });
    await h.runtime.settled();
    expect(await exchangeNet(h.exchange)).toBe('0');

    const report = await h.runtime.monitorPositions();
    await h.runtime.settled();
    expect(report.closedExternally).toEqual([planId]);
    expect((await h.runtime.ledger.order(tp!.orderId))).toMatchObject({ filledQuantity: '3', averageFillPrice: '110' });
    const plan = await h.runtime.ledger.plan(planId);
    expect(plan).toMatchObject({ status: 'CLOSED', exitReason: 'MANUAL_EXIT', externalClose: { quantity: '-7', price: '110' } });
    expect(await h.runtime.ledger.position(planId)).toMatchObject({ netQuantity: '0', realizedPnl: '100' });
    expect(h.exchange.allOrders().filter((o) => o.status === 'open')).toEqual([]);
    for (const o of await ordersOfPlan(h.runtime, planId)) expect(['FILLED', 'CANCELED']).toContain(o.status);
  });
});

describe('unknown exchange orders', () => {
  it("an open exchange order the ledger does not know is an 'unknown_exchange_order' anomaly, reported once", async () => {
    const h = await openHarness();
    await protectedLong(h, 'pm-unknown');
    await h.exchange.place({ clientOrderId: 'stranger-1', symbol: SYMBOL, side: 'BUY', orderType: 'LIMIT', quantity: '3', price: '80', stopPrice: null, timeInForce: 'GTC' });
    await h.runtime.settled();

    const first = await h.runtime.monitorPositions();
    expect(first.unknownOrders).toEqual(['stranger-1']);
    const second = await h.runtime.monitorPositions();
    expect(second.unknownOrders).toEqual(['stranger-1']);
    const reported = await kinds(h, 'unknown_exchange_order');
    expect(reported).toHaveLength(1);
    expect(reported[0]?.detail).toContain('stranger-1');
    // The runtime's own orders are not reported.
    expect(reported[0]?.detail).not.toContain('ORD_');
  });

  it('reported once also across a restart (the anomaly log is durable)', async () => {
    const h = await openHarness();
    await protectedLong(h, 'pm-unknown-restart');
    await h.exchange.place({ clientOrderId: 'stranger-2', symbol: SYMBOL, side: 'BUY', orderType: 'LIMIT', quantity: '3', price: '80', stopPrice: null, timeInForce: 'GTC' });
    await h.runtime.monitorPositions();
    expect(await kinds(h, 'unknown_exchange_order')).toHaveLength(1);
    await h.reopen();
    await h.runtime.monitorPositions();
    expect(await kinds(h, 'unknown_exchange_order')).toHaveLength(1);
  });

  it('a position that differs from the ledger without being closed is a position_mismatch, the plan stays open', async () => {
    const h = await openHarness();
    const { planId } = await protectedLong(h, 'pm-mismatch');
    await closeOnExchange(h, 'by-hand-part', 'SELL', '4');
    bar(h, { open: '100', high: '100', low: '100', close: '100' });
    await h.runtime.settled();
    const report = await h.runtime.monitorPositions();
    expect(report.mismatches).toEqual([SYMBOL]);
    expect(report.closedExternally).toEqual([]);
    expect((await h.runtime.ledger.plan(planId))?.status).toBe('ACTIVE');
    expect((await kinds(h, 'position_mismatch')).map((a) => a.detail)).toEqual([`${SYMBOL}: exchange position 6, ledger 10`]);
  });
});
