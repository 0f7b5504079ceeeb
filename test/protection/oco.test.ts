/**
 * Requirement 2: stop-loss and take-profit are one-cancels-other. A partial fill of one
 * reduces the other to the remaining position; a full fill cancels the other. Both with the
 * exchange's native OCO (default) and with `oco: false`, where the runtime's Protection
 * reduces / cancels the sibling itself after the fill reply.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { bar, cleanup, exchangeNet, HoldingConnector, newTrade, onExchange, openHarness, ordersOfPlan, remaining, type Harness } from './helpers.js';

afterEach(cleanup);

/** Entry 10 @ 100 filled in one bar (volume 100, participation 0.3 caps at 30); SL 95 / TP 110 placed for 10. */
async function protectedLong(h: Harness) {
  const out = await h.runtime.submit(newTrade('oco-entry', { size: '10', exit: { sl: '95', tp: '110' } }));
  await h.runtime.settled();
  bar(h, { open: '100', high: '101', low: '99', close: '100', volume: '100' });
  await h.runtime.settled();
  const planId = out.plan_id!;
  const orders = await ordersOfPlan(h.runtime, planId);
  const sl = orders.find((o) => o.role === 'STOP_LOSS')!;
  const tp = orders.find((o) => o.role === 'TAKE_PROFIT')!;
  expect(sl).toMatchObject({ status: 'OPEN', quantity: '10' });
  expect(tp).toMatchObject({ status: 'OPEN', quantity: '10' });
  return { planId, entryGroupId: out.group_ids[0]!, sl, tp };
}

async function statusOf(h: Harness, orderId: string) {
  return (await h.runtime.ledger.order(orderId))!;
}

for (const oco of [true, false]) {
  describe(oco ? 'native one-cancels-other' : 'oco: false (Protection reduces / cancels the sibling)', () => {
    it('SL fills 3 of 10: TP reduced to 7; SL fills the other 7 on the next bar: TP cancelled, plan STOPPED_OUT', async () => {
      const h = await openHarness({ exchange: { participation: '0.3', oco } });
      const { planId, sl, tp } = await protectedLong(h);

      // Down through 95 with little volume: the stop triggers and fills 3.
      bar(h, { open: '96', high: '96', low: '94', close: '95', volume: '10' });
      await h.runtime.settled();
      expect(onExchange(h.exchange, sl.clientOrderId)).toMatchObject({ status: 'open', quantity: '10', filled: '3' });
      const tpEx = onExchange(h.exchange, tp.clientOrderId)!;
      expect(tpEx.status).toBe('open');
      expect(remaining(tpEx)).toBe('7');
      expect(await statusOf(h, sl.orderId)).toMatchObject({ status: 'PARTIALLY_FILLED', filledQuantity: '3' });
      expect(await statusOf(h, tp.orderId)).toMatchObject({ status: 'OPEN', quantity: '7', filledQuantity: '0' });
      expect((await h.runtime.ledger.position(planId))?.netQuantity).toBe('7');
      expect(await exchangeNet(h.exchange)).toBe('7');

      // The triggered stop fills its remaining 7 at the next bar's open.
      bar(h, { open: '94', high: '94.5', low: '93.5', close: '94', volume: '100' });
      await h.runtime.settled();
      expect(onExchange(h.exchange, sl.clientOrderId)).toMatchObject({ status: 'filled', filled: '10' });
      expect(onExchange(h.exchange, tp.clientOrderId)).toMatchObject({ status: 'canceled', filled: '0' });
      expect(await statusOf(h, sl.orderId)).toMatchObject({ status: 'FILLED', filledQuantity: '10' });
      expect(await statusOf(h, tp.orderId)).toMatchObject({ status: 'CANCELED', filledQuantity: '0' });
      expect(await exchangeNet(h.exchange)).toBe('0');
      expect(await h.runtime.ledger.plan(planId)).toMatchObject({ status: 'CLOSED', exitReason: 'STOPPED_OUT', openGroupIds: [] });
      for (const g of await h.runtime.ledger.groupsOfPlan(planId)) expect(['COMPLETED', 'PARTIAL', 'CANCELLED']).toContain(g.status);
      expect(h.exchange.allOrders().filter((o) => o.status === 'open')).toEqual([]);
    });

    it('TP fills 3 of 10: SL reduced to 7; TP fills the other 7: SL cancelled, plan PROFIT_TAKEN', async () => {
      const h = await openHarness({ exchange: { participation: '0.3', oco } });
      const { planId, sl, tp } = await protectedLong(h);

      bar(h, { open: '109', high: '111', low: '109', close: '110', volume: '10' });
      await h.runtime.settled();
      expect(onExchange(h.exchange, tp.clientOrderId)).toMatchObject({ status: 'open', quantity: '10', filled: '3' });
      const slEx = onExchange(h.exchange, sl.clientOrderId)!;
      expect(slEx.status).toBe('open');
      expect(remaining(slEx)).toBe('7');
      expect(slEx.stopPrice).toBe('95');
      expect(await statusOf(h, tp.orderId)).toMatchObject({ status: 'PARTIALLY_FILLED', filledQuantity: '3' });
      expect(await statusOf(h, sl.orderId)).toMatchObject({ status: 'OPEN', quantity: '7', filledQuantity: '0' });
      expect((await h.runtime.ledger.position(planId))?.netQuantity).toBe('7');

      bar(h, { open: '110', high: '112', low: '110', close: '111', volume: '100' });
      await h.runtime.settled();
      expect(onExchange(h.exchange, tp.clientOrderId)).toMatchObject({ status: 'filled', filled: '10' });
      expect(onExchange(h.exchange, sl.clientOrderId)).toMatchObject({ status: 'canceled', filled: '0' });
      expect(await statusOf(h, tp.orderId)).toMatchObject({ status: 'FILLED', filledQuantity: '10', averageFillPrice: '110' });
      expect(await statusOf(h, sl.orderId)).toMatchObject({ status: 'CANCELED' });
      expect(await exchangeNet(h.exchange)).toBe('0');
      expect(await h.runtime.ledger.plan(planId)).toMatchObject({ status: 'CLOSED', exitReason: 'PROFIT_TAKEN', openGroupIds: [] });
      expect((await h.runtime.ledger.position(planId))?.realizedPnl).toBe('100');
    });

    it('TP fills all 10 at once: SL cancelled on the exchange and in the ledger', async () => {
      const h = await openHarness({ exchange: { participation: '0.3', oco } });
      const { planId, sl, tp } = await protectedLong(h);
      bar(h, { open: '108', high: '111', low: '108', close: '110', volume: '1000' });
      await h.runtime.settled();
      expect(onExchange(h.exchange, tp.clientOrderId)).toMatchObject({ status: 'filled', filled: '10' });
      expect(onExchange(h.exchange, sl.clientOrderId)?.status).toBe('canceled');
      expect(await statusOf(h, sl.orderId)).toMatchObject({ status: 'CANCELED' });
      expect(await h.runtime.ledger.plan(planId)).toMatchObject({ status: 'CLOSED', exitReason: 'PROFIT_TAKEN' });
      expect(h.exchange.allOrders().filter((o) => o.status === 'open')).toEqual([]);
    });

    it('short: SL (BUY STOP 105) fills 3: TP (BUY LIMIT 90) reduced to 7', async () => {
      const h = await openHarness({ exchange: { participation: '0.3', oco } });
      const out = await h.runtime.submit(newTrade('oco-short', { size: '10', direction: 'SELL', exit: { sl: '105', tp: '90' } }));
      await h.runtime.settled();
      bar(h, { open: '100', high: '101', low: '99', close: '100', volume: '100' });
      await h.runtime.settled();
      bar(h, { open: '104', high: '106', low: '104', close: '105', volume: '10' });
      await h.runtime.settled();
      const orders = await ordersOfPlan(h.runtime, out.plan_id!);
      const sl = orders.find((o) => o.role === 'STOP_LOSS')!;
      const tp = orders.find((o) => o.role === 'TAKE_PROFIT')!;
      expect(sl).toMatchObject({ side: 'BUY', status: 'PARTIALLY_FILLED', filledQuantity: '3' });
      expect(tp).toMatchObject({ side: 'BUY', status: 'OPEN', quantity: '7' });
      expect(remaining(onExchange(h.exchange, tp.clientOrderId)!)).toBe('7');
      expect(await exchangeNet(h.exchange)).toBe('-7');
      expect((await h.runtime.ledger.position(out.plan_id!))?.netQuantity).toBe('-7');
    });
  });
}

describe('simultaneous triggers with native OCO', () => {
  it('a bar whose range covers both 95 and 110: the level reached first fills, the other is cancelled; exits never exceed the entry', async () => {
    const h = await openHarness();
    const { planId, sl, tp } = await protectedLong(h);
    // |O-H| = 11 > |O-L| = 6: the path is O -> L -> H -> C, so the stop is reached first.
    bar(h, { open: '100', high: '111', low: '94', close: '105' });
    await h.runtime.settled();
    expect(onExchange(h.exchange, sl.clientOrderId)).toMatchObject({ status: 'filled', filled: '10' });
    expect(onExchange(h.exchange, tp.clientOrderId)).toMatchObject({ status: 'canceled', filled: '0' });
    expect(await exchangeNet(h.exchange)).toBe('0');
    expect(await h.runtime.ledger.plan(planId)).toMatchObject({ status: 'CLOSED', exitReason: 'STOPPED_OUT' });
    expect((await statusOf(h, tp.orderId)).status).toBe('CANCELED');
  });

  it('the same with partial fills: SL fills 3 on the way down, TP gets at most the remaining 7 on the way up', async () => {
    const h = await openHarness({ exchange: { participation: '0.3', oco: true } });
    const { planId, sl, tp } = await protectedLong(h);
    bar(h, { open: '100', high: '111', low: '94', close: '105', volume: '10' });
    await h.runtime.settled();
    const slEx = onExchange(h.exchange, sl.clientOrderId)!;
    const tpEx = onExchange(h.exchange, tp.clientOrderId)!;
    expect(slEx.filled).toBe('3');
    expect(tpEx.filled).toBe('3');
    // Both filled 3: each fill reduced the other, so at most 10 in all and the rest (4) still protected on both.
    expect(remaining(slEx)).toBe('4');
    expect(remaining(tpEx)).toBe('4');
    expect(await exchangeNet(h.exchange)).toBe('4');
    expect((await h.runtime.ledger.position(planId))?.netQuantity).toBe('4');
    expect(await statusOf(h, sl.orderId)).toMatchObject({ filledQuantity: '3', quantity: '7' });
    expect(await statusOf(h, tp.orderId)).toMatchObject({ filledQuantity: '3', quantity: '7' });
  });
});

/**
 * Regression (was a defect, fixed): the two replies of one exchange event (the SL's fill and the TP's one-cancels-other
 * resize) are applied in separate per-order lanes, in either order. When the resize lands
 * first, Protection.ensure sees a reduced (or cancelled) TP next to a position that does not
 * yet include the SL fill, and "corrects" the TP from that stale position: it enlarges the TP
 * back over the exchange position, or places a fresh TP while the exchange is already flat.
 * Happens on its own in ~10-20% of runs (see the property / the NotFoundError variant); the
 * HoldingConnector makes the order deterministic by holding the SL's fill reply back.
 */
describe('one-cancels-other replies applied out of order', () => {
  async function heldFillSetup(volume: string) {
    let holding!: HoldingConnector;
    const h = await openHarness({ exchange: { participation: '0.3' }, wrap: (e) => (holding = new HoldingConnector(e)).connector });
    const { planId, sl, tp } = await protectedLong(h);
    holding.hold = (r) => r.type === 'fill' && r.trade.clientOrderId === sl.clientOrderId;
    bar(h, { open: '96', high: '96', low: '94', close: '95', volume });
    await h.runtime.settled();
    return { h, holding, planId, sl, tp };
  }

  // The same race, one step further: the TP's cancel lands first, Protection starts re-placing
  // the TP into the protection group, and the SL fill lands while it prepares the order. The
  // fill closes the group, so ledger.prepareOrder throws NotFoundError ("EXG_... is not an open
  // ExecutionGroup") out of Protection.ensure into runtime.backgroundError. Without help this
  // happens in ~5-20% of runs; here prepareOrder is wrapped so the held fill is applied at
  // exactly that point.
  it('the SL fill landing while Protection prepares a replacement TP: no error escapes Protection', async () => {
    let holding!: HoldingConnector;
    const h = await openHarness({ exchange: { participation: '0.3' }, wrap: (e) => (holding = new HoldingConnector(e)).connector });
    const { planId, sl } = await protectedLong(h);
    const ledger = h.runtime.strategyLedger;
    const prepare = ledger.prepareOrder.bind(ledger);
    let interleaved = false;
    ledger.prepareOrder = async (request) => {
      if (!interleaved && holding.held.length > 0) {
        interleaved = true;
        holding.release();
        for (let i = 0; i < 200 && (await ledger.order(sl.orderId))?.status !== 'FILLED'; i++) await new Promise((r) => setTimeout(r, 5));
      }
      return prepare(request);
    };
    holding.hold = (r) => r.type === 'fill' && r.trade.clientOrderId === sl.clientOrderId;
    bar(h, { open: '96', high: '96', low: '94', close: '95', volume: '100' });
    await h.runtime.settled();
    // Protection now asks the exchange before it adds exposure, finds the SL fill and never
    // prepares a replacement TP; if it had (`interleaved`), no error may escape it either.
    void interleaved;
    expect(await h.runtime.ledger.plan(planId)).toMatchObject({ status: 'CLOSED', exitReason: 'STOPPED_OUT' });
    expect(h.exchange.allOrders().filter((o) => o.status === 'open')).toEqual([]);
    expect(String(h.runtime.backgroundError ?? 'none')).toBe('none');
  });

  it('SL fills 3 (reply not yet applied), TP resized to 7: Protection must not enlarge the TP back to 10 (the exchange holds 7)', async () => {
    const { h, holding, sl, tp } = await heldFillSetup('10');
    expect(onExchange(h.exchange, sl.clientOrderId)?.filled).toBe('3');
    expect(await exchangeNet(h.exchange)).toBe('7');
    // Correct: the TP stays at what the exchange's OCO left (7). Actual: modified back to 10.
    expect.soft(remaining(onExchange(h.exchange, tp.clientOrderId)!)).toBe('7');

    // The consequence: the next bar fills the triggered stop's 7 at the open and then the
    // take-profit, whose 10 the OCO only cuts by 7: 3 more are sold than were bought.
    bar(h, { open: '109', high: '111', low: '109', close: '110', volume: '1000' });
    holding.release();
    await h.runtime.settled();
    const exits = h.exchange.allOrders().slice(1).reduce((s, o) => s + Number(o.filled), 0);
    expect(exits).toBeLessThanOrEqual(10);
    expect(await exchangeNet(h.exchange)).toBe('0');
  });

  it('SL fills all 10 (reply not yet applied), TP cancelled by the OCO: Protection must not place a new TP while the exchange is flat', async () => {
    const { h, holding, tp } = await heldFillSetup('100');
    expect(await exchangeNet(h.exchange)).toBe('0');
    expect(onExchange(h.exchange, tp.clientOrderId)?.status).toBe('canceled');
    // Correct: nothing new on the exchange. Actual: a fresh LIMIT SELL 10 @ 110 is placed.
    expect.soft(h.exchange.allOrders().filter((o) => o.status === 'open').map((o) => `${o.side} ${o.orderType} ${o.quantity}`)).toEqual([]);

    bar(h, { open: '109', high: '111', low: '109', close: '110', volume: '1000' });
    holding.release();
    await h.runtime.settled();
    expect(await exchangeNet(h.exchange)).toBe('0'); // actual: -10, the runtime sold a position it no longer had
  });
});
