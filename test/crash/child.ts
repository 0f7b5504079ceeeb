/**
 * Child process for crash.test.ts. Opens a ledger on argv[2] and runs turns until it is killed
 * (or reaches argv[4] turns). Every line it prints is written after the turn it reports has
 * resolved, i.e. after that turn is committed:
 *
 *   ok <i> <orderId> <planId> <groupId>   turn i registered order clientOrderId c-<i>
 *   acc <orderId>                         the placement of orderId was acknowledged (ACCEPTED, outbox settled)
 *   fill <orderId> <tradeId>              a fill of orderId was applied
 *   error <name> <message>                anything unexpected (the parent fails the test)
 *
 * `inflight` workers run concurrently, so the group committer batches their turns. Even turns
 * get their placement acknowledged from onEffects (settling the outbox entry in the same turn);
 * acknowledged orders later receive fills of 1 until filled (quantity 3), which ends orders and
 * completes groups, so some actors move to the archive while the child runs.
 */
import { StrategyLedger } from '../../actors/ledger.js';
import type { CommittedEffect } from '../../actors/host.js';
import { ManualClock } from '../../src/domain/clock.js';
import { seededIdSource } from '../../src/domain/ids.js';

const [dataDir, seedArg = '1', maxArg = '20000', inflightArg = '4'] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: child.ts <dataDir> [seed] [maxTurns] [inflight]');
const seed = Number(seedArg);
const maxTurns = Number(maxArg);
const inflight = Number(inflightArg);

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function fail(error: unknown): never {
  const e = error as Error;
  say(`error ${e?.name ?? 'Error'} ${String(e?.message ?? e).replace(/\n/g, ' ')}`);
  process.exit(3);
}
process.on('unhandledRejection', fail);
process.on('uncaughtException', fail);

// xorshift for the child's own choices
let rs = seed >>> 0 || 1;
function rand(n: number): number {
  rs ^= rs << 13;
  rs >>>= 0;
  rs ^= rs >>> 17;
  rs ^= rs << 5;
  rs >>>= 0;
  return rs % n;
}

const clock = new ManualClock(Date.UTC(2025, 0, 2, 9, 30, 0));
const turnOf = new Map<string, number>();
const accepted: string[] = []; // acknowledged orders that can still take a fill
const fillsSent = new Map<string, number>();
const plans: string[] = [];
let ledger: StrategyLedger;

function onEffects(effects: readonly CommittedEffect[]): void {
  for (const { effectId, effect } of effects) {
    if (effect.kind !== 'placeOrder') continue;
    const i = turnOf.get(effect.orderId) ?? Number(effect.clientOrderId.slice(2));
    if (i % 2 !== 0) continue;
    ledger.applyToOrder(effect.orderId, { type: 'ACCEPTED', connectorOrderId: `x-${effectId}` }, effectId).then((outcome) => {
      if (outcome !== 'applied') fail(new Error(`ACCEPTED for ${effect.orderId} was ${outcome}`));
      say(`acc ${effect.orderId}`);
      accepted.push(effect.orderId);
    }, fail);
  }
}

async function turn(i: number): Promise<void> {
  clock.advance(1);
  const planId = i % 5 === 0 || plans.length === 0 ? undefined : plans[rand(plans.length)];
  const r = await ledger.registerOrder({
    plan: planId ? { planId } : { strategyInstanceId: `crash-${seed}`, symbol: `S${i % 7}`, direction: 'BUY', comments: null },
    order: { side: 'BUY', orderType: 'LIMIT', quantity: '3', price: String(100 + (i % 10)), clientOrderId: `c-${i}` },
  });
  turnOf.set(r.orderId, i);
  say(`ok ${i} ${r.orderId} ${r.planId} ${r.groupId}`);
  if (r.createdPlan) plans.push(r.planId);

  if (i % 2 === 1 && accepted.length > 0) {
    const k = rand(accepted.length);
    const orderId = accepted[k]!;
    const n = (fillsSent.get(orderId) ?? 0) + 1;
    fillsSent.set(orderId, n);
    if (n >= 3) accepted.splice(k, 1);
    const tradeId = `t-${i}`;
    clock.advance(1);
    const outcome = await ledger.applyToOrder(orderId, { type: 'FILL', tradeId, quantity: '1', price: '100' });
    if (outcome !== 'applied') fail(new Error(`FILL ${tradeId} for ${orderId} was ${outcome}`));
    say(`fill ${orderId} ${tradeId}`);
  }
}

try {
  ledger = await StrategyLedger.open({ dataDir, clock, ids: seededIdSource(seed), onEffects });
} catch (error) {
  fail(error);
}
say(`open ${ledger.host.liveCount}`);
let next = 0;
async function worker(): Promise<void> {
  while (next < maxTurns) await turn(next++);
}
await Promise.all(Array.from({ length: inflight }, worker));
await ledger.close();
say('done');
