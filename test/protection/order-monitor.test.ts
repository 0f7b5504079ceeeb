/**
 * Requirement 5: the order monitor re-syncs working orders from the exchange on a durable
 * interval. A fill whose pushed reply was dropped reaches the ledger when the monitor's timer
 * fires (runtime.poll() after the ManualClock passes its deadline), with the exchange's trade
 * id, and protection follows. The deadline is stored (meta timer!order_monitor): after close and
 * reopen the timer fires at the stored deadline, not one interval after reopening.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { bar, cleanup, liveOrders, newTrade, onExchange, openHarness, ordersOfPlan, SYMBOL, T0, type Harness } from './helpers.js';

afterEach(cleanup);

const MONITORS = { orderIntervalMs: 60_000, positionIntervalMs: 120_000 };

/** A bar at the clock's current time (no clock movement). */
function barNow(h: Harness, price: string, volume = '1000000') {
  h.exchange.onBar(SYMBOL, { at: h.clock.now(), open: price, high: price, low: price, close: price, volume });
}

async function timer(h: Harness, name: string): Promise<string | undefined> {
  return h.runtime.strategyLedger.store.getRaw('meta', `timer!${name}`);
}

/** Submits an entry with SL/TP and fills it on the exchange with the fill reply dropped. */
async function entryWithLostFill(h: Harness, id: string) {
  const out = await h.runtime.submit(newTrade(id, { size: '10', exit: { sl: '95', tp: '110' } }));
  await h.runtime.settled();
  const entry = (await ordersOfPlan(h.runtime, out.plan_id!))[0]!;
  expect(entry.status).toBe('OPEN');
  h.exchange.injectFault('drop_reply');
  barNow(h, '100');
  await h.runtime.settled();
  expect(onExchange(h.exchange, entry.clientOrderId)).toMatchObject({ status: 'filled', filled: '10' });
  expect(h.exchange.droppedReplies().map((r) => r.type)).toEqual(['fill']);
  return { planId: out.plan_id!, entry };
}

async function expectMissed(h: Harness, planId: string, entryId: string) {
  expect(await h.runtime.ledger.order(entryId)).toMatchObject({ status: 'OPEN', filledQuantity: '0' });
  expect((await h.runtime.ledger.position(planId))?.netQuantity).toBe('0');
  expect(await liveOrders(h.runtime, planId, 'STOP_LOSS')).toEqual([]);
}

async function expectRecovered(h: Harness, planId: string, entryId: string, clientOrderId: string) {
  const order = await h.runtime.ledger.order(entryId);
  expect(order).toMatchObject({ status: 'FILLED', filledQuantity: '10', averageFillPrice: '100' });
  const exchangeTrades = onExchange(h.exchange, clientOrderId)!.trades;
  expect(order?.tradeIds).toEqual(exchangeTrades.map((t) => t.tradeId));
  // Recorded as an ordinary fill of the order, with the exchange's trade id.
  const fills = await h.runtime.ledger.fillsOfOrder(entryId);
  expect(fills.map((f) => [f.tradeId, f.quantity, f.price])).toEqual([[exchangeTrades[0]!.tradeId, '10', '100']]);
  expect(await h.runtime.ledger.plan(planId)).toMatchObject({ status: 'ACTIVE', position: { netQuantity: '10' } });
  // Protection follows the recovered fill.
  const [sl] = await liveOrders(h.runtime, planId, 'STOP_LOSS');
  const [tp] = await liveOrders(h.runtime, planId, 'TAKE_PROFIT');
  expect(onExchange(h.exchange, sl!.clientOrderId)).toMatchObject({ status: 'open', quantity: '10', stopPrice: '95' });
  expect(onExchange(h.exchange, tp!.clientOrderId)).toMatchObject({ status: 'open', quantity: '10', price: '110' });
}

describe('order monitor', () => {
  it('a dropped fill reply reaches the ledger when the order monitor fires, not before', async () => {
    const h = await openHarness({ monitors: MONITORS });
    expect(await timer(h, 'order_monitor')).toBe(String(T0 + 60_000));
    expect(await timer(h, 'position_monitor')).toBe(String(T0 + 120_000));

    h.clock.set(T0 + 10_000);
    const { planId, entry } = await entryWithLostFill(h, 'om-1');
    await expectMissed(h, planId, entry.orderId);

    // Not due yet: polling changes nothing.
    h.clock.set(T0 + 59_999);
    await h.runtime.poll();
    await h.runtime.settled();
    await expectMissed(h, planId, entry.orderId);
    expect(await timer(h, 'order_monitor')).toBe(String(T0 + 60_000));

    h.clock.set(T0 + 60_500);
    await h.runtime.poll();
    await h.runtime.settled();
    await expectRecovered(h, planId, entry.orderId, entry.clientOrderId);
    // The next deadline is one interval on, stored.
    expect(await timer(h, 'order_monitor')).toBe(String(T0 + 120_000));
    expect(await timer(h, 'position_monitor')).toBe(String(T0 + 120_000));
    expect((await h.runtime.strategyLedger.anomalies()).filter((a) => a.kind === 'duplicate_fill' || a.kind === 'overfill')).toEqual([]);
  });

  it('deadlines missed by several intervals fire once and move past now', async () => {
    const h = await openHarness({ monitors: MONITORS });
    h.clock.set(T0 + 1000);
    const { planId, entry } = await entryWithLostFill(h, 'om-late');
    h.clock.set(T0 + 200_000); // 3 order intervals late, 1 position interval late
    await h.runtime.poll();
    await h.runtime.settled();
    await expectRecovered(h, planId, entry.orderId, entry.clientOrderId);
    expect(await timer(h, 'order_monitor')).toBe(String(T0 + 240_000));
    expect(await timer(h, 'position_monitor')).toBe(String(T0 + 240_000));
  });

  it('the position monitor fires on its own interval: the plan is marked at the last price', async () => {
    const h = await openHarness({ monitors: MONITORS });
    const out = await h.runtime.submit(newTrade('pm-timer', { size: '10', exit: { sl: '95', tp: '110' } }));
    await h.runtime.settled();
    h.clock.set(T0 + 1000);
    barNow(h, '100');
    await h.runtime.settled();
    h.clock.set(T0 + 90_000);
    barNow(h, '101.5');
    await h.runtime.poll(); // the order monitor only
    await h.runtime.settled();
    expect((await h.runtime.ledger.plan(out.plan_id!))?.mark).toBeNull();
    h.clock.set(T0 + 120_000);
    await h.runtime.poll();
    await h.runtime.settled();
    expect((await h.runtime.ledger.plan(out.plan_id!))?.mark).toEqual({ price: '101.5', at: new Date(T0 + 120_000).toISOString() });
    expect(await timer(h, 'position_monitor')).toBe(String(T0 + 240_000));
  });

  it('durable: after close and reopen the timer fires at the stored deadline, not one interval after reopening', async () => {
    const h = await openHarness({ monitors: MONITORS });
    expect(await timer(h, 'order_monitor')).toBe(String(T0 + 60_000));
    h.clock.set(T0 + 40_000);
    await h.reopen(); // a fresh timer would be due at T0 + 100 000
    expect(await timer(h, 'order_monitor')).toBe(String(T0 + 60_000));

    h.clock.set(T0 + 45_000);
    const { planId, entry } = await entryWithLostFill(h, 'om-durable');
    await expectMissed(h, planId, entry.orderId);

    h.clock.set(T0 + 59_000);
    await h.runtime.poll();
    await h.runtime.settled();
    await expectMissed(h, planId, entry.orderId);

    h.clock.set(T0 + 61_000); // the stored deadline has passed; 40 s before a re-armed one would
    await h.runtime.poll();
    await h.runtime.settled();
    await expectRecovered(h, planId, entry.orderId, entry.clientOrderId);
    expect(await timer(h, 'order_monitor')).toBe(String(T0 + 120_000));
  });

  it('durable across a restart that happens after the deadline: the first poll after reopening fires at once', async () => {
    const h = await openHarness({ monitors: MONITORS });
    h.clock.set(T0 + 70_000); // due, but nobody polled
    await h.reopen();
    expect(await timer(h, 'order_monitor')).toBe(String(T0 + 60_000));
    const out = await h.runtime.submit(newTrade('om-after', { size: '10', exit: { sl: '95', tp: '110' } }));
    await h.runtime.settled();
    h.exchange.injectFault('drop_reply');
    barNow(h, '100');
    await h.runtime.settled();
    await h.runtime.poll();
    await h.runtime.settled();
    const entry = (await ordersOfPlan(h.runtime, out.plan_id!))[0]!;
    await expectRecovered(h, out.plan_id!, entry.orderId, entry.clientOrderId);
    expect(await timer(h, 'order_monitor')).toBe(String(T0 + 120_000));
  });

  it('monitorOrders() also syncs a cancel the ledger missed and restores protection', async () => {
    const h = await openHarness({ monitors: MONITORS });
    const out = await h.runtime.submit(newTrade('om-cancel', { size: '10', exit: { sl: '95', tp: '110' } }));
    await h.runtime.settled();
    barNow(h, '100');
    await h.runtime.settled();
    const [sl] = await liveOrders(h.runtime, out.plan_id!, 'STOP_LOSS');
    // Someone cancels the stop on the exchange and the reply is lost.
    h.exchange.injectFault('drop_reply');
    await h.exchange.cancel({ clientOrderId: sl!.clientOrderId, exchangeOrderId: null, symbol: SYMBOL });
    await h.runtime.settled();
    expect((await h.runtime.ledger.order(sl!.orderId))?.status).toBe('OPEN');
    const report = await h.runtime.monitorOrders();
    await h.runtime.settled();
    expect(report.ordersChanged).toBeGreaterThanOrEqual(1);
    expect((await h.runtime.ledger.order(sl!.orderId))?.status).toBe('CANCELED');
    const [again] = await liveOrders(h.runtime, out.plan_id!, 'STOP_LOSS');
    expect(again?.orderId).not.toBe(sl!.orderId);
    expect(onExchange(h.exchange, again!.clientOrderId)).toMatchObject({ status: 'open', stopPrice: '95', quantity: '10' });
  });

  // Regression (was a defect, fixed): actors/runtime.ts recover() runs syncOrders (and waits for lanes.idle()) before it
  // sets `host.onEffects`. The sync turn that records the stop as CANCELED schedules
  // Protection through the turn observer; ensure() commits the replacement stop (SUBMITTED,
  // placeOrder effect in the outbox) while nobody dispatches effects, so it is never sent. The
  // ledger shows a stop; the exchange has none until the next order-monitor tick rejects it as
  // "not found on the exchange during reconciliation" and Protection places another.
  it('protection re-placed on reopen: a stop cancelled on the exchange while the runtime was down is on the exchange again after open', async () => {
    const h = await openHarness({ monitors: MONITORS });
    const out = await h.runtime.submit(newTrade('om-reopen', { size: '10', exit: { sl: '95', tp: '110' } }));
    await h.runtime.settled();
    barNow(h, '100');
    await h.runtime.settled();
    const [sl] = await liveOrders(h.runtime, out.plan_id!, 'STOP_LOSS');
    await h.runtime.close();
    await h.exchange.cancel({ clientOrderId: sl!.clientOrderId, exchangeOrderId: null, symbol: SYMBOL });
    await h.reopen();
    await h.runtime.settled();
    expect(h.runtime.recovery?.ordersChanged).toBeGreaterThanOrEqual(1);
    expect((await h.runtime.ledger.order(sl!.orderId))?.status).toBe('CANCELED');
    const [again] = await liveOrders(h.runtime, out.plan_id!, 'STOP_LOSS');
    expect(again?.orderId).not.toBe(sl!.orderId);
    expect(onExchange(h.exchange, again!.clientOrderId)).toMatchObject({ status: 'open', stopPrice: '95', quantity: '10' });
  });
});

// Regression (was a defect, fixed): actors/exchange-sync.ts eventsToMatchExchange has no case for an exchange order that the
// exchange's one-cancels-other closed as 'filled' by cutting its quantity down to what it had
// filled: the resync adds no event (no new trade, status 'filled' falls to `default`). If the
// 'resized' reply was lost, the ledger order stays PARTIALLY_FILLED; Protection then cancels it
// (flat), the cancel finds it closed, the same sync adds nothing, and the order sits in
// PENDING_CANCEL for good: its group never ends and the flat plan never closes, whatever the
// order and position monitors do.
describe('order monitor: an order the exchange OCO closed as filled', () => {
  it('TP fills 3, SL fills the other 7 with both replies lost: after the monitors, TP is FILLED (3 of 3) and the plan CLOSED', async () => {
    const h = await openHarness({ monitors: MONITORS, exchange: { participation: '0.3' } });
    const out = await h.runtime.submit(newTrade('om-oco-filled', { size: '10', exit: { sl: '95', tp: '110' } }));
    const planId = out.plan_id!;
    await h.runtime.settled();
    bar(h, { open: '100', high: '100', low: '100', close: '100', volume: '1000' });
    await h.runtime.settled();
    const [sl] = await liveOrders(h.runtime, planId, 'STOP_LOSS');
    const [tp] = await liveOrders(h.runtime, planId, 'TAKE_PROFIT');
    bar(h, { open: '109', high: '111', low: '109', close: '110', volume: '10' }); // TP fills 3, SL cut to 7
    await h.runtime.settled();
    expect(await h.runtime.ledger.order(tp!.orderId)).toMatchObject({ status: 'PARTIALLY_FILLED', filledQuantity: '3' });

    h.exchange.injectFault('drop_reply'); // the SL's fill
    h.exchange.injectFault('drop_reply'); // the TP's resize to 3 (= filled: closed 'filled' by the OCO)
    bar(h, { open: '96', high: '96', low: '94', close: '94', volume: '100' });
    await h.runtime.settled();
    expect(h.exchange.droppedReplies().map((r) => r.type)).toEqual(['fill', 'resized']);
    expect(onExchange(h.exchange, tp!.clientOrderId)).toMatchObject({ status: 'filled', quantity: '3', filled: '3' });
    expect(await h.exchange.fetchPositions()).toEqual([]);

    await h.runtime.monitorOrders();
    await h.runtime.settled();
    await h.runtime.monitorPositions();
    await h.runtime.settled();
    expect(await h.runtime.ledger.order(sl!.orderId)).toMatchObject({ status: 'FILLED', filledQuantity: '7' });
    expect((await h.runtime.ledger.position(planId))?.netQuantity).toBe('0');
    expect(await h.runtime.ledger.order(tp!.orderId)).toMatchObject({ status: 'FILLED', filledQuantity: '3', quantity: '3' }); // actual: PENDING_CANCEL, quantity 10
    expect(await h.runtime.ledger.plan(planId)).toMatchObject({ status: 'CLOSED', exitReason: 'STOPPED_OUT' }); // actual: ACTIVE
  });
});
