/**
 * Requirement 1: an exit plan on a NEW_TRADE puts a stop-loss (STOP) and a take-profit (LIMIT)
 * on the exchange as soon as the entry fills, sized to what filled, and resized as further
 * partial entry fills arrive: with exchange modify support (MODIFY), and without it
 * (cancel-replace).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { D } from '../../src/domain/decimal.js';
import { bar, cleanup, exchangeNet, liveOrders, newTrade, onExchange, openHarness, openOnExchange, ordersOfPlan, remaining, type Harness } from './helpers.js';

afterEach(cleanup);

/** A quiet bar (nowhere near 95 / 110) with volume 10: at participation 0.4 an order fills at most 4. */
const quiet = (h: Harness) => bar(h, { open: '100', high: '101', low: '99', close: '100.5', volume: '10' });

/** Asserts one working SL and one working TP, each with remaining = position, in the ledger and on the exchange. */
async function expectProtected(h: Harness, planId: string, position: string, side: 'BUY' | 'SELL', sl: string, tp: string) {
  const pos = await h.runtime.ledger.position(planId);
  expect(pos?.netQuantity).toBe(side === 'SELL' ? position : `-${position}`);
  expect(await exchangeNet(h.exchange)).toBe(pos?.netQuantity);

  const [slOrder, ...moreSl] = await liveOrders(h.runtime, planId, 'STOP_LOSS');
  const [tpOrder, ...moreTp] = await liveOrders(h.runtime, planId, 'TAKE_PROFIT');
  expect(moreSl).toEqual([]);
  expect(moreTp).toEqual([]);
  expect(slOrder).toMatchObject({ status: 'OPEN', side, orderType: 'STOP', stopPrice: sl, price: null });
  expect(tpOrder).toMatchObject({ status: 'OPEN', side, orderType: 'LIMIT', price: tp, stopPrice: null });
  expect(new D(slOrder!.quantity).minus(slOrder!.filledQuantity).toFixed()).toBe(position);
  expect(new D(tpOrder!.quantity).minus(tpOrder!.filledQuantity).toFixed()).toBe(position);
  // Linked one-cancels-other.
  expect(slOrder!.ocoGroup).not.toBeNull();
  expect(tpOrder!.ocoGroup).toBe(slOrder!.ocoGroup);
  // The same group (the plan's protection group), not the entry's.
  expect(tpOrder!.parentGroupId).toBe(slOrder!.parentGroupId);

  const slEx = onExchange(h.exchange, slOrder!.clientOrderId)!;
  const tpEx = onExchange(h.exchange, tpOrder!.clientOrderId)!;
  expect(slEx).toMatchObject({ status: 'open', side, orderType: 'STOP', stopPrice: sl });
  expect(tpEx).toMatchObject({ status: 'open', side, orderType: 'LIMIT', price: tp });
  expect(remaining(slEx)).toBe(position);
  expect(remaining(tpEx)).toBe(position);
  // Nothing else is working on the exchange besides the entry's remainder.
  const stops = openOnExchange(h.exchange, 'STOP');
  const limits = openOnExchange(h.exchange, 'LIMIT');
  expect(stops.map((o) => o.clientOrderId)).toEqual([slOrder!.clientOrderId]);
  expect(limits.map((o) => o.clientOrderId)).toEqual([tpOrder!.clientOrderId]);
  return { sl: slOrder!, tp: tpOrder! };
}

describe('protection follows the entry fills', () => {
  it('nothing is placed before the entry fills: only the entry is on the exchange', async () => {
    const h = await openHarness({ exchange: { participation: '0.4' } });
    const out = await h.runtime.submit(newTrade('p-none', { size: '10', limit: '90', exit: { sl: '85', tp: '110' } }));
    await h.runtime.settled();
    bar(h, { open: '100', high: '101', low: '99', close: '100', volume: '10' }); // the limit at 90 is not reached
    await h.runtime.settled();
    expect(h.exchange.allOrders().map((o) => [o.orderType, o.status])).toEqual([['LIMIT', 'open']]);
    expect((await ordersOfPlan(h.runtime, out.plan_id!)).map((o) => o.role)).toEqual(['ENTRY']);
    expect((await h.runtime.ledger.plan(out.plan_id!))?.status).toBe('PENDING');
  });

  for (const modify of [true, false]) {
    describe(modify ? 'with exchange modify' : 'without modify (cancel-replace)', () => {
      it('long: entry fills 4, 4, 2 across bars; SL/TP placed at 4, then sized 8 and 10, on the exchange and in the ledger', async () => {
        const h = await openHarness({ exchange: { participation: '0.4', modify } });
        const out = await h.runtime.submit(newTrade('p-long', { size: '10', exit: { sl: '95', tp: '110' } }));
        const planId = out.plan_id!;
        await h.runtime.settled();
        expect(h.exchange.allOrders()).toHaveLength(1);

        quiet(h);
        await h.runtime.settled();
        const first = await expectProtected(h, planId, '4', 'SELL', '95', '110');
        const entry = (await ordersOfPlan(h.runtime, planId)).find((o) => o.role === 'ENTRY')!;
        expect(entry).toMatchObject({ status: 'PARTIALLY_FILLED', filledQuantity: '4' });

        quiet(h);
        await h.runtime.settled();
        const second = await expectProtected(h, planId, '8', 'SELL', '95', '110');

        quiet(h);
        await h.runtime.settled();
        const third = await expectProtected(h, planId, '10', 'SELL', '95', '110');
        expect((await h.runtime.ledger.order(entry.orderId))).toMatchObject({ status: 'FILLED', filledQuantity: '10' });

        if (modify) {
          // The same two orders, modified in place.
          expect([second.sl.orderId, second.tp.orderId]).toEqual([first.sl.orderId, first.tp.orderId]);
          expect([third.sl.orderId, third.tp.orderId]).toEqual([first.sl.orderId, first.tp.orderId]);
          expect(h.exchange.allOrders()).toHaveLength(3);
        } else {
          // Replacements: each resize is a new order; the old ones are cancelled, in the ledger and on the exchange.
          expect(second.sl.orderId).not.toBe(first.sl.orderId);
          expect(third.tp.orderId).not.toBe(second.tp.orderId);
          for (const old of [first.sl, first.tp, second.sl, second.tp]) {
            expect((await h.runtime.ledger.order(old.orderId))?.status).toBe('CANCELED');
            expect(onExchange(h.exchange, old.clientOrderId)?.status).toBe('canceled');
          }
          expect(h.exchange.allOrders()).toHaveLength(7);
        }
        expect((await h.runtime.ledger.plan(planId))?.status).toBe('ACTIVE');
      });

      it('short: entry SELL fills 4, 4, 2; BUY STOP above and BUY LIMIT below follow the position', async () => {
        const h = await openHarness({ exchange: { participation: '0.4', modify } });
        const out = await h.runtime.submit(newTrade('p-short', { size: '10', direction: 'SELL', exit: { sl: '105', tp: '90' } }));
        const planId = out.plan_id!;
        await h.runtime.settled();
        for (const expected of ['4', '8', '10']) {
          quiet(h);
          await h.runtime.settled();
          await expectProtected(h, planId, expected, 'BUY', '105', '90');
        }
      });
    });
  }

  it('only a stop-loss in the exit plan: a STOP alone, no take-profit', async () => {
    const h = await openHarness({ exchange: { participation: '0.4' } });
    const out = await h.runtime.submit(newTrade('p-sl-only', { size: '10', exit: { sl: '95' } }));
    await h.runtime.settled();
    quiet(h);
    await h.runtime.settled();
    const exits = (await ordersOfPlan(h.runtime, out.plan_id!)).filter((o) => o.role !== 'ENTRY');
    expect(exits.map((o) => [o.role, o.orderType, o.quantity, o.stopPrice])).toEqual([['STOP_LOSS', 'STOP', '4', '95']]);
    expect(openOnExchange(h.exchange, 'STOP').map((o) => o.quantity)).toEqual(['4']);
    expect(openOnExchange(h.exchange, 'LIMIT')).toEqual([]);
  });

  it('a trade without an exit plan gets no protection orders', async () => {
    const h = await openHarness();
    const out = await h.runtime.submit(newTrade('p-naked', { size: '10' }));
    await h.runtime.settled();
    quiet(h);
    await h.runtime.settled();
    expect((await ordersOfPlan(h.runtime, out.plan_id!)).map((o) => o.role)).toEqual(['ENTRY']);
    expect(h.exchange.allOrders()).toHaveLength(1);
  });
});
