/**
 * `npm run bench [-- --json]`: throughput of the persisted runtime against the in-memory
 * ceiling of the same machines and events, restore rate, and heap per live order actor.
 * Figures are ratios against ceilings measured in the same run, not absolute targets.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { AnyMachineSnapshot } from 'xstate';
import { ActorHost, Turn } from '../actors/host.js';
import { StrategyLedger } from '../actors/ledger.js';
import { Store } from '../storage/store.js';
import { ManualClock, isoAt } from '../src/domain/clock.js';
import { newId, seededIdSource } from '../src/domain/ids.js';
import type { OrderEvent } from '../machines/order.js';
import { benchBacktest } from './backtest.js';
import { benchDirectives } from './directives.js';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    orders: { type: 'string', default: '20000' },
    restore: { type: 'string', default: '100000' },
    directives: { type: 'string', default: '5000' },
    bars: { type: 'string', default: '500000' },
  },
});
const ORDERS = Number(values.orders);
const RESTORE = Number(values.restore);
const IN_FLIGHT = Number(process.env.IN_FLIGHT ?? 512);
const T0 = Date.UTC(2024, 0, 15, 9, 30);
const log = (msg: string) => {
  if (!values.json) console.error(msg);
};

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tradestate-bench-'));
  dirs.push(d);
  return d;
}

/** The reply stream each order lives through once placed: ack, partial fill, final fill. */
function lifecycle(i: number, at: string): OrderEvent[] {
  return [
    { type: 'ACCEPTED', at, connectorOrderId: `x${i}` },
    { type: 'FILL', at, fillId: `FIL_20240115_093000_${i.toString(36).padStart(6, '0')}a`, tradeId: `t${i}a`, quantity: '4', price: '100.5', fee: '0.01', feeCurrency: 'USD', liquidity: 'MAKER' },
    { type: 'FILL', at, fillId: `FIL_20240115_093000_${i.toString(36).padStart(6, '0')}b`, tradeId: `t${i}b`, quantity: '6', price: '100.25', fee: '0.01', feeCurrency: 'USD', liquidity: 'MAKER' },
  ];
}

/** Registers ORDERS submitted orders in groups of 100 under plans of 10 groups; returns their ids. */
async function seedOrders(host: ActorHost, count: number, clock: ManualClock): Promise<string[]> {
  const ids = seededIdSource(7);
  const orderIds: string[] = [];
  const at = isoAt(clock.now());
  const PER_GROUP = 100;
  for (let start = 0; start < count; start += PER_GROUP * 10) {
    await host.run(at, (turn) => {
      const planId = newId('plan', clock, ids);
      turn.create('plan', { planId, strategyInstanceId: 'bench', symbol: 'BTC/USDT', direction: 'BUY', comments: null, exitPlan: null, at });
      for (let g = start; g < Math.min(count, start + PER_GROUP * 10); g += PER_GROUP) {
        const groupId = newId('group', clock, ids);
        turn.create('group', { groupId, parentPlanId: planId, executionStrategy: 'SINGLE', targetQuantity: null, at });
        turn.send(planId, { type: 'GROUP_ADDED', groupId, at });
        for (let i = g; i < Math.min(count, g + PER_GROUP); i++) {
          const orderId = newId('order', clock, ids);
          turn.create('order', {
            orderId, parentGroupId: groupId, parentPlanId: planId, clientOrderId: `c${i}`, symbol: 'BTC/USDT',
            side: 'BUY', orderType: 'LIMIT', role: 'ENTRY', quantity: '10', price: '100.5', stopPrice: null, timeInForce: 'GTC', ocoGroup: null, at,
          });
          turn.send(groupId, { type: 'ORDER_ADDED', orderId, at });
          turn.send(orderId, { type: 'SUBMIT', at });
          orderIds.push(orderId);
        }
      }
    });
  }
  return orderIds;
}

/** Same machines, same events, same in-turn parent notifications; no persistence. */
function inMemoryCeiling(live: Map<string, { kind: 'plan' | 'group' | 'order'; snapshot: AnyMachineSnapshot; seq: number }>, orderIds: string[], at: string) {
  let transitions = 0;
  const started = performance.now();
  for (let i = 0; i < orderIds.length; i++) {
    for (const event of lifecycle(i, at)) {
      const turn = new Turn(live, at);
      turn.send(orderIds[i]!, event);
      transitions += turn.logs.length;
      for (const [id, d] of turn.dirty) {
        if (d.snapshot.status === 'active') live.set(id, { kind: d.kind, snapshot: d.snapshot, seq: d.seq });
        else live.delete(id);
      }
    }
  }
  return { transitions, seconds: (performance.now() - started) / 1000 };
}

async function persisted(host: ActorHost, orderIds: string[], at: string) {
  const before = host.transitions;
  const started = performance.now();
  // IN_FLIGHT orders at a time, each living through its replies in order (a worker pool:
  // Promise.race over the in-flight set would cost the bench, not the runtime, O(n) per order).
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < orderIds.length; i = next++) {
      const id = orderIds[i]!;
      for (const event of lifecycle(i, at)) await host.run(at, (turn) => turn.send(id, event));
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return { transitions: host.transitions - before, seconds: (performance.now() - started) / 1000 };
}

async function throughput() {
  const clock = new ManualClock(T0);
  const at = isoAt(T0);
  // Persisted: a real data dir.
  const store = await Store.open(tempDir());
  const host = await ActorHost.open(store);
  const WARMUP = Math.min(2000, Math.ceil(ORDERS / 5));
  log(`seeding ${ORDERS + WARMUP} live orders...`);
  const all = await seedOrders(host, ORDERS + WARMUP, clock);
  const warm = all.slice(0, WARMUP);
  const orderIds = all.slice(WARMUP);
  // In-memory ceiling on an identical population, restored from the same store.
  await host.settled();
  const copy = await ActorHost.open(store);
  const live = (copy as unknown as { live: Map<string, { kind: 'plan' | 'group' | 'order'; snapshot: AnyMachineSnapshot; seq: number }> }).live;
  // Both paths run once on separate orders first, so neither is measured cold.
  inMemoryCeiling(live, warm, at);
  await persisted(host, warm, at);
  log('in-memory ceiling...');
  const mem = inMemoryCeiling(live, orderIds, at);
  log('persisted...');
  const batchesBefore = host.batches;
  const disk = await persisted(host, orderIds, at);
  const batches = host.batches - batchesBefore;
  await host.close();
  return {
    persisted_transitions_per_s: disk.transitions / disk.seconds,
    inmemory_transitions_per_s: mem.transitions / mem.seconds,
    transitions: disk.transitions,
    inmemory_transitions: mem.transitions,
    batches,
  };
}

async function restore() {
  const dir = tempDir();
  const clock = new ManualClock(T0);
  {
    const store = await Store.open(dir);
    const host = await ActorHost.open(store);
    log(`writing ${RESTORE} live orders for the restore test...`);
    await seedOrders(host, RESTORE, clock);
    await host.close();
  }
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  const ledger = await StrategyLedger.open({ dataDir: dir, clock });
  const seconds = (performance.now() - started) / 1000;
  gc();
  const heapAfter = process.memoryUsage().heapUsed;
  const orders = ledger.host.liveIds('order').length;
  const actors = ledger.host.liveCount;
  await ledger.close();
  return {
    restore_actors_per_s: actors / seconds,
    restored_actors: actors,
    restored_orders: orders,
    // Groups and plans are 1.1% of the population here; the figure charges them to the orders.
    heap_bytes_per_live_actor: (heapAfter - heapBefore) / orders,
  };
}

try {
  const t = await throughput();
  gc();
  const r = await restore();
  gc();
  log('directives end to end...');
  const d = await benchDirectives(Number(values.directives));
  gc();
  log(`backtest of the example strategy over ${values.bars} synthetic one-minute bars...`);
  const b = await benchBacktest({ bars: Number(values.bars) });
  const result = {
    ...t,
    persisted_vs_inmemory_ratio: t.persisted_transitions_per_s / t.inmemory_transitions_per_s,
    ...r,
    ...d,
    backtest_bars_per_s: b.bars_per_s,
    backtest_bars: b.bars,
    backtest_orders: b.orders,
    backtest_fills: b.fills,
  };
  if (values.json) console.log(JSON.stringify(result));
  else {
    const n = (x: number) => Math.round(x).toLocaleString('en-US');
    console.log(`persisted transitions/s   ${n(result.persisted_transitions_per_s)}  (${n(result.transitions)} transitions, ${n(result.batches)} batches)`);
    console.log(`in-memory transitions/s   ${n(result.inmemory_transitions_per_s)}  (ceiling: same machines and events, no persistence)`);
    console.log(`persisted / in-memory     ${(result.persisted_vs_inmemory_ratio * 100).toFixed(1)}%   target >= 50%`);
    console.log(`restore actors/s          ${n(result.restore_actors_per_s)}  (${n(result.restored_actors)} actors, ${n(result.restored_orders)} orders)   target >= 50,000`);
    console.log(`heap bytes / live order   ${n(result.heap_bytes_per_live_actor)}   target <= 4,096`);
    console.log(`directives/s end to end   ${n(result.directives_per_s)}  (${n(result.directives)} NEW_TRADE market entries, submit through fill)`);
    console.log(`submit -> placed          p50 ${result.submit_to_placed_p50_ms.toFixed(2)} ms, p99 ${result.submit_to_placed_p99_ms.toFixed(2)} ms`);
    console.log(`backtest bars/s           ${n(result.backtest_bars_per_s)}  (${n(result.backtest_bars)} one-minute bars, ${n(result.backtest_orders)} orders, ${n(result.backtest_fills)} fills, all persisted)`);
  }
} finally {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
