import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { TradingRuntime } from '../../actors/runtime.js';
import { SimulatedExchange } from '../../src/connectors/simulated-exchange.js';
import { ManualClock } from '../../src/domain/clock.js';
import { seededIdSource } from '../../src/domain/ids.js';

// seeds/TRADING_MONITOR_COMPONENTS.md, "Complete Lifecycle Example: SWING Trade".
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tradestate-seed-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('AAPL: entry 10 @ 150.25, SL 145 / TP 160 placed, marks +7.50 / -15.00, SL fills 144.90, plan STOPPED_OUT at -53.50, TP cancelled', async () => {
  const clock = new ManualClock(Date.parse('2024-01-15T09:45:00Z'));
  const exchange = new SimulatedExchange(clock, { seed: 3 });
  const runtime = await TradingRuntime.open({ dataDir: dir, connector: exchange, clock, ids: seededIdSource(11) });
  const bar = (iso: string, open: string, high: string, low: string, close: string) => {
    clock.set(Date.parse(iso));
    exchange.onBar('AAPL', { at: clock.now(), open, high, low, close, volume: '1000000' });
  };
  try {
    const out = await runtime.submit({
      directive_id: 'decision-123',
      causality: { origin: { type: 'SCHEDULE', id: 'order-executor-0945', at: '2024-01-15T09:45:00.000Z' } },
      scope: 'NEW_TRADE',
      // planned entry 150.00; the market order fills at the next bar's open, 150.25
      entry_plan: { symbol: 'AAPL', direction: 'BUY', order_type: 'MARKET' },
      size_plan: { position_size: '10' },
      exit_plan: { stop_loss_price: '145.00', take_profit_price: '160.00' },
      execution_plan: { action: 'EXECUTE_TRADE' },
    });
    await runtime.settled();
    bar('2024-01-15T10:03:00Z', '150.25', '150.60', '150.10', '150.40');
    await runtime.settled();

    const planId = out.plan_id!;
    const groups = await runtime.ledger.groupsOfPlan(planId);
    const orders = (await Promise.all(groups.map((g) => runtime.ledger.ordersOfGroup(g.groupId)))).flat();
    const entry = orders.find((o) => o.role === 'ENTRY')!;
    const sl = orders.find((o) => o.role === 'STOP_LOSS')!;
    const tp = orders.find((o) => o.role === 'TAKE_PROFIT')!;
    expect(entry).toMatchObject({ status: 'FILLED', filledQuantity: '10', averageFillPrice: '150.25' });
    expect(sl).toMatchObject({ status: 'OPEN', side: 'SELL', orderType: 'STOP', stopPrice: '145.00', quantity: '10' });
    expect(tp).toMatchObject({ status: 'OPEN', side: 'SELL', orderType: 'LIMIT', price: '160.00', quantity: '10' });
    const onExchange = exchange.allOrders().filter((o) => o.status === 'open');
    expect(onExchange.map((o) => [o.clientOrderId, o.orderType]).sort()).toEqual([[sl.clientOrderId, 'STOP'], [tp.clientOrderId, 'LIMIT']].sort());

    // 10:15 mark at 151.00: +7.50
    bar('2024-01-15T10:15:00Z', '150.90', '151.20', '150.80', '151.00');
    await runtime.monitorPositions();
    let pos = await runtime.ledger.position(planId);
    expect(pos).toMatchObject({ netQuantity: '10', averageEntryPrice: '150.25', markPrice: '151', unrealizedPnl: '7.5', marketValue: '1510' });
    // 14:30 mark at 148.75: -15.00
    bar('2024-01-15T14:30:00Z', '149.00', '149.10', '148.70', '148.75');
    await runtime.monitorPositions();
    pos = await runtime.ledger.position(planId);
    expect(pos).toMatchObject({ markPrice: '148.75', unrealizedPnl: '-15', marketValue: '1487.5' });

    // Day 2, 14:43: gaps through the stop; it fills at 144.90
    bar('2024-01-16T14:43:00Z', '144.90', '145.20', '144.50', '144.80');
    await runtime.settled();
    const plan = await runtime.ledger.plan(planId);
    expect(plan).toMatchObject({ status: 'CLOSED', exitReason: 'STOPPED_OUT' });
    pos = await runtime.ledger.position(planId);
    expect(pos).toMatchObject({ netQuantity: '0', realizedPnl: '-53.5', fees: '0', realizedPnlNet: '-53.5' });
    expect(await runtime.ledger.order(sl.orderId)).toMatchObject({ status: 'FILLED', averageFillPrice: '144.9' });
    expect((await runtime.ledger.order(tp.orderId))?.status).toBe('CANCELED');
    expect(exchange.allOrders().find((o) => o.clientOrderId === tp.clientOrderId)?.status).toBe('canceled');
    expect(await exchange.fetchPositions()).toEqual([]);
  } finally {
    await runtime.close();
  }
});
