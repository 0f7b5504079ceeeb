/**
 * NEW_TRADE + EXECUTE_TRADE for every entry type, validation at the edge (every rule, nothing
 * written), and directive idempotency (sequential, concurrent, across a restart).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ValidationError, NotFoundError } from '../../src/domain/errors.js';
import { bar, cancelGroup, cleanup, closePlan, dumpStore, newTrade, openHarness, type EntryOptions, type BarSpec } from './helpers.js';

afterEach(cleanup);

interface EntryCase {
  readonly name: string;
  readonly entry: EntryOptions;
  /** What the exchange must have received. */
  readonly onExchange: { orderType: string; price: string | null; stopPrice: string | null };
  /** A bar that must NOT fill it (null: skip). */
  readonly miss: BarSpec | null;
  readonly hit: BarSpec;
  readonly fillPrice: string;
  readonly fee: string;
  readonly liquidity: 'MAKER' | 'TAKER';
}

// makerBps 5, takerBps 10, no slippage; 10 shares.
const CASES: EntryCase[] = [
  {
    name: 'MARKET',
    entry: { orderType: 'MARKET' },
    onExchange: { orderType: 'MARKET', price: null, stopPrice: null },
    miss: null,
    hit: { open: '150.25', high: '151', low: '150', close: '150.5' },
    fillPrice: '150.25',
    fee: '1.5025',
    liquidity: 'TAKER',
  },
  {
    name: 'LIMIT',
    entry: { orderType: 'LIMIT', limit: '100' },
    onExchange: { orderType: 'LIMIT', price: '100', stopPrice: null },
    miss: { open: '101', high: '102', low: '100.5', close: '101.5' },
    // O-H-L-C: comes down through 100 -> filled at the limit as maker
    hit: { open: '101', high: '101.5', low: '99', close: '100' },
    fillPrice: '100',
    fee: '0.5',
    liquidity: 'MAKER',
  },
  {
    name: 'STOP',
    entry: { orderType: 'STOP', stop: '105' },
    onExchange: { orderType: 'STOP', price: null, stopPrice: '105' },
    miss: { open: '103', high: '104', low: '102', close: '103.5' },
    // O-L-H-C: rises through 105 -> triggered, filled at the stop as taker
    hit: { open: '103', high: '106', low: '102.5', close: '105.5' },
    fillPrice: '105',
    fee: '1.05',
    liquidity: 'TAKER',
  },
  {
    name: 'STOP_LIMIT',
    entry: { orderType: 'STOP_LIMIT', stop: '105', limit: '105.5' },
    onExchange: { orderType: 'STOP_LIMIT', price: '105.5', stopPrice: '105' },
    miss: { open: '103', high: '104.9', low: '102', close: '103.5' },
    hit: { open: '103', high: '106', low: '102.5', close: '105.5' },
    fillPrice: '105',
    fee: '1.05',
    liquidity: 'TAKER',
  },
];

describe('NEW_TRADE + EXECUTE_TRADE (SINGLE)', () => {
  for (const c of CASES) {
    it(`${c.name} entry reaches the exchange with its prices, fills on a bar, and the ledger shows FILLED / COMPLETED / ACTIVE`, async () => {
      const h = await openHarness();
      const outcome = await h.runtime.submit(newTrade(`entry-${c.name}`, c.entry));
      expect(outcome).toMatchObject({ directive_id: `entry-${c.name}`, scope: 'NEW_TRADE', action: 'EXECUTE_TRADE', stage: 'done', affected_order_ids: [] });
      expect(outcome.order_ids).toHaveLength(1);
      expect(outcome.group_ids).toHaveLength(1);
      await h.runtime.settled();

      const orderId = outcome.order_ids[0]!;
      const order = await h.runtime.ledger.order(orderId);
      expect(order?.status).toBe('OPEN');
      const onExchange = h.exchange.allOrders();
      expect(onExchange).toHaveLength(1);
      expect(onExchange[0]).toMatchObject({
        clientOrderId: order!.clientOrderId,
        exchangeOrderId: order!.connectorOrderId,
        symbol: 'AAPL',
        side: 'BUY',
        quantity: '10',
        status: 'open',
        ...c.onExchange,
      });

      if (c.miss) {
        bar(h, c.miss);
        await h.runtime.settled();
        expect((await h.runtime.ledger.order(orderId))?.status).toBe('OPEN');
        expect(h.exchange.allOrders()[0]?.status).toBe('open');
      }
      bar(h, c.hit);
      await h.runtime.settled();

      const filled = await h.runtime.ledger.order(orderId);
      expect(filled).toMatchObject({
        status: 'FILLED',
        orderType: c.onExchange.orderType,
        price: c.onExchange.price,
        stopPrice: c.onExchange.stopPrice,
        filledQuantity: '10',
        averageFillPrice: c.fillPrice,
        fees: c.fee,
        role: 'ENTRY',
      });
      const fills = await h.runtime.ledger.fillsOfOrder(orderId);
      expect(fills).toHaveLength(1);
      expect(fills[0]).toMatchObject({ quantity: '10', price: c.fillPrice, fee: c.fee, liquidity: c.liquidity, side: 'BUY', parentPlanId: outcome.plan_id });

      const group = await h.runtime.ledger.group(outcome.group_ids[0]!);
      expect(group).toMatchObject({ status: 'COMPLETED', filledQuantity: '10', targetQuantity: '10', openOrderIds: [] });
      const plan = await h.runtime.ledger.plan(outcome.plan_id!);
      expect(plan?.status).toBe('ACTIVE');
      const position = await h.runtime.ledger.position(outcome.plan_id!);
      expect(position).toMatchObject({
        status: 'ACTIVE',
        symbol: 'AAPL',
        netQuantity: '10',
        averageEntryPrice: c.fillPrice,
        boughtQuantity: '10',
        soldQuantity: '0',
        realizedPnl: '0',
        fees: c.fee,
      });
      expect(h.exchange.allOrders()[0]?.status).toBe('filled');
      expect(h.exchange.placementsByClientOrderId().get(order!.clientOrderId)).toBe(1);
      expect(await h.runtime.strategyLedger.outbox()).toEqual([]);
    });
  }

  it('a SELL entry opens a short position', async () => {
    const h = await openHarness();
    const outcome = await h.runtime.submit(newTrade('short-1', { direction: 'SELL', size: '4' }));
    await h.runtime.settled();
    bar(h, { open: '200', high: '201', low: '199', close: '200' });
    await h.runtime.settled();
    expect(await h.runtime.ledger.position(outcome.plan_id!)).toMatchObject({ netQuantity: '-4', averageEntryPrice: '200', soldQuantity: '4', fees: '0.8' });
    expect(h.exchange.allOrders()[0]).toMatchObject({ side: 'SELL', orderType: 'MARKET', status: 'filled' });
  });
});

describe('bad directives', () => {
  it('several violations at once: ValidationError lists every rule with its field, and nothing is written', async () => {
    const h = await openHarness();
    // something on disk first, so "nothing written" compares a non-trivial store
    const ok = await h.runtime.submit(newTrade('existing-1', { orderType: 'LIMIT', limit: '90' }));
    await h.runtime.settled();
    const store = h.runtime.strategyLedger.store;
    const before = await dumpStore(store);

    const bad = {
      directive_id: '',
      causality: { origin: { type: 'MANUAL', id: 'bad', at: '2025-01-02T14:30:00.000Z' } },
      scope: 'NEW_TRADE',
      entry_plan: { symbol: 'AAPL', direction: 'BUY', order_type: 'LIMIT' },
      // no size_plan
      execution_plan: { action: 'CANCEL_GROUP', execution_strategy: 'TWAP' },
    };
    let caught: unknown;
    try {
      await h.runtime.submit(bad);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    const violations = (caught as ValidationError).violations;
    const fields = violations.map((v) => v.field);
    expect(fields).toEqual(
      expect.arrayContaining(['directive_id', 'size_plan', 'entry_plan.limit_price', 'execution_plan.action', 'execution_plan.execution_strategy']),
    );
    const rule = (field: string) => violations.filter((v) => v.field === field).map((v) => v.rule).join(' | ');
    expect(rule('directive_id')).toMatch(/empty/);
    expect(rule('size_plan')).toMatch(/required for NEW_TRADE/);
    expect(rule('entry_plan.limit_price')).toMatch(/required for LIMIT/);
    expect(rule('execution_plan.action')).toMatch(/CANCEL_GROUP is not allowed with scope NEW_TRADE/);
    expect(rule('execution_plan.execution_strategy')).toMatch(/TWAP is not supported/);
    // the message names them too
    expect((caught as Error).message).toMatch(/size_plan/);

    await h.runtime.settled();
    const after = await dumpStore(store);
    expect([...after.entries()]).toEqual([...before.entries()]);
    expect(h.exchange.allOrders()).toHaveLength(1);
    expect(h.events.filter((e) => e.type === 'FLOW_STOPPED')).toHaveLength(1); // only existing-1's flow
    expect(ok.order_ids).toHaveLength(1);
  });

  it('a well-formed directive naming an unknown group or plan throws NotFoundError and writes nothing', async () => {
    const h = await openHarness();
    await h.runtime.submit(newTrade('existing-2', { orderType: 'LIMIT', limit: '90' }));
    await h.runtime.settled();
    const before = await dumpStore(h.runtime.strategyLedger.store);
    await expect(h.runtime.submit(cancelGroup('cg-unknown', 'EXG_20250102_143000_zzzzzzzz'))).rejects.toBeInstanceOf(NotFoundError);
    await expect(h.runtime.submit(closePlan('cp-unknown', 'TPL_20250102_143000_zzzzzzzz', 'EXECUTE_TRADE'))).rejects.toBeInstanceOf(NotFoundError);
    await h.runtime.settled();
    expect([...(await dumpStore(h.runtime.strategyLedger.store)).entries()]).toEqual([...before.entries()]);
  });
});

describe('idempotency by directive_id', () => {
  it('submitted twice in sequence: executes once, returns the first outcome', async () => {
    const h = await openHarness();
    const first = await h.runtime.submit(newTrade('dup-seq', { orderType: 'LIMIT', limit: '100' }));
    await h.runtime.settled();
    const second = await h.runtime.submit(newTrade('dup-seq', { orderType: 'LIMIT', limit: '100' }));
    // even with a different body, the id decides
    const third = await h.runtime.submit(newTrade('dup-seq', { orderType: 'MARKET', size: '99' }));
    await h.runtime.settled();
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    const order = await h.runtime.ledger.order(first.order_ids[0]!);
    expect(h.exchange.allOrders()).toHaveLength(1);
    expect([...h.exchange.placementsByClientOrderId()]).toEqual([[order!.clientOrderId, 1]]);
    expect(await h.runtime.ledger.plansByStatus('PENDING')).toHaveLength(1);
  });

  it('submitted twice concurrently: executes once, both get the first outcome', async () => {
    const h = await openHarness();
    const [a, b] = await Promise.all([
      h.runtime.submit(newTrade('dup-conc', { orderType: 'LIMIT', limit: '100' })),
      h.runtime.submit(newTrade('dup-conc', { orderType: 'LIMIT', limit: '100' })),
    ]);
    await h.runtime.settled();
    expect(b).toEqual(a);
    expect(h.exchange.allOrders()).toHaveLength(1);
    expect([...h.exchange.placementsByClientOrderId().values()]).toEqual([1]);
    expect(h.events.filter((e) => e.type === 'TRADE_EXECUTED')).toHaveLength(1);
  });

  it('submitted again after close + reopen on the same dir: executes once, returns the first outcome', async () => {
    const h = await openHarness();
    const first = await h.runtime.submit(newTrade('dup-restart', { orderType: 'LIMIT', limit: '100' }));
    await h.runtime.settled();
    await h.runtime.close();

    const again = await h.reopen();
    const second = await again.submit(newTrade('dup-restart', { orderType: 'LIMIT', limit: '100' }));
    await again.settled();
    expect(second).toEqual(first);
    expect(h.exchange.allOrders()).toHaveLength(1);
    expect([...h.exchange.placementsByClientOrderId().values()]).toEqual([1]);
    expect(h.exchange.duplicateAttempts()).toBe(0);
    expect((await again.ledger.order(first.order_ids[0]!))?.status).toBe('OPEN');
  });
});
