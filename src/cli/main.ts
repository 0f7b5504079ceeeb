#!/usr/bin/env node
/**
 * `npm start`: opens a data dir (default ./data), runs the seed's AAPL lifecycle through the
 * persisted actors (entry, fill, stop-loss and take-profit, stop-out) and prints the ledger.
 * Exchange replies come from a scripted in-process counterpart that acknowledges every order
 * it is sent, so the outbox, commit order and parent notifications are the real ones.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { StrategyLedger } from '../../actors/ledger.js';
import type { CommittedEffect } from '../../actors/host.js';
import { systemClock } from '../domain/clock.js';

const { values } = parseArgs({ options: { 'data-dir': { type: 'string', default: 'data' }, help: { type: 'boolean' } } });
if (values.help) {
  console.log('usage: npm start [-- --data-dir DIR]\nRuns a demo trade lifecycle on a persisted ledger and prints it.');
  process.exit(0);
}
const dataDir = resolve(values['data-dir']!);

const acks: Promise<unknown>[] = [];
let ledger: StrategyLedger;
// The scripted exchange: acknowledges placements and confirms cancels, settling the outbox entry.
function onEffects(effects: readonly CommittedEffect[]): void {
  for (const { effectId, effect } of effects) {
    const reply = effect.kind === 'cancelOrder' ? { type: 'CANCELED' as const } : { type: 'ACCEPTED' as const, connectorOrderId: `x-${effectId}` };
    acks.push(ledger.applyToOrder(effect.orderId, reply, effectId));
  }
}
const settle = async () => {
  while (acks.length) await acks.shift();
};

ledger = await StrategyLedger.open({ dataDir, clock: systemClock, onEffects });
console.log(`data dir ${dataDir}: ${ledger.host.liveCount} live actors restored`);
for (const c of ledger.corruptRecords) console.log(`  skipped ${c.message}`);

const entry = await ledger.registerOrder({
  plan: { strategyInstanceId: 'demo', symbol: 'AAPL', direction: 'BUY', comments: 'seed worked example' },
  order: { side: 'BUY', orderType: 'LIMIT', quantity: '10', price: '150.00' },
});
await settle();
await ledger.applyToOrder(entry.orderId, { type: 'FILL', tradeId: `${entry.orderId}-t1`, quantity: '10', price: '150.25' });

const protection = { plan: { planId: entry.planId }, group: { executionStrategy: 'SINGLE' as const, targetQuantity: '10' } };
const sl = await ledger.registerOrder({ ...protection, order: { side: 'SELL', orderType: 'STOP', role: 'STOP_LOSS', quantity: '10', stopPrice: '145.00' } });
const tp = await ledger.registerOrder({ plan: { planId: entry.planId }, group: { groupId: sl.groupId }, order: { side: 'SELL', orderType: 'LIMIT', role: 'TAKE_PROFIT', quantity: '10', price: '160.00' } });
await settle();
await ledger.applyToOrder(sl.orderId, { type: 'FILL', tradeId: `${sl.orderId}-t1`, quantity: '10', price: '144.90' });
await ledger.applyToOrder(tp.orderId, { type: 'CANCEL', reason: 'one-cancels-other: stop-loss filled' });
await settle();

const plan = (await ledger.plan(entry.planId))!;
console.log(`\nTradePlan ${plan.planId} ${plan.symbol} ${plan.direction}: ${plan.status}${plan.exitReason ? ` (${plan.exitReason})` : ''}`);
for (const group of await ledger.groupsOfPlan(plan.planId)) {
  console.log(`  ExecutionGroup ${group.groupId} ${group.executionStrategy}: ${group.status}, filled ${group.filledQuantity}/${group.targetQuantity}`);
  for (const order of await ledger.ordersOfGroup(group.groupId)) {
    const px = order.price ?? order.stopPrice ?? 'market';
    console.log(`    Order ${order.orderId} ${order.role} ${order.side} ${order.quantity} ${order.orderType} @ ${px}: ${order.status}`);
    for (const fill of await ledger.fillsOfOrder(order.orderId)) console.log(`      Fill ${fill.fillId} ${fill.quantity} @ ${fill.price} fee ${fill.fee}`);
  }
}
const pos = (await ledger.position(plan.planId))!;
console.log(`  position: net ${pos.netQuantity}, realized P&L ${pos.realizedPnl}, fees ${pos.fees}, net of fees ${pos.realizedPnlNet}`);
console.log('\nhistory of the stop-loss order:');
for (const h of await ledger.history(sl.orderId)) console.log(`  #${h.seq} ${h.at} ${h.event.type}: ${h.from ?? '-'} -> ${h.to}`);

const counts: string[] = [];
for (const s of ['PENDING', 'ACTIVE', 'CLOSED', 'CANCELLED'] as const) counts.push(`${s} ${(await ledger.idsByStatus('plan', s)).length}`);
console.log(`\nplans in ${dataDir}: ${counts.join(', ')}; outbox ${(await ledger.outbox()).length}; anomalies ${(await ledger.anomalies()).length}`);
await ledger.close();
