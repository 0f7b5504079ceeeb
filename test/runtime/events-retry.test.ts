/**
 * Flow events (TRADE_EXECUTED / EXECUTION_FAILED, each followed by FLOW_STOPPED), metrics, the
 * retry policy with its backoff, unknown outcomes resolved by lookup, non-retryable errors and
 * the on_api_failure policies.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RuntimeEvent } from '../../actors/flows.js';
import { cleanup, ConnectorError, newTrade, openHarness, ScriptedConnector, type Harness } from './helpers.js';

afterEach(cleanup);

type Ev<T extends RuntimeEvent['type']> = Extract<RuntimeEvent, { type: T }>;
const stops = (h: Harness) => h.events.filter((e): e is Ev<'FLOW_STOPPED'> => e.type === 'FLOW_STOPPED');
const placeCalls = (h: Harness) => h.exchange.faultLog().filter((f) => f.op === 'place').length;

describe('flow events and metrics', () => {
  it('success publishes TRADE_EXECUTED then FLOW_STOPPED SUCCESS; failure EXECUTION_FAILED then FLOW_STOPPED ERROR; metrics count both', async () => {
    const h = await openHarness({ exchangeOptions: { minQuantity: { AAPL: '5' } } });
    const good = await h.runtime.submit(newTrade('ev-ok', { orderType: 'LIMIT', limit: '100', size: '10' }));
    await h.runtime.settled();
    const bad = await h.runtime.submit(newTrade('ev-fail', { orderType: 'LIMIT', limit: '100', size: '1' }));
    await h.runtime.settled();

    expect(h.events.map((e) => `${e.type}:${'directiveId' in e ? e.directiveId : e.flowId}`)).toEqual([
      'TRADE_EXECUTED:ev-ok',
      'FLOW_STOPPED:ev-ok',
      'EXECUTION_FAILED:ev-fail',
      'FLOW_STOPPED:ev-fail',
    ]);
    const [executed, okStop, failed, errStop] = h.events as [Ev<'TRADE_EXECUTED'>, Ev<'FLOW_STOPPED'>, Ev<'EXECUTION_FAILED'>, Ev<'FLOW_STOPPED'>];
    expect(executed).toMatchObject({ scope: 'NEW_TRADE', action: 'EXECUTE_TRADE', planId: good.plan_id, orderIds: good.order_ids });
    expect(okStop).toMatchObject({ flowId: 'ev-ok', finalState: 'SUCCESS' });
    expect(failed).toMatchObject({ scope: 'NEW_TRADE', action: 'EXECUTE_TRADE', planId: bad.plan_id, orderIds: bad.order_ids });
    expect(failed.errorMessage).toMatch(/below minimum size/);
    expect(failed.errorType).toBeTruthy();
    expect(errStop).toMatchObject({ flowId: 'ev-fail', finalState: 'ERROR' });
    expect(errStop.reason).toMatch(/below minimum size/);

    const m = h.runtime.metrics();
    expect(m).toMatchObject({ flows: 2, succeeded: 1, failed: 1, openFlows: 0, slow: 0 });
    const durations = stops(h).map((s) => s.durationMs);
    for (const d of durations) expect(d).toBeGreaterThanOrEqual(0);
    expect(m.totalDurationMs).toBeCloseTo(durations[0]! + durations[1]!, 6);
    expect(m.maxDurationMs).toBe(Math.max(...durations));
  });

  it('every flow stops exactly once, also when many run concurrently; slow flows are counted', async () => {
    const h = await openHarness({ config: { monitoring: { alert_on_slow_execution_ms: 5 } }, realSleepMs: 20 });
    h.exchange.injectFault('network'); // the first placement is retried after a real 20 ms sleep
    h.exchange.injectFault('network'); // ... and its lookup fails too
    const ids = ['c-1', 'c-2', 'c-3', 'c-4'];
    await Promise.all(ids.map((id) => h.runtime.submit(newTrade(id, { orderType: 'LIMIT', limit: '100' }))));
    await h.runtime.settled();
    const byFlow = new Map<string, number>();
    for (const s of stops(h)) byFlow.set(s.flowId, (byFlow.get(s.flowId) ?? 0) + 1);
    expect([...byFlow.keys()].sort()).toEqual(ids);
    expect([...byFlow.values()]).toEqual([1, 1, 1, 1]);
    expect(stops(h).every((s) => s.finalState === 'SUCCESS')).toBe(true);
    const m = h.runtime.metrics();
    expect(m).toMatchObject({ flows: 4, succeeded: 4, failed: 0 });
    expect(m.slow).toBeGreaterThanOrEqual(1);
    expect(m.maxDurationMs).toBeGreaterThanOrEqual(20);
    expect(h.exchange.allOrders()).toHaveLength(4);
  });
});

describe('retry policy', () => {
  it('timeouts and network errors on place are retried with backoff; the order is placed exactly once', async () => {
    const h = await openHarness({ config: { retry_policy: { max_retries: 4, backoff_strategy: 'exponential', initial_delay_ms: 100, max_delay_ms: 5000 } } });
    // place#1 times out, so its outcome is unknown: nothing is sent again until a lookup answers.
    // The lookup fails three times (network, network, timeout), with backoff between; the fourth
    // finds nothing, so place#2 goes out, after one more backoff, and goes through. Each retry,
    // lookup or send, counts against max_retries.
    for (const k of ['timeout', 'network', 'network', 'timeout'] as const) h.exchange.injectFault(k);
    const outcome = await h.runtime.submit(newTrade('retry-1', { orderType: 'LIMIT', limit: '100' }));
    await h.runtime.settled();
    expect(h.sleeps).toEqual([100, 200, 400, 800]);
    expect(h.exchange.faultLog().map((f) => `${f.op}:${f.kind}`)).toEqual(['place:timeout', 'fetchOrder:network', 'fetchOrder:network', 'fetchOrder:timeout']);
    const order = await h.runtime.ledger.order(outcome.order_ids[0]!);
    expect(order?.status).toBe('OPEN');
    expect([...h.exchange.placementsByClientOrderId()]).toEqual([[order!.clientOrderId, 1]]);
    expect(h.exchange.duplicateAttempts()).toBe(0);
    expect(h.events.map((e) => e.type)).toEqual(['TRADE_EXECUTED', 'FLOW_STOPPED']);
  });

  it('retryable errors that are not unknown outcomes (rate_limit, exchange_unavailable) are retried without lookups', async () => {
    let scripted!: ScriptedConnector;
    const h = await openHarness({
      wrap: (ex) => (scripted = new ScriptedConnector(ex)).connector,
      config: { retry_policy: { max_retries: 3, backoff_strategy: 'linear', initial_delay_ms: 50, max_delay_ms: 5000 } },
    });
    scripted.failNext('place', new ConnectorError('rate_limit', 'slow down'));
    scripted.failNext('place', new ConnectorError('exchange_unavailable', 'maintenance'));
    const outcome = await h.runtime.submit(newTrade('retry-rl', { orderType: 'LIMIT', limit: '100' }));
    await h.runtime.settled();
    expect(h.sleeps).toEqual([50, 100]);
    expect(scripted.count('place')).toBe(3);
    expect(scripted.count('fetchOrder')).toBe(0);
    expect((await h.runtime.ledger.order(outcome.order_ids[0]!))?.status).toBe('OPEN');
    expect(h.exchange.allOrders()).toHaveLength(1);
  });

  for (const c of [
    { strategy: 'constant' as const, max: 1000, delays: [100, 100, 100, 100, 100] },
    { strategy: 'linear' as const, max: 1000, delays: [100, 200, 300, 400, 500] },
    { strategy: 'linear' as const, max: 250, delays: [100, 200, 250, 250, 250] },
    { strategy: 'exponential' as const, max: 1000, delays: [100, 200, 400, 800, 1000] },
  ]) {
    it(`${c.strategy} backoff (initial 100, max ${c.max}): ${c.delays.join(', ')}; gives up after max_retries`, async () => {
      const h = await openHarness({
        exchangeOptions: { faults: { rate: 1, kinds: ['timeout'] } },
        config: { retry_policy: { max_retries: 5, backoff_strategy: c.strategy, initial_delay_ms: 100, max_delay_ms: c.max } },
      });
      const outcome = await h.runtime.submit(newTrade(`backoff-${c.strategy}-${c.max}`, { orderType: 'LIMIT', limit: '100' }));
      await h.runtime.settled();
      expect(h.sleeps).toEqual(c.delays);
      // The first place times out: its outcome is unknown, so it is never sent again; the
      // lookups (one at once, then one after each backoff) all time out too.
      expect(placeCalls(h)).toBe(1);
      expect(h.exchange.faultLog().filter((f) => f.op === 'fetchOrder')).toHaveLength(6); // 1 + max_retries
      expect(h.exchange.allOrders()).toHaveLength(0);
      // the outcome stayed unknown: the order waits for reconciliation, its placement stays in the outbox
      const orderId = outcome.order_ids[0]!;
      expect((await h.runtime.ledger.order(orderId))?.status).toBe('SUBMITTED');
      expect((await h.runtime.strategyLedger.outbox()).map((e) => e.effect.orderId)).toEqual([orderId]);
      expect((await h.runtime.strategyLedger.anomalies()).map((a) => a.kind)).toEqual(['outcome_unknown']);
      expect(h.events.map((e) => e.type)).toEqual(['EXECUTION_FAILED', 'FLOW_STOPPED']);
    });
  }

  it('a lost reply on place (applied, answer lost) is resolved by lookup: placed once, no duplicate attempt', async () => {
    const h = await openHarness();
    h.exchange.injectFault('lost_reply');
    const outcome = await h.runtime.submit(newTrade('lost-1', { orderType: 'LIMIT', limit: '100' }));
    await h.runtime.settled();
    const order = await h.runtime.ledger.order(outcome.order_ids[0]!);
    expect(order).toMatchObject({ status: 'OPEN', connectorOrderId: h.exchange.allOrders()[0]!.exchangeOrderId });
    expect([...h.exchange.placementsByClientOrderId()]).toEqual([[order!.clientOrderId, 1]]);
    expect(h.exchange.duplicateAttempts()).toBe(0);
    expect(h.sleeps).toEqual([]);
    expect(await h.runtime.strategyLedger.outbox()).toEqual([]);
    expect(h.events.map((e) => e.type)).toEqual(['TRADE_EXECUTED', 'FLOW_STOPPED']);
  });

  // Regression (was a defect, fixed): actors/effect-runner.ts `place`: after an unknown outcome whose lookup also fails, the
  // placement is SENT AGAIN instead of looking the order up again first.
  it('a lost reply on place whose lookup also fails is looked up again before anything is re-sent (no duplicate attempt)', async () => {
    const h = await openHarness();
    h.exchange.injectFault('lost_reply'); // place#1 is applied, its answer lost
    h.exchange.injectFault('timeout'); // the lookup that follows times out
    const outcome = await h.runtime.submit(newTrade('lost-2', { orderType: 'LIMIT', limit: '100' }));
    await h.runtime.settled();
    const order = await h.runtime.ledger.order(outcome.order_ids[0]!);
    expect(order?.status).toBe('OPEN');
    expect([...h.exchange.placementsByClientOrderId()]).toEqual([[order!.clientOrderId, 1]]);
    // ARCHITECTURE §3: "an order whose placement outcome is unknown is looked up on the exchange by
    // that id before anything is sent again". The runtime re-sent the placement and only the
    // exchange's clientOrderId check stopped a second order.
    expect(h.exchange.duplicateAttempts()).toBe(0);
  });

  it('non-retryable: insufficient funds fails at once (no retry, no sleep); rollback_ledger → REJECTED, group FAILED, plan CANCELLED, EXECUTION_FAILED', async () => {
    let scripted!: ScriptedConnector;
    const h = await openHarness({ exchangeOptions: { balances: { USD: '500' } }, wrap: (ex) => (scripted = new ScriptedConnector(ex)).connector });
    const outcome = await h.runtime.submit(newTrade('funds-1', { orderType: 'LIMIT', limit: '100', size: '10' }));
    await h.runtime.settled();
    expect(scripted.count('place')).toBe(1);
    expect(h.sleeps).toEqual([]);
    expect(h.exchange.allOrders()).toHaveLength(0);
    const order = await h.runtime.ledger.order(outcome.order_ids[0]!);
    expect(order?.status).toBe('REJECTED');
    expect(order?.reason).toMatch(/insufficient_funds/);
    const group = await h.runtime.ledger.group(outcome.group_ids[0]!);
    expect(group?.status).toBe('FAILED');
    expect(group?.reason).toMatch(/insufficient_funds/);
    expect((await h.runtime.ledger.plan(outcome.plan_id!))?.status).toBe('CANCELLED');
    expect(await h.runtime.strategyLedger.outbox()).toEqual([]);
    const failed = h.events.find((e): e is Ev<'EXECUTION_FAILED'> => e.type === 'EXECUTION_FAILED');
    expect(failed?.errorMessage).toMatch(/insufficient_funds/);
    expect(stops(h)).toMatchObject([{ flowId: 'funds-1', finalState: 'ERROR' }]);
    expect(h.runtime.metrics()).toMatchObject({ flows: 1, failed: 1, succeeded: 0 });
  });

  it('non-retryable: below minimum size fails at once with the reason', async () => {
    let scripted!: ScriptedConnector;
    const h = await openHarness({ exchangeOptions: { minQuantity: { AAPL: '5' } }, wrap: (ex) => (scripted = new ScriptedConnector(ex)).connector });
    const outcome = await h.runtime.submit(newTrade('min-1', { size: '1' }));
    await h.runtime.settled();
    expect(scripted.count('place')).toBe(1);
    expect(scripted.count('fetchOrder')).toBe(0);
    expect(h.sleeps).toEqual([]);
    const order = await h.runtime.ledger.order(outcome.order_ids[0]!);
    expect(order).toMatchObject({ status: 'REJECTED' });
    expect(order?.reason).toMatch(/invalid_order: quantity 1 is below minimum size 5/);
    expect((await h.runtime.ledger.group(outcome.group_ids[0]!))?.status).toBe('FAILED');
    expect((await h.runtime.ledger.plan(outcome.plan_id!))?.status).toBe('CANCELLED');
    expect(h.events.map((e) => e.type)).toEqual(['EXECUTION_FAILED', 'FLOW_STOPPED']);
  });

  it("on_api_failure alert_only: an 'execution_failed' anomaly is stored and the order is left SUBMITTED", async () => {
    const h = await openHarness({ exchangeOptions: { minQuantity: { AAPL: '5' } }, config: { error_handling: { on_api_failure: 'alert_only' } } });
    const outcome = await h.runtime.submit(newTrade('alert-1', { orderType: 'LIMIT', limit: '100', size: '1' }));
    await h.runtime.settled();
    const orderId = outcome.order_ids[0]!;
    expect((await h.runtime.ledger.order(orderId))?.status).toBe('SUBMITTED');
    expect((await h.runtime.ledger.group(outcome.group_ids[0]!))?.status).toBe('ACTIVE');
    expect((await h.runtime.ledger.plan(outcome.plan_id!))?.status).toBe('PENDING');
    const anomalies = await h.runtime.strategyLedger.anomalies();
    expect(anomalies).toHaveLength(1);
    expect(anomalies[0]).toMatchObject({ kind: 'execution_failed', actorId: orderId });
    expect(anomalies[0]!.detail).toMatch(/below minimum size/);
    // the failure is known, so nothing is left in flight
    expect(await h.runtime.strategyLedger.outbox()).toEqual([]);
    expect(h.events.map((e) => e.type)).toEqual(['EXECUTION_FAILED', 'FLOW_STOPPED']);
    expect(stops(h)[0]).toMatchObject({ flowId: 'alert-1', finalState: 'ERROR' });
  });
});
