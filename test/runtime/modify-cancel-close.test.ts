/**
 * MODIFY_EXISTING (MODIFY_ORDERS with and without exchange modify support, CANCEL_GROUP) and
 * CLOSE_EXISTING (CANCEL_ALL_IN_PLAN, EXECUTE_TRADE flattening long and short positions).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { bar, cancelGroup, cleanup, closePlan, flatBar, modifyOrders, newTrade, openHarness, type Harness } from './helpers.js';

afterEach(cleanup);

/** A resting LIMIT buy 10 @ 100 (a bar that does not reach it has passed). */
async function restingLimit(h: Harness, id = 'entry', limit = '100', size = '10') {
  const outcome = await h.runtime.submit(newTrade(id, { orderType: 'LIMIT', limit, size }));
  await h.runtime.settled();
  bar(h, { open: '102', high: '103', low: '101', close: '102' });
  await h.runtime.settled();
  const order = await h.runtime.ledger.order(outcome.order_ids[0]!);
  expect(order?.status).toBe('OPEN');
  return { outcome, orderId: outcome.order_ids[0]!, groupId: outcome.group_ids[0]!, planId: outcome.plan_id!, clientOrderId: order!.clientOrderId };
}

describe('MODIFY_EXISTING + MODIFY_ORDERS', () => {
  it('with exchange modify support: price and quantity change on the exchange, the ledger order shows them after MODIFIED', async () => {
    const h = await openHarness();
    const { orderId, groupId, clientOrderId } = await restingLimit(h);
    const outcome = await h.runtime.submit(modifyOrders('mod-1', groupId, { limit: '101.5', size: '12' }));
    expect(outcome).toMatchObject({ scope: 'MODIFY_EXISTING', action: 'MODIFY_ORDERS', order_ids: [], affected_order_ids: [orderId], group_ids: [groupId] });
    await h.runtime.settled();

    const onExchange = h.exchange.allOrders();
    expect(onExchange).toHaveLength(1);
    expect(onExchange[0]).toMatchObject({ clientOrderId, price: '101.5', quantity: '12', status: 'open' });
    const order = await h.runtime.ledger.order(orderId);
    expect(order).toMatchObject({ status: 'OPEN', price: '101.5', quantity: '12', pendingUpdate: null });
    const history = await h.runtime.ledger.history(orderId);
    const steps = history.map((r) => `${r.from}-${r.event.type}->${r.to}`);
    expect(steps).toContain('OPEN-MODIFY->PENDING_UPDATE');
    expect(steps).toContain('PENDING_UPDATE-MODIFIED->OPEN');
    expect(h.events.map((e) => e.type)).toEqual(['TRADE_EXECUTED', 'FLOW_STOPPED', 'TRADE_EXECUTED', 'FLOW_STOPPED']);

    // the new price is the one that trades: 101.5 is reached, 100 would not be
    bar(h, { open: '102', high: '102.5', low: '101', close: '101.8' });
    await h.runtime.settled();
    expect(await h.runtime.ledger.order(orderId)).toMatchObject({ status: 'FILLED', filledQuantity: '12', averageFillPrice: '101.5' });
    expect((await h.runtime.ledger.group(groupId))?.status).toBe('COMPLETED');
  });

  it('without modify support: cancel-replace in the same group with the new price and the remaining quantity; the group completes when the replacement fills', async () => {
    // participation 0.5 of a volume-8 bar: the first fill takes 4 of 10
    const h = await openHarness({ exchangeOptions: { modify: false, participation: '0.5' } });
    const { outcome: entry, orderId: oldId, groupId, planId } = await restingLimit(h);
    bar(h, { open: '101', high: '101.5', low: '99.5', close: '100.5', volume: '8' });
    await h.runtime.settled();
    expect(await h.runtime.ledger.order(oldId)).toMatchObject({ status: 'PARTIALLY_FILLED', filledQuantity: '4' });

    const outcome = await h.runtime.submit(modifyOrders('mod-cr', groupId, { limit: '102' }));
    expect(outcome.affected_order_ids).toEqual([oldId]);
    expect(outcome.order_ids).toHaveLength(1);
    const newId = outcome.order_ids[0]!;
    expect(newId).not.toBe(oldId);
    await h.runtime.settled();

    const old = await h.runtime.ledger.order(oldId);
    expect(old).toMatchObject({ status: 'CANCELED', filledQuantity: '4', price: '100' });
    const replacement = await h.runtime.ledger.order(newId);
    expect(replacement).toMatchObject({ status: 'OPEN', parentGroupId: groupId, parentPlanId: planId, price: '102', quantity: '6', side: 'BUY', orderType: 'LIMIT', role: 'ENTRY' });
    const ex = h.exchange.allOrders();
    expect(ex).toHaveLength(2);
    expect(ex[0]).toMatchObject({ clientOrderId: old!.clientOrderId, status: 'canceled', filled: '4' });
    expect(ex[1]).toMatchObject({ clientOrderId: replacement!.clientOrderId, status: 'open', price: '102', quantity: '6' });

    const group = await h.runtime.ledger.group(groupId);
    expect(group).toMatchObject({ status: 'ACTIVE', orderIds: [oldId, newId], openOrderIds: [newId], filledQuantity: '4' });
    expect((await h.runtime.ledger.history(groupId)).some((r) => r.event.type === 'ORDER_ADDED' && r.event.orderId === newId)).toBe(true);

    // the replacement fills (volume large enough for its 6)
    bar(h, { open: '103', high: '103.5', low: '101.5', close: '102', volume: '100' });
    await h.runtime.settled();
    expect(await h.runtime.ledger.order(newId)).toMatchObject({ status: 'FILLED', filledQuantity: '6', averageFillPrice: '102' });
    expect(await h.runtime.ledger.group(groupId)).toMatchObject({ status: 'COMPLETED', filledQuantity: '10', orderIds: [oldId, newId] });
    const position = await h.runtime.ledger.position(planId);
    // 4 @ 100 + 6 @ 102 = 1012; maker fees 0.2 + 0.306
    expect(position).toMatchObject({ status: 'ACTIVE', netQuantity: '10', costBasis: '1012', averageEntryPrice: '101.2', fees: '0.506' });
    expect(entry.plan_id).toBe(planId);
  });
});

describe('MODIFY_ORDERS: bugs', () => {
  // Regression (was a defect, fixed): the exchange's 'modified' reply only repeats what the modify effect already
  // applied, but actors/reply-router.ts drops repeats only for terminal orders; the order is
  // OPEN again, so the echo is refused and stored as a 'refused_event' anomaly on every
  // successful modify.
  it('a successful modify records no anomaly (the exchange\'s "modified" echo is a repeat, not a refused event)', async () => {
    const h = await openHarness();
    const { groupId } = await restingLimit(h);
    await h.runtime.submit(modifyOrders('mod-echo', groupId, { limit: '99' }));
    await h.runtime.settled();
    expect(h.exchange.allOrders()[0]?.price).toBe('99');
    expect(await h.runtime.strategyLedger.anomalies()).toEqual([]);
  });

  // Regression (was a defect, fixed): actors/worker.ts modifyOrders (cancel-replace) places the replacement in the same turn
  // as the cancel, sized from the ledger's view. If the old order already filled on the exchange
  // (its fill reply not yet processed), the cancel finds it filled, and the replacement stays
  // live: the group and the plan end up with twice the target.
  it('cancel-replace of an order that already filled on the exchange does not double the position', async () => {
    const h = await openHarness({ exchangeOptions: { modify: false } });
    const { orderId, groupId, planId } = await restingLimit(h);
    h.exchange.injectFault('drop_reply'); // the fill reply is lost (or still in flight)
    bar(h, { open: '101', high: '101.5', low: '99.5', close: '100.5' });
    await h.runtime.settled();
    expect((await h.runtime.ledger.order(orderId))?.status).toBe('OPEN');
    expect(h.exchange.allOrders()[0]?.status).toBe('filled');

    await h.runtime.submit(modifyOrders('mod-race', groupId, { limit: '102' }));
    await h.runtime.settled();
    expect((await h.runtime.ledger.order(orderId))?.status).toBe('FILLED');
    bar(h, { open: '101', high: '102.5', low: '101', close: '102' });
    await h.runtime.settled();

    const group = await h.runtime.ledger.group(groupId);
    expect(group?.filledQuantity).toBe('10'); // target 10
    expect((await h.runtime.ledger.position(planId))?.netQuantity).toBe('10');
    expect(await h.exchange.fetchPositions()).toEqual([{ symbol: 'AAPL', quantity: '10' }]);
  });
});

describe('cancel directives', () => {
  it('CANCEL_GROUP of an unfilled group: order canceled on the exchange, group CANCELLED, plan CANCELLED', async () => {
    const h = await openHarness();
    const { orderId, groupId, planId } = await restingLimit(h);
    const outcome = await h.runtime.submit(cancelGroup('cg-1', groupId));
    expect(outcome).toMatchObject({ action: 'CANCEL_GROUP', plan_id: planId, group_ids: [groupId], affected_order_ids: [orderId], order_ids: [] });
    await h.runtime.settled();
    expect(h.exchange.allOrders()[0]?.status).toBe('canceled');
    expect((await h.runtime.ledger.order(orderId))?.status).toBe('CANCELED');
    expect((await h.runtime.ledger.group(groupId))?.status).toBe('CANCELLED');
    expect(await h.runtime.ledger.plan(planId)).toMatchObject({ status: 'CANCELLED', exitReason: null });
  });

  it('CANCEL_GROUP of a partly filled group: group PARTIAL, plan stays ACTIVE with the filled position', async () => {
    const h = await openHarness({ exchangeOptions: { participation: '0.5' } });
    const { orderId, groupId, planId } = await restingLimit(h);
    bar(h, { open: '101', high: '101.5', low: '99.5', close: '100.5', volume: '6' });
    await h.runtime.settled();
    await h.runtime.submit(cancelGroup('cg-2', groupId));
    await h.runtime.settled();
    expect(h.exchange.allOrders()[0]).toMatchObject({ status: 'canceled', filled: '3' });
    expect(await h.runtime.ledger.order(orderId)).toMatchObject({ status: 'CANCELED', filledQuantity: '3' });
    expect(await h.runtime.ledger.group(groupId)).toMatchObject({ status: 'PARTIAL', filledQuantity: '3' });
    expect(await h.runtime.ledger.position(planId)).toMatchObject({ status: 'ACTIVE', netQuantity: '3' });
  });

  it('CANCEL_GROUP racing a fill the ledger has not heard of: the cancel finds the order filled and the ledger records the fill', async () => {
    const h = await openHarness();
    const { orderId, groupId, planId } = await restingLimit(h);
    h.exchange.injectFault('drop_reply');
    bar(h, { open: '101', high: '101.5', low: '99.5', close: '100.5' });
    await h.runtime.settled();
    expect((await h.runtime.ledger.order(orderId))?.status).toBe('OPEN');
    await h.runtime.submit(cancelGroup('cg-race', groupId));
    await h.runtime.settled();
    expect(await h.runtime.ledger.order(orderId)).toMatchObject({ status: 'FILLED', filledQuantity: '10' });
    expect((await h.runtime.ledger.group(groupId))?.status).toBe('COMPLETED');
    expect(await h.runtime.ledger.position(planId)).toMatchObject({ status: 'ACTIVE', netQuantity: '10' });
    expect(h.runtime.metrics()).toMatchObject({ openFlows: 0 });
  });

  it('CANCEL_ALL_IN_PLAN cancels every open order of every group of the plan; plan CANCELLED when nothing filled', async () => {
    const h = await openHarness();
    const { orderId, groupId, planId } = await restingLimit(h);
    // a second group in the same plan (platform code registering directly), and a third order left PENDING
    const second = await h.runtime.strategyLedger.registerOrder({ plan: { planId }, order: { side: 'BUY', orderType: 'LIMIT', quantity: '5', price: '95' } });
    const pending = await h.runtime.strategyLedger.registerOrder({ plan: { planId }, order: { side: 'BUY', orderType: 'LIMIT', quantity: '1', price: '90' }, submit: false });
    await h.runtime.settled();
    expect((await h.runtime.ledger.order(second.orderId))?.status).toBe('OPEN');
    expect(h.exchange.allOrders().filter((o) => o.status === 'open')).toHaveLength(2);

    const outcome = await h.runtime.submit(closePlan('cancel-all', planId, 'CANCEL_ALL_IN_PLAN'));
    expect(outcome).toMatchObject({ scope: 'CLOSE_EXISTING', action: 'CANCEL_ALL_IN_PLAN', plan_id: planId, stage: 'done' });
    expect([...outcome.affected_order_ids].sort()).toEqual([orderId, second.orderId, pending.orderId].sort());
    await h.runtime.settled();

    expect(h.exchange.allOrders().map((o) => o.status)).toEqual(['canceled', 'canceled']);
    for (const id of [orderId, second.orderId, pending.orderId]) expect((await h.runtime.ledger.order(id))?.status).toBe('CANCELED');
    for (const g of [groupId, second.groupId, pending.groupId]) expect((await h.runtime.ledger.group(g))?.status).toBe('CANCELLED');
    expect((await h.runtime.ledger.plan(planId))?.status).toBe('CANCELLED');
    expect(h.events.filter((e) => e.type === 'FLOW_STOPPED').at(-1)).toMatchObject({ flowId: 'cancel-all', finalState: 'SUCCESS' });
  });

  it('CANCEL_ALL_IN_PLAN with one group partly filled: that group PARTIAL, the other CANCELLED, plan ACTIVE', async () => {
    const h = await openHarness({ exchangeOptions: { participation: '0.5' } });
    const { groupId, planId } = await restingLimit(h);
    const other = await h.runtime.strategyLedger.registerOrder({ plan: { planId }, order: { side: 'BUY', orderType: 'LIMIT', quantity: '5', price: '90' } });
    await h.runtime.settled();
    bar(h, { open: '101', high: '101.5', low: '99.5', close: '100.5', volume: '4' });
    await h.runtime.settled();
    await h.runtime.submit(closePlan('cancel-all-2', planId, 'CANCEL_ALL_IN_PLAN'));
    await h.runtime.settled();
    expect(await h.runtime.ledger.group(groupId)).toMatchObject({ status: 'PARTIAL', filledQuantity: '2' });
    expect((await h.runtime.ledger.group(other.groupId))?.status).toBe('CANCELLED');
    expect(await h.runtime.ledger.position(planId)).toMatchObject({ status: 'ACTIVE', netQuantity: '2' });
    expect(h.exchange.allOrders().every((o) => o.status === 'canceled')).toBe(true);
  });
});

describe('CLOSE_EXISTING + EXECUTE_TRADE', () => {
  async function openPositionWithRestingOrder(h: Harness, direction: 'BUY' | 'SELL', entryPrice: string) {
    const entry = await h.runtime.submit(newTrade(`open-${direction}`, { direction, size: '10' }));
    await h.runtime.settled();
    flatBar(h, entryPrice);
    await h.runtime.settled();
    const planId = entry.plan_id!;
    expect(await h.runtime.ledger.position(planId)).toMatchObject({ netQuantity: direction === 'BUY' ? '10' : '-10' });
    // a working take-profit far away, in its own group of the same plan
    const tp = await h.runtime.strategyLedger.registerOrder({
      plan: { planId },
      order: {
        side: direction === 'BUY' ? 'SELL' : 'BUY',
        orderType: 'LIMIT',
        role: 'TAKE_PROFIT',
        quantity: '10',
        price: direction === 'BUY' ? '150' : '50',
      },
    });
    await h.runtime.settled();
    expect((await h.runtime.ledger.order(tp.orderId))?.status).toBe('OPEN');
    return { planId, entry, tp };
  }

  it('flattens the full position, including a fill of the working order that raced the cancel', async () => {
    const h = await openHarness();
    const { planId } = await openPositionWithRestingOrder(h, 'BUY', '100');
    // one more working entry in its own group: 5 @ 99, filled on the exchange with its reply lost
    const add = await h.runtime.strategyLedger.registerOrder({ plan: { planId }, order: { side: 'BUY', orderType: 'LIMIT', quantity: '5', price: '99' } });
    await h.runtime.settled();
    h.exchange.injectFault('drop_reply');
    bar(h, { open: '100', high: '100.5', low: '98.5', close: '99.5' });
    await h.runtime.settled();
    expect((await h.runtime.ledger.order(add.orderId))?.status).toBe('OPEN');

    await h.runtime.submit(closePlan('close-race', planId, 'EXECUTE_TRADE'));
    await h.runtime.settled();
    expect(await h.runtime.ledger.order(add.orderId)).toMatchObject({ status: 'FILLED', filledQuantity: '5' });
    const exit = h.exchange.allOrders().at(-1)!;
    expect(exit).toMatchObject({ side: 'SELL', orderType: 'MARKET', quantity: '15' });
    flatBar(h, '101');
    await h.runtime.settled();
    expect(await h.exchange.fetchPositions()).toEqual([]);
    const position = await h.runtime.ledger.position(planId);
    // 10 @ 100 + 5 @ 99 = 1495; sold 15 @ 101 = 1515
    expect(position).toMatchObject({ status: 'CLOSED', netQuantity: '0', realizedPnl: '20' });
    expect((await h.runtime.ledger.plan(planId))?.exitReason).toBe('CLOSED_BY_DIRECTIVE');
  });

  it('a plan with nothing filled: the close cancels its orders and the plan ends CANCELLED, no exit order', async () => {
    const h = await openHarness();
    const { orderId, planId } = await restingLimit(h);
    const outcome = await h.runtime.submit(closePlan('close-empty', planId, 'EXECUTE_TRADE'));
    await h.runtime.settled();
    expect((await h.runtime.ledger.order(orderId))?.status).toBe('CANCELED');
    expect((await h.runtime.ledger.plan(planId))?.status).toBe('CANCELLED');
    expect(h.exchange.allOrders()).toHaveLength(1);
    expect(await h.runtime.submit(closePlan('close-empty', planId, 'EXECUTE_TRADE'))).toMatchObject({ stage: 'done', order_ids: [] });
    expect(outcome.affected_order_ids).toEqual([orderId]);
    expect(h.events.filter((e) => e.type === 'FLOW_STOPPED').at(-1)).toMatchObject({ flowId: 'close-empty', finalState: 'SUCCESS' });
  });

  for (const c of [
    { direction: 'BUY' as const, entry: '100', exit: '110', side: 'SELL', realized: '100', fees: '2.1' },
    { direction: 'SELL' as const, entry: '200', exit: '190', side: 'BUY', realized: '100', fees: '3.9' },
  ]) {
    it(`${c.direction === 'BUY' ? 'long' : 'short'}: cancels the working order, then flattens with a MARKET ${c.side} (EXIT) on the next bar; plan CLOSED, CLOSED_BY_DIRECTIVE`, async () => {
      const h = await openHarness();
      const { planId, tp } = await openPositionWithRestingOrder(h, c.direction, c.entry);

      const outcome = await h.runtime.submit(closePlan(`close-${c.direction}`, planId, 'EXECUTE_TRADE'));
      expect(outcome).toMatchObject({ scope: 'CLOSE_EXISTING', action: 'EXECUTE_TRADE', plan_id: planId, affected_order_ids: [tp.orderId], stage: 'closing' });
      expect(outcome).not.toHaveProperty('directive');
      await h.runtime.settled();

      expect((await h.runtime.ledger.order(tp.orderId))?.status).toBe('CANCELED');
      const ex = h.exchange.allOrders();
      expect(ex).toHaveLength(3);
      expect(ex[1]).toMatchObject({ clientOrderId: tp.clientOrderId, status: 'canceled' });
      // the exit goes out only after the cancel is done
      expect(ex[2]).toMatchObject({ side: c.side, orderType: 'MARKET', quantity: '10', status: 'open' });
      const exit = (await h.runtime.ledger.groupsOfPlan(planId)).at(-1)!;
      const [exitOrder] = await h.runtime.ledger.ordersOfGroup(exit.groupId);
      expect(exitOrder).toMatchObject({ role: 'EXIT', side: c.side, orderType: 'MARKET', quantity: '10', status: 'OPEN', clientOrderId: ex[2]!.clientOrderId });
      expect(h.events.filter((e) => e.type === 'TRADE_EXECUTED').at(-1)).toMatchObject({ directiveId: `close-${c.direction}`, orderIds: expect.arrayContaining([exitOrder!.orderId, tp.orderId]) });

      // the stored outcome now says done, with the exit order
      const stored = await h.runtime.submit(closePlan(`close-${c.direction}`, planId, 'EXECUTE_TRADE'));
      expect(stored).toMatchObject({ stage: 'done', order_ids: [exitOrder!.orderId] });

      flatBar(h, c.exit);
      await h.runtime.settled();
      expect(await h.runtime.ledger.order(exitOrder!.orderId)).toMatchObject({ status: 'FILLED', averageFillPrice: c.exit });
      const plan = await h.runtime.ledger.plan(planId);
      expect(plan).toMatchObject({ status: 'CLOSED', exitReason: 'CLOSED_BY_DIRECTIVE', openGroupIds: [] });
      expect(plan?.closedAt).not.toBeNull();
      const position = await h.runtime.ledger.position(planId);
      // taker 10 bps on both legs
      expect(position).toMatchObject({ netQuantity: '0', realizedPnl: c.realized, fees: c.fees });
      expect(position?.realizedPnlNet).toBe(String(Number(c.realized) - Number(c.fees)));
      expect(await h.exchange.fetchPositions()).toEqual([]);
    });
  }
});
