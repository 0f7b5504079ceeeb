/**
 * Requirement 3: moving the stop. A MODIFY_EXISTING + MODIFY_ORDERS directive on the
 * protection group with a new exit_plan.stop_loss_price moves the exchange stop (modify, or
 * cancel-replace without modify support) and becomes the plan's stop level. A trailing_offset
 * in the exit plan moves the stop with the price on every position monitor tick: last - offset
 * for a long, last + offset for a short, and never back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  bar,
  cleanup,
  exchangeNet,
  liveOrders,
  modifyExits,
  newTrade,
  onExchange,
  openHarness,
  openOnExchange,
  ordersOfPlan,
  remaining,
  type Harness,
} from './helpers.js';

afterEach(cleanup);

async function enter(h: Harness, o: { direction?: 'BUY' | 'SELL'; sl: string; tp?: string; trail?: string }) {
  const out = await h.runtime.submit(
    newTrade(`trail-entry-${o.direction ?? 'BUY'}`, {
      size: '10',
      direction: o.direction ?? 'BUY',
      exit: { sl: o.sl, ...(o.tp ? { tp: o.tp } : {}), ...(o.trail ? { trail: o.trail } : {}) },
    }),
  );
  await h.runtime.settled();
  bar(h, { open: '100', high: '100.2', low: '99.8', close: '100' });
  await h.runtime.settled();
  const planId = out.plan_id!;
  const [sl] = await liveOrders(h.runtime, planId, 'STOP_LOSS');
  expect(sl).toMatchObject({ status: 'OPEN', quantity: '10' });
  return { planId, sl: sl! };
}

/** The one working stop-loss, in the ledger and on the exchange. */
async function currentStop(h: Harness, planId: string) {
  const sls = await liveOrders(h.runtime, planId, 'STOP_LOSS');
  expect(sls).toHaveLength(1);
  const sl = sls[0]!;
  const ex = onExchange(h.exchange, sl.clientOrderId)!;
  expect(ex.status).toBe('open');
  expect(ex.stopPrice).toBe(sl.stopPrice);
  expect(openOnExchange(h.exchange, 'STOP')).toHaveLength(1);
  return { sl, ex };
}

describe('MODIFY_ORDERS with a new stop_loss_price on the protection group', () => {
  it('with modify: the same exchange stop moves to 98; the plan stop level is 98, the take-profit untouched', async () => {
    const h = await openHarness();
    const { planId, sl } = await enter(h, { sl: '95', tp: '110' });
    const tpBefore = (await liveOrders(h.runtime, planId, 'TAKE_PROFIT'))[0]!;

    const outcome = await h.runtime.submit(modifyExits('trail-mod-1', sl.parentGroupId, { sl: '98' }));
    expect(outcome).toMatchObject({ plan_id: planId, group_ids: [sl.parentGroupId], affected_order_ids: [sl.orderId], order_ids: [] });
    await h.runtime.settled();

    const { sl: moved, ex } = await currentStop(h, planId);
    expect(moved.orderId).toBe(sl.orderId);
    expect(moved).toMatchObject({ status: 'OPEN', stopPrice: '98', quantity: '10' });
    expect(ex).toMatchObject({ stopPrice: '98', quantity: '10', filled: '0' });
    expect((await h.runtime.ledger.plan(planId))?.exitPlan).toEqual({ stopLossPrice: '98', takeProfitPrice: '110', trailingOffset: null });
    const tpAfter = (await liveOrders(h.runtime, planId, 'TAKE_PROFIT'))[0]!;
    expect(tpAfter).toMatchObject({ orderId: tpBefore.orderId, price: '110', quantity: '10' });
    expect(onExchange(h.exchange, tpAfter.clientOrderId)).toMatchObject({ status: 'open', price: '110' });

    // The moved stop is the one that works: a dip to 97.5 stops the position out at 98.
    bar(h, { open: '99', high: '99', low: '97.5', close: '97.8' });
    await h.runtime.settled();
    expect(await h.runtime.ledger.plan(planId)).toMatchObject({ status: 'CLOSED', exitReason: 'STOPPED_OUT' });
    expect((await h.runtime.ledger.order(sl.orderId))).toMatchObject({ status: 'FILLED', averageFillPrice: '98' });
  });

  it('without modify (cancel-replace): a new stop at 98 for the whole position, the old one cancelled; still protected', async () => {
    const h = await openHarness({ exchange: { modify: false } });
    const { planId, sl } = await enter(h, { sl: '95', tp: '110' });

    const outcome = await h.runtime.submit(modifyExits('trail-cr-1', sl.parentGroupId, { sl: '98' }));
    await h.runtime.settled();
    expect(outcome.affected_order_ids).toEqual([sl.orderId]);

    const { sl: replacement, ex } = await currentStop(h, planId);
    expect(replacement.orderId).not.toBe(sl.orderId);
    expect(replacement).toMatchObject({ status: 'OPEN', side: 'SELL', orderType: 'STOP', stopPrice: '98', quantity: '10', parentGroupId: sl.parentGroupId });
    expect(ex).toMatchObject({ stopPrice: '98', quantity: '10' });
    expect((await h.runtime.ledger.order(sl.orderId))?.status).toBe('CANCELED');
    expect(onExchange(h.exchange, sl.clientOrderId)?.status).toBe('canceled');
    expect((await h.runtime.ledger.plan(planId))?.exitPlan?.stopLossPrice).toBe('98');
    // Only one stop was placed as the replacement (the directive's), not a second one by Protection.
    expect(h.exchange.allOrders().filter((o) => o.orderType === 'STOP')).toHaveLength(2);
    const tp = (await liveOrders(h.runtime, planId, 'TAKE_PROFIT'))[0]!;
    expect(remaining(onExchange(h.exchange, tp.clientOrderId)!)).toBe('10');
  });

  // Regression (was a defect, fixed): actors/worker.ts modifyOrders (cancel-replace) registers the replacement without the
  // old order's ocoGroup, so the new stop is no longer linked one-cancels-other with the
  // take-profit on the exchange: a bar through both levels fills both.
  it('without modify: the replacement stop stays one-cancels-other with the take-profit', async () => {
    const h = await openHarness({ exchange: { modify: false } });
    const { planId, sl } = await enter(h, { sl: '95', tp: '110' });
    await h.runtime.submit(modifyExits('trail-cr-oco', sl.parentGroupId, { sl: '98' }));
    await h.runtime.settled();
    const { sl: replacement } = await currentStop(h, planId);
    const tp = (await liveOrders(h.runtime, planId, 'TAKE_PROFIT'))[0]!;
    expect.soft(replacement.ocoGroup).toBe(tp.ocoGroup); // actual: null

    // Down through 98, then up through 110 in one bar.
    bar(h, { open: '100', high: '111', low: '97', close: '105' });
    await h.runtime.settled();
    expect(await exchangeNet(h.exchange)).toBe('0'); // actual: -10 (both exits filled)
    expect(onExchange(h.exchange, tp.clientOrderId)?.filled).toBe('0');
  });

  it('MODIFY_ORDERS with a new take_profit_price moves the exchange limit and the plan level', async () => {
    const h = await openHarness();
    const { planId, sl } = await enter(h, { sl: '95', tp: '110' });
    await h.runtime.submit(modifyExits('trail-tp', sl.parentGroupId, { tp: '112' }));
    await h.runtime.settled();
    const tp = (await liveOrders(h.runtime, planId, 'TAKE_PROFIT'))[0]!;
    expect(tp.price).toBe('112');
    expect(onExchange(h.exchange, tp.clientOrderId)).toMatchObject({ status: 'open', price: '112', quantity: '10' });
    expect((await currentStop(h, planId)).ex.stopPrice).toBe('95');
    expect((await h.runtime.ledger.plan(planId))?.exitPlan).toMatchObject({ stopLossPrice: '95', takeProfitPrice: '112' });
  });
});

describe('trailing_offset: the stop follows the price on the position monitor', () => {
  for (const modify of [true, false]) {
    it(`long, offset 3 (${modify ? 'modify' : 'cancel-replace'}): 95 -> 98 -> 101 -> 103, never down`, async () => {
      const h = await openHarness({ exchange: { modify } });
      const { planId } = await enter(h, { sl: '95', tp: '120', trail: '3' });
      const steps: [close: string, low: string, stop: string][] = [
        ['101', '100.5', '98'],
        ['104', '103.5', '101'],
        ['102', '101.5', '101'], // falls back: the stop stays
        ['103.5', '103', '101'], // 103.5 - 3 = 100.5 < 101: stays
        ['106', '105.5', '103'],
        ['104', '103.5', '103'],
      ];
      let previous = '95';
      for (const [close, low, stop] of steps) {
        bar(h, { open: low, high: close, low, close });
        const report = await h.runtime.monitorPositions();
        await h.runtime.settled();
        expect(report.trailed).toBe(stop === previous ? 0 : 1);
        const { sl, ex } = await currentStop(h, planId);
        expect(ex.stopPrice, `after close ${close}`).toBe(stop);
        expect(sl.stopPrice).toBe(stop);
        expect(remaining(ex)).toBe('10');
        expect((await h.runtime.ledger.plan(planId))?.exitPlan).toEqual({ stopLossPrice: stop, takeProfitPrice: '120', trailingOffset: '3' });
        expect(Number(stop)).toBeGreaterThanOrEqual(Number(previous));
        previous = stop;
      }
      // The trailed stop is what closes the position.
      bar(h, { open: '103.5', high: '103.5', low: '102', close: '102.5' });
      await h.runtime.settled();
      expect(await h.runtime.ledger.plan(planId)).toMatchObject({ status: 'CLOSED', exitReason: 'STOPPED_OUT' });
      expect((await h.runtime.ledger.position(planId))?.realizedPnl).toBe('30');
    });
  }

  it('short, offset 2: 105 -> 101 -> 98, never up', async () => {
    const h = await openHarness();
    const { planId } = await enter(h, { direction: 'SELL', sl: '105', tp: '80', trail: '2' });
    const steps: [close: string, high: string, stop: string][] = [
      ['99', '99.5', '101'],
      ['100', '100.5', '101'], // up: stays
      ['96', '96.5', '98'],
      ['97', '97.5', '98'],
    ];
    for (const [close, high, stop] of steps) {
      bar(h, { open: high, high, low: close, close });
      await h.runtime.monitorPositions();
      await h.runtime.settled();
      const { sl, ex } = await currentStop(h, planId);
      expect(ex.stopPrice, `after close ${close}`).toBe(stop);
      expect(sl).toMatchObject({ side: 'BUY', stopPrice: stop });
      expect(remaining(ex)).toBe('10');
    }
    bar(h, { open: '97.5', high: '98.5', low: '97.5', close: '98.2' });
    await h.runtime.settled();
    expect(await h.runtime.ledger.plan(planId)).toMatchObject({ status: 'CLOSED', exitReason: 'STOPPED_OUT' });
    expect((await h.runtime.ledger.position(planId))?.realizedPnl).toBe('20'); // sold 100, bought back 98
  });

  it('no trailing_offset: the position monitor marks but never moves the stop', async () => {
    const h = await openHarness();
    const { planId, sl } = await enter(h, { sl: '95', tp: '120' });
    bar(h, { open: '105', high: '110', low: '105', close: '110' });
    const report = await h.runtime.monitorPositions();
    await h.runtime.settled();
    expect(report).toMatchObject({ marked: 1, trailed: 0 });
    expect(onExchange(h.exchange, sl.clientOrderId)?.stopPrice).toBe('95');
    expect((await h.runtime.ledger.plan(planId))?.mark?.price).toBe('110');
  });

  it('trailing while the entry is still filling: the stop keeps covering the whole position', async () => {
    const h = await openHarness({ exchange: { participation: '0.4' } });
    const out = await h.runtime.submit(newTrade('trail-partial', { size: '10', exit: { sl: '95', trail: '2' } }));
    const planId = out.plan_id!;
    await h.runtime.settled();
    const closes = ['100', '101', '102'];
    for (const [i, close] of closes.entries()) {
      bar(h, { open: close, high: close, low: close, close, volume: '10' });
      await h.runtime.settled();
      await h.runtime.monitorPositions();
      await h.runtime.settled();
      const { sl, ex } = await currentStop(h, planId);
      expect(ex.stopPrice).toBe(String(Number(close) - 2));
      expect(remaining(ex)).toBe(['4', '8', '10'][i]);
      expect(sl.quantity).toBe(['4', '8', '10'][i]);
    }
    expect((await ordersOfPlan(h.runtime, planId)).filter((o) => o.role === 'TAKE_PROFIT')).toEqual([]);
  });
});
