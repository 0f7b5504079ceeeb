import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StrategyLedger } from '../../actors/ledger.js';
import type { CommittedEffect } from '../../actors/host.js';
import type { StoreOp } from '../../storage/store.js';
import { NotFoundError, ValidationError } from '../../src/domain/errors.js';
import type { RegisterOrderRequest } from '../../src/domain/requests.js';
import { diffDumps, dumpStore, integrityProblems, limitBuy, newPlanSpec, openLedger, readImage, removeDir, tempDir } from './helpers.js';

let dir: string;
let ledger: StrategyLedger;

beforeEach(() => {
  dir = tempDir();
});

afterEach(async () => {
  if (ledger?.store.isOpen) await ledger.close();
  removeDir(dir);
});

describe('registerOrder', () => {
  it('creates plan, group and order bottom-up in one turn', async () => {
    ({ ledger } = await openLedger(dir));
    const batches = ledger.host.batches;
    const r = await ledger.registerOrder({ plan: newPlanSpec(), order: { ...limitBuy('10', '100'), clientOrderId: 'cli-1' } });
    expect(ledger.host.batches - batches).toBe(1);
    expect(r.createdPlan).toBe(true);
    expect(r.createdGroup).toBe(true);
    expect(r.clientOrderId).toBe('cli-1');
    expect(r.planId).toMatch(/^TPL_20250102_093000_/);
    expect(r.groupId).toMatch(/^EXG_/);
    expect(r.orderId).toMatch(/^ORD_/);

    const plan = (await ledger.plan(r.planId))!;
    const group = (await ledger.group(r.groupId))!;
    const order = (await ledger.order(r.orderId))!;
    expect(plan).toMatchObject({ status: 'PENDING', symbol: 'AAPL', direction: 'BUY', groupIds: [r.groupId], openGroupIds: [r.groupId] });
    expect(group).toMatchObject({ status: 'ACTIVE', parentPlanId: r.planId, orderIds: [r.orderId], openOrderIds: [r.orderId], targetQuantity: '10' });
    expect(order).toMatchObject({
      status: 'SUBMITTED',
      parentGroupId: r.groupId,
      parentPlanId: r.planId,
      clientOrderId: 'cli-1',
      symbol: 'AAPL',
      quantity: '10',
      price: '100',
      filledQuantity: '0',
    });
    // all three are on disk, in live, with their status index entries
    for (const id of [r.planId, r.groupId, r.orderId]) expect(await ledger.store.getRaw('live', id)).toBeDefined();
    expect(await ledger.idsByStatus('order', 'SUBMITTED')).toEqual([r.orderId]);
    expect(await ledger.idsByStatus('group', 'ACTIVE')).toEqual([r.groupId]);
    expect(await ledger.idsByStatus('plan', 'PENDING')).toEqual([r.planId]);
    expect(integrityProblems(await readImage(ledger.store))).toEqual([]);
  });

  it('writes the whole turn in one atomic batch', async () => {
    ({ ledger } = await openLedger(dir));
    const writes: StoreOp[][] = [];
    const write = ledger.store.write.bind(ledger.store);
    ledger.store.write = async (ops) => {
      writes.push([...ops]);
      return write(ops);
    };
    const r = await ledger.registerOrder({ plan: newPlanSpec(), order: limitBuy() });
    expect(writes).toHaveLength(1);
    const keys = writes[0]!.map((op) => `${op.type} ${op.area}!${op.key}`);
    for (const id of [r.planId, r.groupId, r.orderId]) {
      expect(keys).toContain(`put live!${id}`);
      expect(keys).toContain(`put log!${id}!0000000000`);
      expect(keys).toContain(`put log!${id}!0000000001`);
    }
    expect(keys.filter((k) => k.startsWith('put outbox!'))).toHaveLength(1);
  });

  it('reuses a given planId (new group) and a given groupId (same group)', async () => {
    ({ ledger } = await openLedger(dir));
    const a = await ledger.registerOrder({ plan: newPlanSpec(), order: limitBuy('10', '100') });
    const b = await ledger.registerOrder({ plan: { planId: a.planId }, order: limitBuy('5', '99') });
    expect(b).toMatchObject({ planId: a.planId, createdPlan: false, createdGroup: true });
    expect(b.groupId).not.toBe(a.groupId);
    const c = await ledger.registerOrder({ group: { groupId: b.groupId }, order: limitBuy('5', '98') });
    expect(c).toMatchObject({ planId: a.planId, groupId: b.groupId, createdPlan: false, createdGroup: false });
    const d = await ledger.registerOrder({ plan: { planId: a.planId }, group: { groupId: a.groupId }, order: limitBuy('1', '97') });
    expect(d).toMatchObject({ planId: a.planId, groupId: a.groupId, createdPlan: false, createdGroup: false });

    expect((await ledger.plan(a.planId))!.groupIds).toEqual([a.groupId, b.groupId]);
    expect((await ledger.group(b.groupId))!.orderIds).toEqual([b.orderId, c.orderId]);
    expect((await ledger.group(a.groupId))!.orderIds).toEqual([a.orderId, d.orderId]);
    expect((await ledger.order(c.orderId))!.parentPlanId).toBe(a.planId);
    expect(await ledger.idsByStatus('plan', 'PENDING')).toEqual([a.planId]);
    expect(ledger.host.liveCount).toBe(1 + 2 + 4);
    expect(integrityProblems(await readImage(ledger.store))).toEqual([]);
  });

  it('leaves the order PENDING with no placement when submit is false', async () => {
    ({ ledger } = await openLedger(dir));
    const r = await ledger.registerOrder({ plan: newPlanSpec(), order: limitBuy(), submit: false });
    expect((await ledger.order(r.orderId))!.status).toBe('PENDING');
    expect(await ledger.outbox()).toEqual([]);
  });
});

describe('effects and the outbox', () => {
  it('hands the placement to onEffects only after the batch holding it is on disk', async () => {
    const log: string[] = [];
    const checks: Promise<{ outbox: string | undefined; live: string | undefined; effect: CommittedEffect }>[] = [];
    const seen: CommittedEffect[] = [];
    ({ ledger } = await openLedger(dir, {
      onEffects: (effects) => {
        log.push('onEffects');
        for (const e of effects) {
          seen.push(e);
          checks.push(
            (async () => ({
              outbox: await ledger.store.getRaw('outbox', e.effectId),
              live: await ledger.store.getRaw('live', e.effect.orderId),
              effect: e,
            }))(),
          );
        }
      },
    }));
    const write = ledger.store.write.bind(ledger.store);
    ledger.store.write = async (ops) => {
      log.push(`write-start ${ops.some((o) => o.area === 'outbox' && o.type === 'put') ? 'with-outbox' : 'no-outbox'}`);
      await write(ops);
      log.push('write-done');
    };

    const pending = ledger.registerOrder({ plan: newPlanSpec(), order: { ...limitBuy(), clientOrderId: 'place-me' } });
    // nothing is handed out while the turn is being written
    expect(seen).toEqual([]);
    const r = await pending;
    expect(log).toEqual(['write-start with-outbox', 'write-done', 'onEffects']);
    expect(seen).toHaveLength(1);
    const [check] = await Promise.all(checks);
    expect(check!.outbox).toBeDefined();
    expect(JSON.parse(check!.outbox!)).toEqual(JSON.parse(JSON.stringify(check!.effect)));
    expect(check!.live).toBeDefined();
    expect(JSON.parse(check!.live!)).toMatchObject({ kind: 'order', value: 'SUBMITTED', context: { orderId: r.orderId } });
    expect(check!.effect.effect).toMatchObject({
      kind: 'placeOrder',
      orderId: r.orderId,
      clientOrderId: 'place-me',
      symbol: 'AAPL',
      side: 'BUY',
      orderType: 'LIMIT',
      quantity: '10',
      price: '100',
    });
    expect(await ledger.outbox()).toEqual([check!.effect]);
  });

  it('deletes the outbox entry when applyToOrder settles its effectId', async () => {
    const seen: CommittedEffect[] = [];
    ({ ledger } = await openLedger(dir, { onEffects: (e) => seen.push(...e) }));
    const r = await ledger.registerOrder({ plan: newPlanSpec(), order: limitBuy() });
    const other = await ledger.registerOrder({ plan: newPlanSpec('MSFT'), order: limitBuy() });
    expect(seen).toHaveLength(2);
    const effectId = seen[0]!.effectId;
    expect(await ledger.store.getRaw('outbox', effectId)).toBeDefined();

    expect(await ledger.applyToOrder(r.orderId, { type: 'ACCEPTED', connectorOrderId: 'x-1' }, effectId)).toBe('applied');
    expect(await ledger.store.getRaw('outbox', effectId)).toBeUndefined();
    expect((await ledger.outbox()).map((e) => e.effect.orderId)).toEqual([other.orderId]);
    expect((await ledger.order(r.orderId))!).toMatchObject({ status: 'OPEN', connectorOrderId: 'x-1' });

    // a cancel is an effect too, and is settled by the CANCELED reply
    await ledger.applyToOrder(r.orderId, { type: 'CANCEL', reason: 'test' });
    expect(seen).toHaveLength(3);
    expect(seen[2]!.effect).toMatchObject({ kind: 'cancelOrder', orderId: r.orderId, connectorOrderId: 'x-1' });
    await ledger.applyToOrder(r.orderId, { type: 'CANCELED' }, seen[2]!.effectId);
    expect((await ledger.outbox()).map((e) => e.effect.orderId)).toEqual([other.orderId]);
  });
});

describe('views', () => {
  async function scenario() {
    ({ ledger } = await openLedger(dir));
    const a = await ledger.registerOrder({ plan: newPlanSpec(), order: limitBuy('10', '100') });
    const b = await ledger.registerOrder({ group: { groupId: a.groupId }, order: limitBuy('5', '99'), submit: false });
    await ledger.applyToOrder(a.orderId, { type: 'ACCEPTED', connectorOrderId: 'x-a' });
    await ledger.applyToOrder(a.orderId, { type: 'FILL', tradeId: 't1', quantity: '4', price: '100', fee: '0.1' });
    await ledger.applyToOrder(a.orderId, { type: 'FILL', tradeId: 't2', quantity: '6', price: '101', fee: '0.2' });
    return { a, b };
  }

  it('plansByStatus, groupsOfPlan, ordersOfGroup, fillsOfOrder, position', async () => {
    const { a, b } = await scenario();
    expect((await ledger.plansByStatus('ACTIVE')).map((p) => p.planId)).toEqual([a.planId]);
    expect(await ledger.plansByStatus('PENDING')).toEqual([]);
    const other = await ledger.registerOrder({ plan: newPlanSpec('MSFT'), order: limitBuy() });
    expect((await ledger.plansByStatus('PENDING')).map((p) => p.planId)).toEqual([other.planId]);

    const groups = await ledger.groupsOfPlan(a.planId);
    expect(groups.map((g) => [g.groupId, g.status, g.filledQuantity])).toEqual([[a.groupId, 'ACTIVE', '10']]);
    const orders = await ledger.ordersOfGroup(a.groupId);
    expect(orders.map((o) => [o.orderId, o.status])).toEqual([
      [a.orderId, 'FILLED'],
      [b.orderId, 'PENDING'],
    ]);
    expect(orders[0]).toMatchObject({ filledQuantity: '10', averageFillPrice: '100.6', fees: '0.3', tradeIds: ['t1', 't2'] });

    const fills = await ledger.fillsOfOrder(a.orderId);
    expect(fills.map((f) => [f.tradeId, f.quantity, f.price, f.fee, f.side, f.parentGroupId, f.parentPlanId])).toEqual([
      ['t1', '4', '100', '0.1', 'BUY', a.groupId, a.planId],
      ['t2', '6', '101', '0.2', 'BUY', a.groupId, a.planId],
    ]);
    expect(fills.map((f) => f.fillId)).toEqual((await ledger.order(a.orderId))!.fillIds);
    expect(await ledger.fillsOfOrder(b.orderId)).toEqual([]);

    expect(await ledger.position(a.planId)).toMatchObject({
      planId: a.planId,
      symbol: 'AAPL',
      status: 'ACTIVE',
      netQuantity: '10',
      averageEntryPrice: '100.6',
      realizedPnl: '0',
      fees: '0.3',
      boughtQuantity: '10',
      soldQuantity: '0',
      realizedPnlNet: '-0.3',
    });

    // unknown ids: empty views, not errors
    expect(await ledger.plan('TPL_20250102_093000_zzzzzzzz')).toBeUndefined();
    expect(await ledger.groupsOfPlan('TPL_20250102_093000_zzzzzzzz')).toEqual([]);
    expect(await ledger.ordersOfGroup('EXG_20250102_093000_zzzzzzzz')).toEqual([]);
    expect(await ledger.fillsOfOrder('ORD_20250102_093000_zzzzzzzz')).toEqual([]);
    expect(await ledger.position('TPL_20250102_093000_zzzzzzzz')).toBeUndefined();
    // a view of the wrong kind is undefined
    expect(await ledger.order(a.groupId)).toBeUndefined();
    expect(await ledger.group(a.orderId)).toBeUndefined();
  });

  it('terminal actors are passivated but still readable from the archive', async () => {
    const { a } = await scenario();
    expect(ledger.host.record(a.orderId)).toBeUndefined();
    expect(await ledger.store.getRaw('live', a.orderId)).toBeUndefined();
    expect(await ledger.store.getRaw('archive', a.orderId)).toBeDefined();
    expect((await ledger.order(a.orderId))!.status).toBe('FILLED');
    expect(await ledger.idsByStatus('order', 'FILLED')).toEqual([a.orderId]);
    expect(await ledger.idsByStatus('order', 'SUBMITTED')).toEqual([]);
  });

  it('history has one record per transition, seq 0..n, chained from -> to', async () => {
    const { a, b } = await scenario();
    const h = await ledger.history(a.orderId);
    expect(h.map((r) => [r.seq, r.event.type, r.from, r.to])).toEqual([
      [0, 'xstate.init', null, 'PENDING'],
      [1, 'SUBMIT', 'PENDING', 'SUBMITTED'],
      [2, 'ACCEPTED', 'SUBMITTED', 'OPEN'],
      [3, 'FILL', 'OPEN', 'PARTIALLY_FILLED'],
      [4, 'FILL', 'PARTIALLY_FILLED', 'FILLED'],
    ]);
    for (const r of h) expect(r.at).toBe('2025-01-02T09:30:00.000Z');
    expect(h[3]!.event).toMatchObject({ tradeId: 't1', quantity: '4' });

    const g = await ledger.history(a.groupId);
    expect(g.map((r) => [r.seq, r.event.type, r.from, r.to])).toEqual([
      [0, 'xstate.init', null, 'PENDING'],
      [1, 'ORDER_ADDED', 'PENDING', 'ACTIVE'],
      [2, 'ORDER_ADDED', 'ACTIVE', 'ACTIVE'],
      [3, 'ORDER_FILLED', 'ACTIVE', 'ACTIVE'],
      [4, 'ORDER_FILLED', 'ACTIVE', 'ACTIVE'],
      [5, 'ORDER_CLOSED', 'ACTIVE', 'ACTIVE'],
    ]);
    const p = await ledger.history(a.planId);
    expect(p.map((r) => [r.seq, r.event.type, r.from, r.to])).toEqual([
      [0, 'xstate.init', null, 'PENDING'],
      [1, 'GROUP_ADDED', 'PENDING', 'PENDING'],
      [2, 'FILLED', 'PENDING', 'ACTIVE'],
      [3, 'FILLED', 'ACTIVE', 'ACTIVE'],
    ]);
    expect((await ledger.history(b.orderId)).map((r) => r.seq)).toEqual([0]);
    // the live record's seq is the last log seq
    expect(ledger.host.record(a.groupId)!.seq).toBe(5);
    expect(ledger.host.record(a.planId)!.seq).toBe(3);
    // ids share prefixes: one actor's history never includes another's
    expect(await ledger.history('ORD_')).toEqual([]);
  });

  it('views return deeply frozen objects', async () => {
    const { a } = await scenario();
    const plan = (await ledger.plan(a.planId))!;
    const group = (await ledger.group(a.groupId))!;
    const order = (await ledger.order(a.orderId))!;
    const fills = await ledger.fillsOfOrder(a.orderId);
    const hist = await ledger.history(a.orderId);
    const byStatus = await ledger.plansByStatus('ACTIVE');
    const groups = await ledger.groupsOfPlan(a.planId);
    const orders = await ledger.ordersOfGroup(a.groupId);

    const mutations: (() => void)[] = [
      () => ((plan as { status: string }).status = 'CLOSED'),
      () => ((plan.position as { netQuantity: string }).netQuantity = '0'),
      () => (plan.groupIds as string[]).push('EXG_x'),
      () => ((group as { filledQuantity: string }).filledQuantity = '0'),
      () => (group.openOrderIds as string[]).pop(),
      () => ((order as { quantity: string }).quantity = '1'),
      () => (order.fillIds as string[]).splice(0, 1),
      () => ((fills[0] as { quantity: string }).quantity = '1000'),
      () => ((hist as unknown[]).length = 0),
      () => ((hist[0] as { seq: number }).seq = 7),
      () => ((hist[0]!.event as { type: string }).type = 'X'),
      () => ((byStatus[0] as { status: string }).status = 'CLOSED'),
      () => ((groups[0] as { status: string }).status = 'FAILED'),
      () => ((orders[1] as { status: string }).status = 'FILLED'),
      () => delete (order as { price?: string }).price,
    ];
    for (const m of mutations) expect(m).toThrow(TypeError);

    // the ledger is unchanged, in memory and on disk
    expect((await ledger.plan(a.planId))!).toMatchObject({ status: 'ACTIVE', groupIds: [a.groupId], position: { netQuantity: '10' } });
    expect((await ledger.group(a.groupId))!.openOrderIds).toHaveLength(1);
    expect((await ledger.order(a.orderId))!.fillIds).toHaveLength(2);
    expect((await ledger.history(a.orderId))[0]!.seq).toBe(0);
    // and still works: the next fill of the other order goes through the frozen-and-shared context
    const b = (await ledger.ordersOfGroup(a.groupId))[1]!;
    await ledger.applyToOrder(b.orderId, { type: 'SUBMIT' });
    expect(await ledger.applyToOrder(b.orderId, { type: 'FILL', tradeId: 't3', quantity: '5', price: '99' })).toBe('applied');
    expect((await ledger.plan(a.planId))!.position.netQuantity).toBe('15');

    // position() is a fresh value: changing it does not reach the ledger
    const pos = (await ledger.position(a.planId))!;
    try {
      (pos as { netQuantity: string }).netQuantity = '0';
    } catch {
      // frozen is fine too
    }
    expect((await ledger.position(a.planId))!.netQuantity).toBe('15');
  });
});

describe('refused and unknown events', () => {
  it('a refused event returns refused, stores a refused_event anomaly and changes nothing else', async () => {
    ({ ledger } = await openLedger(dir));
    const r = await ledger.registerOrder({ plan: newPlanSpec(), order: limitBuy(), submit: false });
    const before = await dumpStore(ledger.store);
    const recordBefore = ledger.host.record(r.orderId);

    // an order that was never submitted cannot be filled
    expect(await ledger.applyToOrder(r.orderId, { type: 'FILL', tradeId: 't1', quantity: '1', price: '100' })).toBe('refused');
    const after = await dumpStore(ledger.store);
    const diff = diffDumps(before, after);
    expect(diff.removed).toEqual([]);
    const added = diff.added.filter((k) => k !== 'meta!seq');
    expect(added).toHaveLength(1);
    expect(added[0]).toMatch(/^anomaly!/);
    expect(diff.changed.filter((k) => k !== 'meta!seq')).toEqual([]);
    expect(ledger.host.record(r.orderId)).toEqual(recordBefore);

    const anomalies = await ledger.anomalies();
    expect(anomalies).toHaveLength(1);
    expect(anomalies[0]).toMatchObject({ kind: 'refused_event', actorId: r.orderId, event: { type: 'FILL', tradeId: 't1' } });
    expect(anomalies[0]!.detail).toContain('PENDING');
    expect(await ledger.fillsOfOrder(r.orderId)).toEqual([]);
    expect((await ledger.history(r.orderId)).map((h) => h.seq)).toEqual([0]);

    // a group event it does not accept
    expect(await ledger.applyToGroup(r.groupId, { type: 'FAIL', reason: 'x' })).toBe('refused');
    expect((await ledger.anomalies()).map((a) => [a.kind, a.actorId])).toEqual([
      ['refused_event', r.orderId],
      ['refused_event', r.groupId],
    ]);
    expect((await ledger.group(r.groupId))!.status).toBe('ACTIVE');
  });

  it('a duplicate fill changes nothing but is recorded', async () => {
    ({ ledger } = await openLedger(dir));
    const r = await ledger.registerOrder({ plan: newPlanSpec(), order: limitBuy() });
    await ledger.applyToOrder(r.orderId, { type: 'FILL', tradeId: 't1', quantity: '2', price: '100' });
    const before = await dumpStore(ledger.store);
    expect(await ledger.applyToOrder(r.orderId, { type: 'FILL', tradeId: 't1', quantity: '2', price: '100' })).toBe('unchanged');
    const diff = diffDumps(before, await dumpStore(ledger.store));
    expect(diff.added.filter((k) => k !== 'meta!seq').map((k) => k.split('!')[0])).toEqual(['anomaly']);
    expect(diff.changed.filter((k) => k !== 'meta!seq')).toEqual([]);
    expect((await ledger.anomalies())[0]).toMatchObject({ kind: 'duplicate_fill', actorId: r.orderId });
    expect((await ledger.order(r.orderId))!.filledQuantity).toBe('2');
  });

  it('an event for an unknown id is an anomaly, not an error', async () => {
    ({ ledger } = await openLedger(dir));
    const r = await ledger.registerOrder({ plan: newPlanSpec(), order: limitBuy() });
    const before = await dumpStore(ledger.store);
    const ghost = 'ORD_20250102_093000_zzzzzzzz';
    expect(await ledger.applyToOrder(ghost, { type: 'ACCEPTED', connectorOrderId: 'x' })).toBe('refused');
    expect(await ledger.applyToGroup('EXG_20250102_093000_zzzzzzzz', { type: 'CANCEL' })).toBe('refused');
    const anomalies = await ledger.anomalies();
    expect(anomalies.map((a) => a.actorId)).toEqual([ghost, 'EXG_20250102_093000_zzzzzzzz']);
    for (const a of anomalies) expect(['refused_event', 'unknown_actor']).toContain(a.kind);
    expect(anomalies[0]!.event).toMatchObject({ type: 'ACCEPTED' });
    const diff = diffDumps(before, await dumpStore(ledger.store));
    expect(diff.removed).toEqual([]);
    expect(diff.added.filter((k) => k !== 'meta!seq').every((k) => k.startsWith('anomaly!'))).toBe(true);
    expect(diff.changed.filter((k) => k !== 'meta!seq')).toEqual([]);
    expect(await ledger.order(ghost)).toBeUndefined();
    expect((await ledger.order(r.orderId))!.status).toBe('SUBMITTED');
  });
});

describe('clientOrderId', () => {
  it('names one order forever: a second order with the same clientOrderId is refused and nothing is written', async () => {
    ({ ledger } = await openLedger(dir));
    const first = await ledger.registerOrder({ plan: newPlanSpec(), order: { ...limitBuy(), clientOrderId: 'my-id-1' } });
    await ledger.applyToOrder(first.orderId, { type: 'CANCEL' }); // ended orders keep their id too
    const before = await dumpStore(ledger.store);
    const again = ledger.registerOrder({ plan: newPlanSpec(), order: { ...limitBuy(), clientOrderId: 'my-id-1' } });
    await expect(again).rejects.toBeInstanceOf(ValidationError);
    await expect(again).rejects.toMatchObject({ violations: [{ field: 'order.clientOrderId', rule: expect.stringMatching(/already used/) }] });
    expect(diffDumps(before, await dumpStore(ledger.store))).toEqual({ added: [], removed: [], changed: [] });
    expect(await ledger.orderIdForClientOrderId('my-id-1')).toBe(first.orderId);
  });

  it('two concurrent registrations with one clientOrderId: exactly one wins', async () => {
    ({ ledger } = await openLedger(dir));
    const results = await Promise.allSettled([
      ledger.registerOrder({ plan: newPlanSpec(), order: { ...limitBuy(), clientOrderId: 'same' } }),
      ledger.registerOrder({ plan: newPlanSpec(), order: { ...limitBuy(), clientOrderId: 'same' } }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(integrityProblems(await readImage(ledger.store))).toEqual([]);
  });
});

describe('bad input', () => {
  const plan = newPlanSpec();
  const cases: [string, unknown, string, RegExp][] = [
    ['LIMIT without price', { plan, order: { side: 'BUY', orderType: 'LIMIT', quantity: '1' } }, 'order.price', /required/],
    ['negative quantity', { plan, order: { side: 'BUY', orderType: 'MARKET', quantity: '-3' } }, 'order.quantity', /greater than 0/],
    ['zero quantity', { plan, order: { side: 'BUY', orderType: 'MARKET', quantity: '0' } }, 'order.quantity', /greater than 0/],
    ['float quantity', { plan, order: { side: 'BUY', orderType: 'MARKET', quantity: 1.5 } }, 'order.quantity', /decimal string/],
    ['MARKET with a price', { plan, order: { side: 'BUY', orderType: 'MARKET', quantity: '1', price: '5' } }, 'order.price', /omitted/],
    ['STOP without stopPrice', { plan, order: { side: 'SELL', orderType: 'STOP', quantity: '1' } }, 'order.stopPrice', /required/],
    ['bad direction', { plan: { ...plan, direction: 'UP' }, order: { side: 'BUY', orderType: 'MARKET', quantity: '1' } }, 'plan.direction', /BUY/],
    ['bad side', { plan, order: { side: 'LONG', orderType: 'MARKET', quantity: '1' } }, 'order.side', /BUY/],
    ['empty symbol', { plan: { ...plan, symbol: '' }, order: { side: 'BUY', orderType: 'MARKET', quantity: '1' } }, 'plan.symbol', /empty/],
    ['missing plan', { order: { side: 'BUY', orderType: 'MARKET', quantity: '1' } }, 'plan', /required/],
    ['malformed planId', { plan: { planId: 'TPL_1' }, order: { side: 'BUY', orderType: 'MARKET', quantity: '1' } }, 'plan.planId', /TPL_/],
    ['bad clientOrderId', { plan, order: { side: 'BUY', orderType: 'MARKET', quantity: '1', clientOrderId: 'a b' } }, 'order.clientOrderId', /letters/],
  ];

  it.each(cases)('%s -> ValidationError naming the field, nothing written', async (_name, request, field, rule) => {
    ({ ledger } = await openLedger(dir));
    await ledger.registerOrder({ plan: newPlanSpec('MSFT'), order: limitBuy() });
    const before = await dumpStore(ledger.store);
    const live = ledger.host.liveCount;
    const batches = ledger.host.batches;

    const error = await ledger.registerOrder(request as RegisterOrderRequest).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    const violations = (error as ValidationError).violations;
    const hit = violations.find((v) => v.field === field);
    expect(hit, JSON.stringify(violations)).toBeDefined();
    expect(hit!.rule).toMatch(rule);
    expect((error as Error).message).toContain(field);

    expect(diffDumps(before, await dumpStore(ledger.store))).toEqual({ added: [], removed: [], changed: [] });
    expect(ledger.host.liveCount).toBe(live);
    expect(ledger.host.batches).toBe(batches);
  });

  it('names every violated field at once', async () => {
    ({ ledger } = await openLedger(dir));
    const error = (await ledger
      .registerOrder({ plan, order: { side: 'BUY', orderType: 'LIMIT', quantity: '-1' } })
      .catch((e: unknown) => e)) as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.violations.map((v) => v.field).sort()).toEqual(['order.price', 'order.quantity']);
  });

  it('a bad order event is a ValidationError and writes nothing', async () => {
    ({ ledger } = await openLedger(dir));
    const r = await ledger.registerOrder({ plan, order: limitBuy() });
    const before = await dumpStore(ledger.store);
    const error = (await ledger
      .applyToOrder(r.orderId, { type: 'FILL', tradeId: 't', quantity: '-1', price: '100' })
      .catch((e: unknown) => e)) as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.violations.map((v) => v.field)).toContain('quantity');
    expect(diffDumps(before, await dumpStore(ledger.store))).toEqual({ added: [], removed: [], changed: [] });
  });

  async function expectNotFound(request: RegisterOrderRequest, id: string) {
    const before = await dumpStore(ledger.store);
    const live = ledger.host.liveCount;
    const error = await ledger.registerOrder(request).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).id).toBe(id);
    expect(diffDumps(before, await dumpStore(ledger.store))).toEqual({ added: [], removed: [], changed: [] });
    expect(ledger.host.liveCount).toBe(live);
  }

  it('an unknown planId or groupId -> NotFoundError, nothing written', async () => {
    ({ ledger } = await openLedger(dir));
    await ledger.registerOrder({ plan, order: limitBuy() });
    await expectNotFound({ plan: { planId: 'TPL_20250102_093000_zzzzzzzz' }, order: limitBuy() }, 'TPL_20250102_093000_zzzzzzzz');
    await expectNotFound({ group: { groupId: 'EXG_20250102_093000_zzzzzzzz' }, order: limitBuy() }, 'EXG_20250102_093000_zzzzzzzz');
  });

  it('a closed planId or groupId -> NotFoundError, nothing written', async () => {
    ({ ledger } = await openLedger(dir));
    const r = await ledger.registerOrder({ plan, order: limitBuy(), submit: false });
    expect(await ledger.applyToOrder(r.orderId, { type: 'CANCEL', reason: 'no longer wanted' })).toBe('applied');
    expect((await ledger.plan(r.planId))!.status).toBe('CANCELLED');
    expect((await ledger.group(r.groupId))!.status).toBe('CANCELLED');
    expect(ledger.host.liveCount).toBe(0);
    await expectNotFound({ plan: { planId: r.planId }, order: limitBuy() }, r.planId);
    await expectNotFound({ group: { groupId: r.groupId }, order: limitBuy() }, r.groupId);
  });

  it('a plan that ends while registerOrder is in progress is not given a new group (race)', async () => {
    ({ ledger } = await openLedger(dir));
    const r = await ledger.registerOrder({ plan, order: limitBuy(), submit: false });
    // registerOrder checks the plan is open, then awaits id allocation; the cancel's turn runs meanwhile
    const late = ledger.registerOrder({ plan: { planId: r.planId }, order: limitBuy() }).then(
      (v) => v,
      (e: unknown) => e,
    );
    expect(await ledger.applyToOrder(r.orderId, { type: 'CANCEL', reason: 'gone' })).toBe('applied');
    const outcome = await late;
    const ended = (await ledger.plan(r.planId))!;
    expect(ended.status).toBe('CANCELLED');
    if (outcome instanceof Error) {
      expect(outcome).toBeInstanceOf(NotFoundError);
    } else {
      // if it was accepted, its group must belong to the plan like any other
      expect(ended.groupIds).toContain((outcome as { groupId: string }).groupId);
    }
    expect(integrityProblems(await readImage(ledger.store))).toEqual([]);
    expect(await ledger.outbox()).toEqual([]);
  });
});
