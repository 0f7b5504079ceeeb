/**
 * Requirement 2, as a property: with native one-cancels-other, random bars around the
 * stop-loss and take-profit levels (gaps, bars covering both levels, random volumes under a
 * participation cap, so entry and exits fill in pieces) never make the exits sell more than the
 * entry bought. After every bar + settled():
 *   - exit fills (STOP_LOSS + TAKE_PROFIT + EXIT) <= entry fills, on the exchange (trades of
 *     allOrders) and in the ledger;
 *   - no working exit order has more left than the current position, on the exchange and in
 *     the ledger;
 *   - the ledger's position equals the exchange's; every ledger order has the exchange's fills;
 *   - an open position is fully protected: one stop-loss and one take-profit, each with the
 *     position left to fill.
 * PROPERTY_RUNS raises the number of runs (default 30).
 */
import fc from 'fast-check';
import { afterEach, expect, it } from 'vitest';
import { D, str, type Dec } from '../../src/domain/decimal.js';
import type { ExchangeOrder } from '../../src/connectors/connector.js';
import { bar, cleanup, exchangeNet, newTrade, openHarness, ordersOfPlan, type BarSpec, type Harness } from './helpers.js';

afterEach(cleanup);

const RUNS = Number(process.env.PROPERTY_RUNS ?? 30);

/** Price points near the levels of both directions: long SL 95 / TP 110, short SL 105 / TP 90. */
const LEVELS = ['88', '89.5', '90', '90.5', '93', '94.5', '95', '95.5', '98', '100', '102', '104.5', '105', '105.5', '108', '109.5', '110', '110.5', '112'];
const level = fc.constantFrom(...LEVELS);

const volume = fc.constantFrom('0', '4', '10', '15', '20', '40', '100', '1000');

/** A bar from four random price points (open, close inside [low, high]). */
const randomBar: fc.Arbitrary<BarSpec> = fc.tuple(level, level, level, level, volume).map(([a, b, c, d, v]) => {
  const sorted = [a, b, c, d].map((x) => new D(x)).sort((x, y) => x.comparedTo(y));
  return { open: str(new D(c)), close: str(new D(d)), low: str(sorted[0]!), high: str(sorted[3]!), volume: v };
});

/** A bar whose range covers both levels of either direction (simultaneous triggers). */
const bothBar: fc.Arbitrary<BarSpec> = fc
  .tuple(fc.constantFrom('98', '100', '102', '93', '111'), fc.constantFrom('98', '100', '102', '89', '112'), volume)
  .map(([open, close, v]) => ({ open, close, low: '88', high: '112', volume: v }));

/** A gap: opens beyond a level, stays there. */
const gapBar: fc.Arbitrary<BarSpec> = fc
  .tuple(fc.constantFrom('89', '93', '106', '111'), volume)
  .map(([p, v]) => ({ open: p, close: p, low: str(new D(p).minus('0.5')), high: str(new D(p).plus('0.5')), volume: v }));

const quietBar: fc.Arbitrary<BarSpec> = volume.map((v) => ({ open: '100', high: '101', low: '99', close: '100', volume: v }));

const scenario = fc.record({
  direction: fc.constantFrom<'BUY' | 'SELL'>('BUY', 'SELL'),
  size: fc.integer({ min: 1, max: 30 }),
  participation: fc.constantFrom('0.1', '0.25', '0.5', '1'),
  modify: fc.boolean(),
  bars: fc.array(fc.oneof({ weight: 4, arbitrary: randomBar }, { weight: 2, arbitrary: bothBar }, { weight: 1, arbitrary: gapBar }, { weight: 2, arbitrary: quietBar }), {
    minLength: 1,
    maxLength: 10,
  }),
});

function filledOf(o: ExchangeOrder): Dec {
  return o.trades.reduce((sum, t) => sum.plus(t.quantity), new D(0));
}

async function check(h: Harness, planId: string, entryClientOrderId: string, label: string): Promise<void> {
  const exchangeOrders = h.exchange.allOrders();
  const entryEx = exchangeOrders.find((o) => o.clientOrderId === entryClientOrderId)!;
  const entryFilled = filledOf(entryEx);
  const exitFilled = exchangeOrders.filter((o) => o !== entryEx).reduce((sum, o) => sum.plus(filledOf(o)), new D(0));
  expect(exitFilled.lte(entryFilled), `${label}: exchange exits ${str(exitFilled)} > entry ${str(entryFilled)}`).toBe(true);

  const net = new D(await exchangeNet(h.exchange));
  for (const o of exchangeOrders) {
    if (o === entryEx || o.status !== 'open') continue;
    const left = new D(o.quantity).minus(o.filled);
    expect(left.lte(net.abs()), `${label}: exchange ${o.orderType} ${o.clientOrderId} has ${str(left)} left, position ${str(net)}`).toBe(true);
  }

  const orders = await ordersOfPlan(h.runtime, planId);
  const ledgerEntry = orders.filter((o) => o.role === 'ENTRY').reduce((s, o) => s.plus(o.filledQuantity), new D(0));
  const ledgerExit = orders.filter((o) => o.role !== 'ENTRY').reduce((s, o) => s.plus(o.filledQuantity), new D(0));
  expect(ledgerExit.lte(ledgerEntry), `${label}: ledger exits ${str(ledgerExit)} > entry ${str(ledgerEntry)}`).toBe(true);
  expect(str(ledgerEntry), `${label}: ledger entry fills`).toBe(str(entryFilled));
  expect(str(ledgerExit), `${label}: ledger exit fills`).toBe(str(exitFilled));

  const position = await h.runtime.ledger.position(planId);
  expect(position?.netQuantity, `${label}: ledger position vs exchange`).toBe(str(net));

  for (const o of orders) {
    const ex = exchangeOrders.find((e) => e.clientOrderId === o.clientOrderId);
    expect(ex, `${label}: ${o.orderId} is on the exchange`).toBeDefined();
    expect(o.filledQuantity, `${label}: fills of ${o.role} ${o.orderId}`).toBe(str(filledOf(ex!)));
    if (o.role !== 'ENTRY' && ['OPEN', 'PARTIALLY_FILLED'].includes(o.status)) {
      const left = new D(o.quantity).minus(o.filledQuantity);
      expect(left.lte(net.abs()), `${label}: ledger ${o.role} ${o.orderId} has ${str(left)} left, position ${str(net)}`).toBe(true);
      expect(ex!.status, `${label}: ${o.role} ${o.orderId} working in the ledger`).toBe('open');
    }
  }

  // An open position is protected by exactly one SL and one TP, each for all of it.
  if (!net.isZero()) {
    for (const type of ['STOP', 'LIMIT'] as const) {
      const open = exchangeOrders.filter((o) => o !== entryEx && o.status === 'open' && o.orderType === type);
      expect(open.map((o) => str(new D(o.quantity).minus(o.filled))), `${label}: open ${type} exits for position ${str(net)}`).toEqual([str(net.abs())]);
    }
  }
}

it(`native OCO: exits never exceed entries, orders never exceed the position, ledger = exchange (${RUNS} runs)`, async () => {
  await fc.assert(
    fc.asyncProperty(scenario, async (s) => {
      const h = await openHarness({
        exchange: { participation: s.participation, modify: s.modify, quantityStep: { AAPL: '1' } },
      });
      try {
        const long = s.direction === 'BUY';
        const out = await h.runtime.submit(
          newTrade('prop-entry', { size: String(s.size), direction: s.direction, exit: long ? { sl: '95', tp: '110' } : { sl: '105', tp: '90' } }),
        );
        await h.runtime.settled();
        const planId = out.plan_id!;
        const entry = (await ordersOfPlan(h.runtime, planId))[0]!;
        for (const [i, b] of s.bars.entries()) {
          bar(h, b);
          await h.runtime.settled();
          await check(h, planId, entry.clientOrderId, `bar ${i} ${JSON.stringify(b)}`);
        }
        const plan = await h.runtime.ledger.plan(planId);
        if (plan?.status === 'CLOSED') {
          expect(await exchangeNet(h.exchange)).toBe('0');
          expect(h.exchange.allOrders().filter((o) => o.status === 'open')).toEqual([]);
          expect(['STOPPED_OUT', 'PROFIT_TAKEN']).toContain(plan.exitReason);
        }
      } finally {
        await h.runtime.close();
        await cleanup();
      }
    }),
    { numRuns: RUNS },
  );
});
