import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StrategyLedger } from '../../actors/ledger.js';
import type { StoreOp } from '../../storage/store.js';
import { ValidationError } from '../../src/domain/errors.js';
import { integrityProblems, limitBuy, newPlanSpec, openLedger, readImage, removeDir, tempDir } from './helpers.js';

let dir: string;
const opened: StrategyLedger[] = [];

beforeEach(() => {
  dir = tempDir();
});

afterEach(async () => {
  for (const l of opened.splice(0)) if (l.store.isOpen) await l.close();
  removeDir(dir);
});

async function open(seed = 42) {
  const { ledger } = await openLedger(dir, { seed });
  opened.push(ledger);
  return ledger;
}

/** Records the ops of every batch the store writes. */
function recordWrites(ledger: StrategyLedger): StoreOp[][] {
  const writes: StoreOp[][] = [];
  const write = ledger.store.write.bind(ledger.store);
  ledger.store.write = (ops) => {
    writes.push([...ops]);
    return write(ops);
  };
  return writes;
}

describe('group commit', () => {
  it('commits many concurrent turns in far fewer batches, each actor log whole and gapless', async () => {
    const ledger = await open();
    const plans = [];
    for (let p = 0; p < 5; p++) plans.push(await ledger.registerOrder({ plan: newPlanSpec(`SYM${p}`), order: limitBuy('100', '10') }));
    const orders = [...plans];
    for (let i = 0; i < 15; i++) {
      orders.push(await ledger.registerOrder({ plan: { planId: plans[i % 5]!.planId }, order: limitBuy('100', '10') }));
    }
    expect(orders).toHaveLength(20);

    const writes = recordWrites(ledger);
    const batchesBefore = ledger.host.batches;
    const fills: Promise<string>[] = [];
    const added: Promise<{ orderId: string; groupId: string }>[] = [];
    const FILLS_PER_ORDER = 10;
    for (let k = 0; k < FILLS_PER_ORDER; k++) {
      for (const [i, o] of orders.entries()) {
        fills.push(ledger.applyToOrder(o.orderId, { type: 'FILL', tradeId: `${i}-${k}`, quantity: '1', price: String(10 + k) }));
      }
      // interleave registrations into the groups that are receiving fills
      added.push(ledger.registerOrder({ group: { groupId: orders[k]!.groupId }, order: limitBuy('1', '9'), submit: k % 2 === 0 }));
      added.push(ledger.registerOrder({ plan: { planId: plans[k % 5]!.planId }, order: limitBuy('2', '9') }));
    }
    const turns = fills.length + added.length;
    expect(turns).toBe(220);
    const outcomes = await Promise.all(fills);
    const registered = await Promise.all(added);
    expect(outcomes.every((o) => o === 'applied')).toBe(true);
    expect(registered).toHaveLength(20);

    const batches = ledger.host.batches - batchesBefore;
    expect(batches).toBeGreaterThan(0);
    expect(batches, `${batches} batches for ${turns} turns`).toBeLessThan(turns / 2);
    expect(writes).toHaveLength(batches);

    // one serialization per dirty actor per batch; several turns of one actor did share a batch
    let shared = 0;
    for (const ops of writes) {
      const liveKeys = ops.filter((op) => op.area === 'live' || op.area === 'archive').map((op) => `${op.area}!${op.key}`);
      expect(new Set(liveKeys).size).toBe(liveKeys.length);
      const logsPerActor = new Map<string, number>();
      for (const op of ops) if (op.area === 'log') logsPerActor.set(op.key.split('!')[0]!, (logsPerActor.get(op.key.split('!')[0]!) ?? 0) + 1);
      if ([...logsPerActor.values()].some((n) => n > 1)) shared++;
    }
    expect(shared).toBeGreaterThan(0);

    // every actor: one log record per transition, seq 0..n without gaps
    for (const [i, o] of orders.entries()) {
      const h = await ledger.history(o.orderId);
      expect(h.map((r) => r.seq)).toEqual([...Array(2 + FILLS_PER_ORDER).keys()]);
      expect(h.slice(2).map((r) => r.event.tradeId).sort()).toEqual([...Array(FILLS_PER_ORDER).keys()].map((k) => `${i}-${k}`).sort());
      const order = (await ledger.order(o.orderId))!;
      expect(order).toMatchObject({ status: 'PARTIALLY_FILLED', filledQuantity: String(FILLS_PER_ORDER) });
      expect(ledger.host.record(o.orderId)!.seq).toBe(h.length - 1);
    }
    for (const p of plans) {
      const plan = (await ledger.plan(p.planId))!;
      const h = await ledger.history(p.planId);
      expect(h.map((r) => r.seq)).toEqual([...Array(h.length).keys()]);
      expect(h.length).toBe(1 + plan.groupIds.length + 4 * FILLS_PER_ORDER);
      expect(plan.position.boughtQuantity).toBe(String(4 * FILLS_PER_ORDER));
    }
    for (const o of orders) {
      const group = (await ledger.group(o.groupId))!;
      const h = await ledger.history(o.groupId);
      expect(h.map((r) => r.seq)).toEqual([...Array(h.length).keys()]);
      expect(h.length).toBe(1 + group.orderIds.length + FILLS_PER_ORDER);
    }
    expect(integrityProblems(await readImage(ledger.store))).toEqual([]);

    // the last snapshot of every actor is what is on disk: reopen and compare
    const liveIds = ledger.host.liveIds().sort();
    const records = Object.fromEntries(liveIds.map((id) => [id, ledger.host.record(id)]));
    for (const id of liveIds) expect(JSON.parse((await ledger.store.getRaw('live', id))!), id).toEqual(JSON.parse(JSON.stringify(records[id])));
    await ledger.close();
    const again = await open(7);
    expect(again.corruptRecords).toEqual([]);
    expect(again.host.liveIds().sort()).toEqual(liveIds);
    for (const id of liveIds) expect(again.host.record(id), id).toEqual(records[id]);
  });

  it('an actor dirtied by many turns of one batch ends with its last snapshot on disk', async () => {
    const ledger = await open();
    const r = await ledger.registerOrder({ plan: newPlanSpec(), order: limitBuy('50', '10') });
    const writes = recordWrites(ledger);
    const batches = ledger.host.batches;
    const turns: Promise<unknown>[] = [ledger.applyToOrder(r.orderId, { type: 'ACCEPTED', connectorOrderId: 'x' })];
    for (let k = 0; k < 49; k++) turns.push(ledger.applyToOrder(r.orderId, { type: 'FILL', tradeId: `t${k}`, quantity: '1', price: '10' }));
    turns.push(ledger.applyToOrder(r.orderId, { type: 'MODIFY', quantity: '49.5' }));
    turns.push(ledger.applyToOrder(r.orderId, { type: 'MODIFIED' }));
    turns.push(ledger.applyToOrder(r.orderId, { type: 'FILL', tradeId: 'last', quantity: '0.5', price: '11' }));
    const outcomes = await Promise.all(turns);
    expect(outcomes.every((o) => o === 'applied'), JSON.stringify(outcomes)).toBe(true);
    expect(ledger.host.batches - batches).toBeLessThan(turns.length / 2);
    expect(writes.some((ops) => ops.filter((op) => op.area === 'log' && op.key.startsWith(r.orderId)).length > 1)).toBe(true);

    const order = (await ledger.order(r.orderId))!;
    expect(order).toMatchObject({ status: 'FILLED', filledQuantity: '49.5', quantity: '49.5' });
    const h = await ledger.history(r.orderId);
    expect(h.map((x) => x.seq)).toEqual([...Array(h.length).keys()]);
    expect(h.at(-1)!.to).toBe('FILLED');
    // terminal: the archive holds the final snapshot, nothing is left in live
    expect(await ledger.store.getRaw('live', r.orderId)).toBeUndefined();
    const archived = JSON.parse((await ledger.store.getRaw('archive', r.orderId))!) as { value: string; seq: number; context: { fillIds: string[] } };
    expect(archived.value).toBe('FILLED');
    expect(archived.seq).toBe(h.length - 1);
    expect(archived.context.fillIds).toHaveLength(50);
    await ledger.close();
    const again = await open(7);
    expect(again.host.record(r.orderId)).toBeUndefined();
    expect(await again.order(r.orderId)).toEqual(order);
    expect(await again.history(r.orderId)).toEqual(h);
    expect(integrityProblems(await readImage(again.store))).toEqual([]);
  });

  it('a bad input among concurrent turns fails alone', async () => {
    const ledger = await open();
    const r = await ledger.registerOrder({ plan: newPlanSpec(), order: limitBuy('10', '10') });
    const calls = [
      ledger.applyToOrder(r.orderId, { type: 'FILL', tradeId: 'a', quantity: '1', price: '10' }),
      ledger.applyToOrder(r.orderId, { type: 'FILL', tradeId: 'b', quantity: '-1', price: '10' }),
      ledger.registerOrder({ plan: { planId: r.planId }, order: { side: 'BUY', orderType: 'LIMIT', quantity: '1' } }),
      ledger.applyToOrder(r.orderId, { type: 'FILL', tradeId: 'c', quantity: '1', price: '10' }),
    ];
    const settled = await Promise.allSettled(calls);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    for (const s of settled) if (s.status === 'rejected') expect(s.reason).toBeInstanceOf(ValidationError);
    expect((await ledger.order(r.orderId))!.filledQuantity).toBe('2');
    expect(integrityProblems(await readImage(ledger.store))).toEqual([]);
  });
});
