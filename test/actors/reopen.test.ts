import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Level } from 'level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StrategyLedger } from '../../actors/ledger.js';
import type { CommittedEffect } from '../../actors/host.js';
import { CorruptRecordError, DataDirInUseError } from '../../storage/errors.js';
import { ManualClock } from '../../src/domain/clock.js';
import { integrityProblems, limitBuy, newPlanSpec, openLedger, readImage, removeDir, T0, tempDir } from './helpers.js';

const CHILD = fileURLToPath(new URL('./open-dir-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let dir: string;
const opened: StrategyLedger[] = [];

async function open(seed = 42, onEffects?: (e: readonly CommittedEffect[]) => void) {
  const { ledger, clock } = await openLedger(dir, { seed, clock: new ManualClock(T0), ...(onEffects ? { onEffects } : {}) });
  opened.push(ledger);
  return { ledger, clock };
}

beforeEach(() => {
  dir = tempDir();
});

afterEach(async () => {
  for (const l of opened.splice(0)) if (l.store.isOpen) await l.close();
  removeDir(dir);
});

/** Builds actors in most statuses; returns the ids by role. */
async function populate(ledger: StrategyLedger, clock: ManualClock) {
  const step = () => clock.advance(1000);
  const pending = await ledger.registerOrder({ plan: newPlanSpec('AAA'), order: limitBuy('10', '10'), submit: false });
  step();
  const submitted = await ledger.registerOrder({ plan: newPlanSpec('BBB'), order: limitBuy('10', '10') });
  step();
  const working = await ledger.registerOrder({ plan: { planId: submitted.planId }, order: limitBuy('3', '9') });
  await ledger.applyToOrder(working.orderId, { type: 'ACCEPTED', connectorOrderId: 'x-open' });
  step();
  const partial = await ledger.registerOrder({ group: { groupId: working.groupId }, order: limitBuy('8', '9.5') });
  await ledger.applyToOrder(partial.orderId, { type: 'ACCEPTED', connectorOrderId: 'x-partial' });
  await ledger.applyToOrder(partial.orderId, { type: 'FILL', tradeId: 'p1', quantity: '2.5', price: '9.5', fee: '0.01' });
  step();
  const pendingCancel = await ledger.registerOrder({ plan: newPlanSpec('CCC'), order: limitBuy('1', '1') });
  await ledger.applyToOrder(pendingCancel.orderId, { type: 'ACCEPTED', connectorOrderId: 'x-pc' });
  await ledger.applyToOrder(pendingCancel.orderId, { type: 'CANCEL', reason: 'test' });
  step();
  const pendingUpdate = await ledger.registerOrder({ plan: { planId: pendingCancel.planId }, order: limitBuy('4', '1') });
  await ledger.applyToOrder(pendingUpdate.orderId, { type: 'ACCEPTED', connectorOrderId: 'x-pu' });
  await ledger.applyToOrder(pendingUpdate.orderId, { type: 'MODIFY', price: '1.5' });
  step();
  // terminal: a filled order (its group completes, its plan stays ACTIVE), a cancelled plan
  const filled = await ledger.registerOrder({ plan: newPlanSpec('DDD'), order: limitBuy('5', '20') });
  await ledger.applyToOrder(filled.orderId, { type: 'FILL', tradeId: 'f1', quantity: '5', price: '20' });
  const cancelled = await ledger.registerOrder({ plan: newPlanSpec('EEE'), order: limitBuy('5', '20'), submit: false });
  await ledger.applyToOrder(cancelled.orderId, { type: 'CANCEL', reason: 'unwanted' });
  // a closed plan: buy then sell back
  const entry = await ledger.registerOrder({ plan: newPlanSpec('FFF'), order: limitBuy('2', '50') });
  await ledger.applyToOrder(entry.orderId, { type: 'FILL', tradeId: 'e1', quantity: '2', price: '50' });
  const exit = await ledger.registerOrder({ plan: { planId: entry.planId }, order: { side: 'SELL', orderType: 'MARKET', role: 'EXIT', quantity: '2' } });
  await ledger.applyToOrder(exit.orderId, { type: 'FILL', tradeId: 'e2', quantity: '2', price: '55' });
  return { pending, submitted, working, partial, pendingCancel, pendingUpdate, filled, cancelled, entry, exit };
}

type Ids = Awaited<ReturnType<typeof populate>>;

function allIds(ids: Ids): string[] {
  const out = new Set<string>();
  for (const r of Object.values(ids)) for (const id of [r.planId, r.groupId, r.orderId]) out.add(id);
  return [...out];
}

async function snapshotViews(ledger: StrategyLedger, ids: string[]) {
  const out: Record<string, unknown> = {};
  for (const id of ids) {
    const view = id.startsWith('TPL_') ? await ledger.plan(id) : id.startsWith('EXG_') ? await ledger.group(id) : await ledger.order(id);
    out[id] = { view, history: await ledger.history(id) };
    if (id.startsWith('TPL_')) {
      out[`${id}/position`] = await ledger.position(id);
      out[`${id}/groups`] = await ledger.groupsOfPlan(id);
    }
    if (id.startsWith('ORD_')) out[`${id}/fills`] = await ledger.fillsOfOrder(id);
  }
  return out;
}

function runChild(dataDir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dataDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`child exited ${code}: ${err}`));
      else resolve(out.trim());
    });
  });
}

describe('close and reopen', () => {
  it('restores every non-terminal actor with identical status and context', async () => {
    const { ledger, clock } = await open();
    const ids = await populate(ledger, clock);
    const everyId = allIds(ids);
    const liveIds = ledger.host.liveIds().sort();
    const liveRecords = Object.fromEntries(liveIds.map((id) => [id, ledger.host.record(id)]));
    const views = await snapshotViews(ledger, everyId);
    const outbox = await ledger.outbox();
    const anomalies = await ledger.anomalies();
    const liveCount = ledger.host.liveCount;
    const statuses = Object.fromEntries(liveIds.map((id) => [id, ledger.host.record(id)!.value]));
    expect(statuses[ids.pending.orderId]).toBe('PENDING');
    expect(statuses[ids.submitted.orderId]).toBe('SUBMITTED');
    expect(statuses[ids.working.orderId]).toBe('OPEN');
    expect(statuses[ids.partial.orderId]).toBe('PARTIALLY_FILLED');
    expect(statuses[ids.pendingCancel.orderId]).toBe('PENDING_CANCEL');
    expect(statuses[ids.pendingUpdate.orderId]).toBe('PENDING_UPDATE');
    expect(statuses[ids.filled.planId]).toBe('ACTIVE');
    await ledger.close();

    const { ledger: again } = await open(7);
    expect(again.corruptRecords).toEqual([]);
    expect(again.host.liveCount).toBe(liveCount);
    expect(again.host.liveIds().sort()).toEqual(liveIds);
    for (const id of liveIds) expect(again.host.record(id), id).toEqual(liveRecords[id]);
    expect(await snapshotViews(again, everyId)).toEqual(views);
    expect(await again.outbox()).toEqual(outbox);
    expect(await again.anomalies()).toEqual(anomalies);
    expect(integrityProblems(await readImage(again.store))).toEqual([]);
  });

  it('does not keep terminal actors in memory after reopen, but views read them from the archive', async () => {
    const { ledger, clock } = await open();
    const ids = await populate(ledger, clock);
    await ledger.close();
    const { ledger: again } = await open(7);
    const terminal = [
      [ids.filled.orderId, 'FILLED'],
      [ids.filled.groupId, 'COMPLETED'],
      [ids.cancelled.orderId, 'CANCELED'],
      [ids.cancelled.groupId, 'CANCELLED'],
      [ids.cancelled.planId, 'CANCELLED'],
      [ids.entry.orderId, 'FILLED'],
      [ids.exit.orderId, 'FILLED'],
      [ids.entry.planId, 'CLOSED'],
    ] as const;
    for (const [id, status] of terminal) {
      expect(again.host.record(id), id).toBeUndefined();
      expect(await again.store.getRaw('live', id)).toBeUndefined();
      const view = id.startsWith('TPL_') ? await again.plan(id) : id.startsWith('EXG_') ? await again.group(id) : await again.order(id);
      expect(view?.status, id).toBe(status);
    }
    expect((await again.plansByStatus('CLOSED')).map((p) => p.planId)).toEqual([ids.entry.planId]);
    expect((await again.fillsOfOrder(ids.entry.orderId)).map((f) => f.tradeId)).toEqual(['e1']);
    expect(await again.position(ids.entry.planId)).toMatchObject({ status: 'CLOSED', netQuantity: '0', realizedPnl: '10' });
    // events for terminal actors are refused, not thrown
    expect(await again.applyToOrder(ids.filled.orderId, { type: 'CANCEL' })).toBe('refused');
  });

  it('restored actors keep working, and new effect ids never reuse old ones', async () => {
    const effects: CommittedEffect[] = [];
    const { ledger, clock } = await open(42, (e) => effects.push(...e));
    const ids = await populate(ledger, clock);
    const anomalyKeysBefore: string[] = [];
    for await (const k of ledger.store.keys('anomaly')) anomalyKeysBefore.push(k);
    await ledger.close();
    const maxBefore = Math.max(...effects.map((e) => Number(e.effectId)));

    const after: CommittedEffect[] = [];
    const { ledger: again } = await open(7, (e) => after.push(...e));
    expect(await again.applyToOrder(ids.partial.orderId, { type: 'FILL', tradeId: 'p2', quantity: '5.5', price: '9.4' })).toBe('applied');
    expect((await again.order(ids.partial.orderId))!).toMatchObject({ status: 'FILLED', filledQuantity: '8' });
    expect((await again.history(ids.partial.orderId)).map((h) => h.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(await again.applyToOrder(ids.pendingUpdate.orderId, { type: 'MODIFIED' })).toBe('applied');
    expect((await again.order(ids.pendingUpdate.orderId))!).toMatchObject({ status: 'OPEN', price: '1.5' });
    await again.applyToOrder(ids.working.orderId, { type: 'CANCEL' });
    await again.applyToOrder(ids.pending.orderId, { type: 'REJECTED', reason: 'x' }); // anomaly-free terminal
    await again.applyToOrder(ids.pending.orderId, { type: 'SUBMIT' }); // refused -> anomaly
    expect(after.length).toBeGreaterThan(0);
    for (const e of after) expect(Number(e.effectId)).toBeGreaterThan(maxBefore);
    const anomalyKeys: string[] = [];
    for await (const k of again.store.keys('anomaly')) anomalyKeys.push(k);
    expect(anomalyKeys.length).toBe(anomalyKeysBefore.length + 1);
    expect(integrityProblems(await readImage(again.store))).toEqual([]);
  });

  it('a second open of the same dir in this process rejects with DataDirInUseError', async () => {
    const { ledger } = await open();
    const r = await ledger.registerOrder({ plan: newPlanSpec(), order: limitBuy() });
    const error = await StrategyLedger.open({ dataDir: dir }).then(
      (l) => {
        opened.push(l);
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DataDirInUseError);
    expect((error as Error).name).toBe('DataDirInUseError');
    expect((error as Error).message).toContain('data dir in use');
    expect((error as DataDirInUseError).dataDir).toBe(dir);
    // the first ledger is unaffected
    expect(await ledger.applyToOrder(r.orderId, { type: 'ACCEPTED', connectorOrderId: 'x' })).toBe('applied');
    await ledger.close();
    const { ledger: again } = await open();
    expect((await again.order(r.orderId))!.status).toBe('OPEN');
  });

  it('another process cannot open a dir this process holds', async () => {
    const { ledger } = await open();
    await ledger.registerOrder({ plan: newPlanSpec(), order: limitBuy() });
    const line = await runChild(dir);
    expect(line).toMatch(/^error DataDirInUseError /);
    expect(line).toContain('data dir in use');
    await ledger.close();
    expect(await runChild(dir)).toBe('opened');
  });
});

describe('corrupt records', () => {
  const corruptions: [string, (good: string) => string, RegExp][] = [
    ['garbage that is not JSON', () => '{not json', /not valid JSON/],
    [
      'JSON with a wrong field type',
      (good) => {
        const rec = JSON.parse(good) as { context: Record<string, unknown> };
        rec.context.quantity = 10;
        return JSON.stringify(rec);
      },
      /context\.quantity/,
    ],
    [
      'a record whose id does not match its key',
      (good) => {
        const rec = JSON.parse(good) as { context: Record<string, unknown> };
        rec.context.orderId = 'ORD_20250102_093000_aaaaaaaa';
        return JSON.stringify(rec);
      },
      /does not match/,
    ],
    ['an unknown status', (good) => JSON.stringify({ ...(JSON.parse(good) as object), value: 'HALF_OPEN' }), /value/],
  ];

  it.each(corruptions)('%s: names its key; the other actors open and work', async (_name, corrupt, problem) => {
    const { ledger } = await open();
    const a = await ledger.registerOrder({ plan: newPlanSpec('AAA'), order: limitBuy() });
    const b = await ledger.registerOrder({ plan: newPlanSpec('BBB'), order: limitBuy() });
    await ledger.close();

    const db = new Level<string, string>(dir);
    const live = db.sublevel<string, string>('live', { valueEncoding: 'utf8' });
    const good = await live.get(a.orderId);
    expect(good).toBeDefined();
    await live.put(a.orderId, corrupt(good!));
    await db.close();

    const { ledger: again } = await open(7);
    expect(again.corruptRecords).toHaveLength(1);
    const error = again.corruptRecords[0]!;
    expect(error).toBeInstanceOf(CorruptRecordError);
    expect(error.key).toBe(`live!${a.orderId}`);
    expect(error.message).toContain(`live!${a.orderId}`);
    expect(error.message).toMatch(problem);
    // every other actor is restored (a's plan and group too)
    expect(again.host.liveIds().sort()).toEqual([a.planId, a.groupId, b.planId, b.groupId, b.orderId].sort());
    expect(again.host.record(a.orderId)).toBeUndefined();
    // b is usable
    expect(await again.applyToOrder(b.orderId, { type: 'ACCEPTED', connectorOrderId: 'x-b' })).toBe('applied');
    expect(await again.applyToOrder(b.orderId, { type: 'FILL', tradeId: 'b1', quantity: '10', price: '100' })).toBe('applied');
    expect((await again.order(b.orderId))!.status).toBe('FILLED');
    expect((await again.plan(b.planId))!.status).toBe('ACTIVE');
    // an event for the corrupt actor is refused and recorded, not thrown
    expect(await again.applyToOrder(a.orderId, { type: 'ACCEPTED', connectorOrderId: 'x-a' })).toBe('refused');
    expect((await again.anomalies()).map((x) => x.actorId)).toEqual([a.orderId]);
    // and a new order still registers on a's (healthy) plan
    const c = await again.registerOrder({ plan: { planId: a.planId }, order: limitBuy('1', '1') });
    expect((await again.order(c.orderId))!.status).toBe('SUBMITTED');
  });
});
