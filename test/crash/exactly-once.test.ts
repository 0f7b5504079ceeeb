/**
 * Exactly-once across crashes (ARCHITECTURE §3): the simulated exchange runs in this (parent)
 * process, served over IPC; a TradingRuntime runs in a child process that executes a stream of
 * directives (market and limit entries, closes, cancels) with exchange replies and injected faults
 * (timeout, network, lost_reply) and is SIGKILLed at random points. Every child reopens the SAME
 * data dir (reconciling on open) and resumes the stream, re-submitting the last few directives.
 * After the last kill the parent opens the runtime itself, directly on the exchange, lets
 * everything settle and reconciles; then:
 *   (a) no order was placed twice: one placement per clientOrderId, no duplicate attempts;
 *   (b) no fill is missing: every trade of every exchange order is a ledger fill (same quantity
 *       and price) of the order with that clientOrderId;
 *   (c) per symbol, the ledger plans' net positions sum to the exchange position;
 *   (d) the data dir reopens with no corrupt record and every turn whole;
 *   (e) no directive ran twice: every plan belongs to exactly one NEW_TRADE outcome.
 *
 * Below it, focused in-process repros (deterministic, injected faults / a slow connector) of the
 * races the crash run can only hit by chance.
 *
 * EXACTLY_ONCE_KILLS sets the number of kill points (default 50), EXACTLY_ONCE_SEED the seed
 * (kill delays, directive stream, exchange faults), EXACTLY_ONCE_KEEP=1 keeps the data dir.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { StrategyLedger } from '../../actors/ledger.js';
import { TradingRuntime } from '../../actors/runtime.js';
import { ConnectorError, type IExecutionConnector } from '../../src/connectors/connector.js';
import { SimulatedExchange } from '../../src/connectors/simulated-exchange.js';
import { ManualClock } from '../../src/domain/clock.js';
import { D } from '../../src/domain/decimal.js';
import { PlanStatus } from '../../src/domain/schemas.js';
import { integrityProblems, readImage, removeDir, tempDir } from '../actors/helpers.js';
import { ExchangeServer, MarketDriver } from './exactly-once-connector.js';
import { fastSleep, mulberry32, PARTICIPATION, RUNTIME_CONFIG, SYMBOLS, type ChildConfig } from './exactly-once-stream.js';

const CHILD = fileURLToPath(new URL('./exactly-once-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const KILLS = Math.max(1, Number(process.env.EXACTLY_ONCE_KILLS ?? 50));
const SEED = Number(process.env.EXACTLY_ONCE_SEED ?? 20240115);
const KEEP = process.env.EXACTLY_ONCE_KEEP === '1';
const RESUBMIT = 3;
const PACE_MS = 8;

/** Seeded kill points: most 30-300 ms after the child reported its recovery, some during it. */
const random = mulberry32(SEED);
const killPoints = Array.from({ length: KILLS }, (_, n) => {
  const early = random() < 0.12;
  return { n, early, delayMs: early ? Math.floor(random() * 60) : 30 + Math.floor(random() * 271) };
});
type KillPoint = (typeof killPoints)[number];

const children = new Set<ChildProcess>();
const cleanups: (() => Promise<void> | void)[] = [];

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

afterEach(async () => {
  for (const child of children) if (alive(child) && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  children.clear();
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Submitted {
  readonly i: number;
  readonly directiveId: string;
  readonly kind: string;
  readonly resubmit: boolean;
  readonly ok: boolean;
  readonly outcome?: { scope: string; plan_id: string | null; group_ids: string[]; order_ids: string[]; affected_order_ids: string[]; stage: string };
  readonly error?: { name: string; message: string };
}

interface Recovered {
  readonly report: { outboxResolved: number; ordersChecked: number; ordersChanged: number; ordersUnreachable: number } | null;
  readonly corrupt: string[];
  readonly ms: number;
}

interface ChildLife {
  readonly kp: KillPoint;
  hello: boolean;
  /** ms from fork to 'hello' (loading modules) and from 'hello' to 'recovered' (open + reconcile). */
  loadMs: number | null;
  openMs: number | null;
  recovered: Recovered | undefined;
  readonly submitted: Submitted[];
  flowsOk: number;
  flowsFailed: number;
  readonly flowFailures: string[];
  fatal: string | undefined;
  killedBy: string | undefined;
  msAfterRecovery: number | null;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function runChild(server: ExchangeServer, cfg: ChildConfig, kp: KillPoint): Promise<ChildLife> {
  return new Promise((resolve, reject) => {
    const child = fork(CHILD, [JSON.stringify(cfg)], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    children.add(child);
    const life: ChildLife = {
      kp,
      hello: false,
      loadMs: null,
      openMs: null,
      recovered: undefined,
      submitted: [],
      flowsOk: 0,
      flowsFailed: 0,
      flowFailures: [],
      fatal: undefined,
      killedBy: undefined,
      msAfterRecovery: null,
      code: null,
      signal: null,
      stderr: '',
    };
    const forkedAt = Date.now();
    let helloAt = 0;
    let recoveredAt = 0;
    let killTimer: NodeJS.Timeout | undefined;
    const kill = (why: string) => {
      if (life.killedBy === undefined) life.killedBy = why;
      if (recoveredAt > 0) life.msAfterRecovery = Date.now() - recoveredAt;
      server.detach(child);
      if (alive(child) && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    };
    // Never wait forever: a child that does not recover (or is not killed) in time is killed.
    const guard = setTimeout(() => kill('guard: no recovery within 60 s'), 60_000);
    server.attach(child, (message) => {
      const m = message as { t?: string } & Record<string, unknown>;
      switch (m.t) {
        case 'hello':
          life.hello = true;
          helloAt = Date.now();
          life.loadMs = helloAt - forkedAt;
          if (kp.early) killTimer = setTimeout(() => kill('early (during open/recovery)'), kp.delayMs);
          break;
        case 'recovered':
          life.recovered = m as unknown as Recovered;
          recoveredAt = Date.now();
          life.openMs = recoveredAt - helloAt;
          clearTimeout(guard);
          if (!kp.early) killTimer = setTimeout(() => kill('planned'), kp.delayMs);
          break;
        case 'submitted':
          life.submitted.push(m as unknown as Submitted);
          break;
        case 'flow':
          if (m.ok) life.flowsOk++;
          else {
            life.flowsFailed++;
            life.flowFailures.push(`${String(m.directiveId)}: ${String(m.message)}`);
          }
          break;
        case 'fatal':
          life.fatal = String(m.message);
          break;
        default:
          break;
      }
    });
    child.stdout!.on('data', () => undefined);
    child.stderr!.on('data', (d: Buffer) => {
      if (life.stderr.length < 20_000) life.stderr += d.toString();
    });
    child.on('error', (e) => {
      clearTimeout(guard);
      if (killTimer) clearTimeout(killTimer);
      reject(e);
    });
    child.on('exit', () => server.detach(child));
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      if (killTimer) clearTimeout(killTimer);
      children.delete(child);
      life.code = code;
      life.signal = signal;
      resolve(life);
    });
  });
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** A faulty exchange call, retried (the faults are random, the state is not). */
async function retried<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (error) {
      if (i >= 50) throw error;
    }
  }
}

function avg(values: readonly (number | null)[]): number {
  const xs = values.filter((v): v is number => v !== null);
  return xs.length === 0 ? 0 : Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function count<T>(items: readonly T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of items) out[key(t)] = (out[key(t)] ?? 0) + 1;
  return out;
}

describe('exactly-once execution across SIGKILLs (exchange in the parent, runtime in a child)', () => {
  it(`${KILLS} kill points, seed ${SEED}: no double placement, no missing fill, positions agree`, async () => {
    const started = Date.now();
    const dataDir = tempDir();
    let passed = false;
    cleanups.push(() => {
      if (KEEP || !passed) console.log(`exactly-once: data dir kept at ${dataDir}`);
      else removeDir(dataDir);
    });
    const clock = new ManualClock(Date.UTC(2024, 0, 15, 14, 30, 0));
    const exchange = new SimulatedExchange(clock, { seed: SEED, participation: PARTICIPATION, faults: { rate: 0.05, kinds: ['timeout', 'network', 'lost_reply'] } });
    // 0-15 ms of latency before a forwarded call reaches the exchange (bars keep coming meanwhile)
    const latency = mulberry32(SEED ^ 0x5bd1e995);
    const server = new ExchangeServer(exchange, () => Math.floor(latency() * 16));
    const driver = new MarketDriver(exchange, clock);
    cleanups.push(() => {
      driver.stop();
      server.close();
    });
    // a few bars first, so every symbol has a price
    for (let k = 0; k < 3; k++) driver.tick();
    driver.start(20);

    const lives: ChildLife[] = [];
    /** directive id -> first reported outcome (to check that a re-submit returns the same). */
    const outcomes = new Map<string, NonNullable<Submitted['outcome']>>();
    const idempotencyProblems: string[] = [];
    let next = 0;

    for (const kp of killPoints) {
      const cfg: ChildConfig = {
        dataDir,
        seed: SEED,
        start: next,
        resubmit: RESUBMIT,
        stop: 1_000_000_000,
        paceMs: PACE_MS,
        capabilities: exchange.capabilities,
      };
      const life = await runChild(server, cfg, kp);
      lives.push(life);
      const context = `kill point ${kp.n} (${kp.early ? 'early' : 'planned'}, ${kp.delayMs} ms), start ${cfg.start}, dir ${dataDir}`;

      expect(life.fatal, `${context}: the child failed\n${life.stderr}`).toBeUndefined();
      expect(life.signal, `${context}: child exited ${String(life.code)} without being killed (${String(life.killedBy)})\n${life.stderr}`).toBe('SIGKILL');
      expect(life.killedBy ?? '', context).not.toMatch(/^guard/);
      // every reopen that got as far as its planned kill reconciled and reported it
      if (!kp.early) expect(life.recovered, `${context}: recovery was not reported\n${life.stderr}`).toBeDefined();
      if (life.recovered) {
        expect(life.recovered.report, context).not.toBeNull();
        expect(life.recovered.corrupt, `${context}: corrupt records on reopen`).toEqual([]);
      }
      for (const s of life.submitted) {
        if (!s.ok) {
          // a close or cancel of what has ended meanwhile is refused by name; nothing else may be
          expect(s.error?.name, `${context}: ${s.directiveId} (${s.kind}) failed: ${s.error?.message}`).toBe('NotFoundError');
          continue;
        }
        const o = s.outcome!;
        const first = outcomes.get(s.directiveId);
        if (!first) {
          outcomes.set(s.directiveId, o);
          continue;
        }
        const same =
          first.scope === o.scope &&
          first.plan_id === o.plan_id &&
          (o.scope !== 'NEW_TRADE' || (JSON.stringify(first.order_ids) === JSON.stringify(o.order_ids) && JSON.stringify(first.group_ids) === JSON.stringify(o.group_ids)));
        if (!same) idempotencyProblems.push(`${s.directiveId}: first ${JSON.stringify(first)}, re-submitted ${JSON.stringify(o)}`);
      }
      const reported = life.submitted.map((s) => s.i);
      if (reported.length > 0) next = Math.max(next, Math.max(...reported) + 1);
    }
    const killsDoneMs = Date.now() - started;

    // ---- final: the parent opens the runtime directly on the exchange and lets it settle -----
    driver.stop();
    expect(driver.error, 'a bar raised').toBeUndefined();
    const runtime = await withTimeout(TradingRuntime.open({ dataDir, connector: server.direct(), config: RUNTIME_CONFIG, sleep: fastSleep }), 60_000, 'final open');
    let runtimeOpen = true;
    cleanups.push(async () => {
      if (runtimeOpen) await runtime.close().catch(() => undefined);
    });
    const finalRecovery = runtime.recovery;
    expect(runtime.strategyLedger.corruptRecords.map((e) => e.message), 'corrupt records on the final open').toEqual([]);
    for (let k = 0; k < 6; k++) {
      driver.tick();
      await sleep(20);
      await withTimeout(runtime.settled(), 60_000, 'settling');
    }
    const reconciles: unknown[] = [];
    for (let k = 0; k < 20; k++) {
      const r = await withTimeout(runtime.reconcile(), 60_000, 'reconcile');
      await withTimeout(runtime.settled(), 60_000, 'settling');
      reconciles.push(r);
      if (r.ordersUnreachable === 0 && r.ordersChanged === 0) break;
    }
    expect(runtime.backgroundError, 'background error in the final runtime').toBeUndefined();
    const ledger = runtime.strategyLedger;

    // ---- (a) no order placed twice ------------------------------------------------------------
    const placements = exchange.placementsByClientOrderId();
    const twice = [...placements].filter(([, n]) => n !== 1);
    const exchangeOrders = exchange.allOrders();
    const faults = exchange.faultLog();
    expect.soft(twice, '(a) clientOrderIds placed more than once').toEqual([]);
    const duplicateDetails = server.stats.duplicatePlacements.map((d) => ({
      ...d,
      faults: faults.filter((f) => f.clientOrderId === d.clientOrderId).map((f) => `#${f.seq} ${f.op}:${f.kind}`),
    }));
    expect
      .soft(
        exchange.duplicateAttempts(),
        `(a) placements refused as duplicate_client_order_id (the runtime sent a known order again instead of ` +
          `looking it up): ${JSON.stringify(duplicateDetails.slice(0, 10))}`,
      )
      .toBe(0);

    // ---- (b) no fill missing from the ledger ----------------------------------------------------
    const fillProblems: string[] = [];
    let trades = 0;
    let ledgerFillsOfExchangeOrders = 0;
    const statusPairs: Record<string, number> = {};
    for (const o of exchangeOrders) {
      const orderId = await ledger.orderIdForClientOrderId(o.clientOrderId);
      if (orderId === undefined) {
        fillProblems.push(`exchange order ${o.exchangeOrderId} (${o.clientOrderId}) is unknown to the ledger`);
        continue;
      }
      const order = await ledger.order(orderId);
      statusPairs[`${o.status}/${order?.status ?? '?'}`] = (statusPairs[`${o.status}/${order?.status ?? '?'}`] ?? 0) + 1;
      const fills = await ledger.fillsOfOrder(orderId);
      ledgerFillsOfExchangeOrders += fills.length;
      const byTrade = new Map(fills.map((f) => [f.tradeId, f]));
      for (const t of o.trades) {
        trades++;
        const f = byTrade.get(t.tradeId);
        if (!f) {
          fillProblems.push(
            `trade ${t.tradeId} (${t.quantity} @ ${t.price}) of ${o.clientOrderId} (exchange ${o.status}, ledger ${order?.status}) is not in the ledger; ` +
              `calls ${JSON.stringify(server.trace.get(o.clientOrderId) ?? [])}`,
          );
        }
        else if (!new D(f.quantity).eq(t.quantity) || !new D(f.price).eq(t.price)) {
          fillProblems.push(`trade ${t.tradeId} of ${o.clientOrderId}: exchange ${t.quantity} @ ${t.price}, ledger ${f.quantity} @ ${f.price}`);
        }
      }
      const tradeIds = new Set(o.trades.map((t) => t.tradeId));
      for (const f of fills) if (!tradeIds.has(f.tradeId)) fillProblems.push(`ledger fill ${f.fillId} (trade ${f.tradeId}) of ${o.clientOrderId} is not on the exchange`);
    }
    expect.soft(fillProblems, '(b) fills missing from the ledger').toEqual([]);

    // ---- (c) ledger positions equal exchange positions ------------------------------------------
    const ledgerPos = new Map<string, InstanceType<typeof D>>();
    let plans = 0;
    const planIds: string[] = [];
    for (const status of PlanStatus.options) {
      for (const plan of await ledger.plansByStatus(status)) {
        plans++;
        planIds.push(plan.planId);
        const p = await ledger.position(plan.planId);
        ledgerPos.set(plan.symbol, (ledgerPos.get(plan.symbol) ?? new D(0)).plus(p?.netQuantity ?? '0'));
      }
    }
    const exchangePos = new Map((await retried(() => exchange.fetchPositions())).map((p) => [p.symbol, new D(p.quantity)]));
    const positions: Record<string, { ledger: string; exchange: string }> = {};
    for (const symbol of new Set([...SYMBOLS.map((s) => s.symbol), ...ledgerPos.keys(), ...exchangePos.keys()])) {
      positions[symbol] = { ledger: (ledgerPos.get(symbol) ?? new D(0)).toFixed(), exchange: (exchangePos.get(symbol) ?? new D(0)).toFixed() };
    }
    const mismatched = Object.entries(positions).filter(([, p]) => !new D(p.ledger).eq(p.exchange));
    expect.soft(mismatched, '(c) ledger positions differ from exchange positions').toEqual([]);

    // ---- (e) idempotent directives --------------------------------------------------------------
    const directiveRecords: { directive_id: string; scope: string; plan_id: string | null }[] = [];
    for await (const [, raw] of ledger.store.entries('directive')) directiveRecords.push(JSON.parse(raw) as (typeof directiveRecords)[number]);
    const planOwners = new Map<string, string[]>();
    for (const d of directiveRecords) {
      if (d.scope !== 'NEW_TRADE' || !d.plan_id) continue;
      planOwners.set(d.plan_id, [...(planOwners.get(d.plan_id) ?? []), d.directive_id]);
    }
    for (const id of planIds) {
      const owners = planOwners.get(id) ?? [];
      if (owners.length !== 1) idempotencyProblems.push(`plan ${id} belongs to ${owners.length} NEW_TRADE directives ${JSON.stringify(owners)}`);
    }
    expect.soft(idempotencyProblems, '(e) a directive ran twice or a re-submit answered differently').toEqual([]);

    const anomalies = await ledger.anomalies();
    const outbox = await ledger.outbox();
    const outboxLeft: string[] = [];
    for (const e of outbox) {
      const order = await ledger.order(e.effect.orderId);
      outboxLeft.push(`${e.effect.kind} of ${e.effect.clientOrderId} (ledger ${order?.status}): calls ${JSON.stringify(server.trace.get(e.effect.clientOrderId) ?? [])}`);
    }
    const closingLeft: string[] = [];
    for await (const key of ledger.store.keys('index', { gte: 'closing!', lt: 'closing"' })) closingLeft.push(key.slice('closing!'.length));
    const liveOrders = ledger.host.liveIds('order').length;
    const metrics = runtime.metrics();

    // ---- (d) the data dir reopens with no corrupt record, every turn whole ----------------------
    await runtime.close();
    runtimeOpen = false;
    const reopened = await StrategyLedger.open({ dataDir });
    let integrity: string[];
    try {
      expect.soft(reopened.corruptRecords.map((e) => e.message), '(d) corrupt records on reopen').toEqual([]);
      integrity = integrityProblems(await readImage(reopened.store));
      expect.soft(integrity, '(d) turns not whole on disk').toEqual([]);
    } finally {
      await reopened.close();
    }

    const submitted = lives.flatMap((l) => l.submitted);
    const summary = {
      seed: SEED,
      kills: KILLS,
      wallMs: { kills: killsDoneMs, total: Date.now() - started },
      children: {
        avgMs: {
          load: avg(lives.map((l) => l.loadMs)),
          openAndRecover: avg(lives.map((l) => l.openMs)),
          runUntilKill: avg(lives.map((l) => l.msAfterRecovery)),
        },
        submitsPerLife: avg(lives.map((l) => l.submitted.length)),
        early: lives.filter((l) => l.kp.early).length,
        killedBeforeRecoveryReported: lives.filter((l) => !l.recovered).length,
        recovery: {
          reported: lives.filter((l) => l.recovered).length,
          maxMs: Math.max(0, ...lives.map((l) => l.recovered?.ms ?? 0)),
          outboxResolved: lives.reduce((t, l) => t + (l.recovered?.report?.outboxResolved ?? 0), 0),
          ordersChecked: lives.reduce((t, l) => t + (l.recovered?.report?.ordersChecked ?? 0), 0),
          ordersChanged: lives.reduce((t, l) => t + (l.recovered?.report?.ordersChanged ?? 0), 0),
          ordersUnreachable: lives.reduce((t, l) => t + (l.recovered?.report?.ordersUnreachable ?? 0), 0),
        },
        flows: { ok: lives.reduce((t, l) => t + l.flowsOk, 0), failed: lives.reduce((t, l) => t + l.flowsFailed, 0) },
        flowFailureSamples: lives.flatMap((l) => l.flowFailures).slice(0, 5),
      },
      directives: {
        streamEnd: next,
        submits: submitted.length,
        resubmits: submitted.filter((s) => s.resubmit).length,
        distinctOk: outcomes.size,
        notFound: submitted.filter((s) => !s.ok).length,
        byKind: count(submitted, (s) => s.kind),
        stored: directiveRecords.length,
      },
      exchange: {
        orders: exchangeOrders.length,
        byStatus: count(exchangeOrders, (o) => o.status),
        trades,
        partiallyFilledOrders: exchangeOrders.filter((o) => o.trades.length > 1 || (o.trades.length === 1 && !new D(o.filled).eq(o.quantity))).length,
        duplicateAttempts: exchange.duplicateAttempts(),
        maxPlacementsPerClientOrderId: Math.max(0, ...placements.values()),
        faults: count(faults, (f) => `${f.op}:${f.kind}`),
        bars: driver.bars,
        server: server.stats,
        positions,
      },
      ledger: {
        plans,
        ledgerFillsOfExchangeOrders,
        statusPairs,
        liveOrders,
        outboxLeft,
        closesNotFlattened: closingLeft,
        anomalies: count(anomalies, (a) => a.kind),
        finalRecovery,
        reconciles,
        metrics,
      },
      problems: { fills: fillProblems.length, positions: mismatched.length, idempotency: idempotencyProblems.length, integrity: integrity.length },
    };
    console.log(`exactly-once summary\n${JSON.stringify(summary, null, 2)}`);
    passed = twice.length === 0 && exchange.duplicateAttempts() === 0 && fillProblems.length === 0 && mismatched.length === 0 && idempotencyProblems.length === 0 && integrity.length === 0;
  }, 180_000 + KILLS * 6_000);
});

// ---- focused, deterministic repros of what the crash run can hit by chance ------------------------

const ORIGIN = { origin: { type: 'MANUAL', id: 'focused', at: '2024-01-15T14:30:00.000Z' } };
const limitEntry = (id: string) => ({
  directive_id: id,
  causality: ORIGIN,
  scope: 'NEW_TRADE',
  entry_plan: { symbol: 'AAPL', direction: 'BUY', order_type: 'LIMIT', limit_price: '170' },
  size_plan: { position_size: '10' },
  execution_plan: { action: 'EXECUTE_TRADE' },
});
const cancelGroup = (id: string, groupId: string) => ({
  directive_id: id,
  causality: ORIGIN,
  scope: 'MODIFY_EXISTING',
  target_group_id: groupId,
  execution_plan: { action: 'CANCEL_GROUP' },
});

/** The exchange as a connector, with some calls replaced (a slow or unreachable exchange). */
function wrapped(exchange: SimulatedExchange, overrides: Partial<Pick<IExecutionConnector, 'place' | 'cancel' | 'fetchOrder'>> = {}): IExecutionConnector {
  return {
    name: 'wrapped-simulated',
    capabilities: exchange.capabilities,
    place: overrides.place ?? ((r) => exchange.place(r)),
    cancel: overrides.cancel ?? ((r) => exchange.cancel(r)),
    modify: (r) => exchange.modify(r),
    fetchOrder: overrides.fetchOrder ?? ((r) => exchange.fetchOrder(r)),
    fetchOpenOrders: (symbol) => exchange.fetchOpenOrders(symbol),
    fetchPositions: () => exchange.fetchPositions(),
    fetchPrice: (symbol) => exchange.fetchPrice(symbol),
    onReply: (listener) => exchange.onReply(listener),
  };
}

async function focusedRuntime(dataDir: string, connector: IExecutionConnector): Promise<TradingRuntime> {
  const runtime = await TradingRuntime.open({ dataDir, connector, config: RUNTIME_CONFIG, sleep: fastSleep });
  cleanups.push(() => runtime.close().catch(() => undefined));
  return runtime;
}

describe('exactly-once: focused repros (in process, injected faults)', () => {
  it('a placement whose answer was lost is not sent again while its lookup by clientOrderId fails', async () => {
    const dataDir = tempDir();
    cleanups.push(() => removeDir(dataDir));
    const exchange = new SimulatedExchange(new ManualClock(Date.UTC(2024, 0, 15, 14, 30)), { seed: 1 });
    const runtime = await focusedRuntime(dataDir, wrapped(exchange));
    exchange.injectFault('lost_reply'); // place: applied on the exchange, the answer lost (timeout)
    exchange.injectFault('timeout'); // the lookup by clientOrderId that follows fails too
    const outcome = await runtime.submit(limitEntry('focused-1'));
    await withTimeout(runtime.settled(), 20_000, 'settling');
    const order = await runtime.strategyLedger.order(outcome.order_ids[0]!);
    expect(exchange.placementsByClientOrderId().get(order!.clientOrderId)).toBe(1);
    // §3: "an order whose placement outcome is unknown is looked up on the exchange by that id
    // before anything is sent again" -- a failed lookup is no answer; placing again is a re-send.
    expect(exchange.duplicateAttempts(), 'the placement was sent again after its lookup failed').toBe(0);
    expect(order!.status).toBe('OPEN');
  });

  it('a placement left in the outbox is not sent after a restart once its order was closed as "not on the exchange"', async () => {
    const dataDir = tempDir();
    cleanups.push(() => removeDir(dataDir));
    const clock = new ManualClock(Date.UTC(2024, 0, 15, 14, 30));
    const exchange = new SimulatedExchange(clock, { seed: 1 });
    // the exchange is unreachable for placements and lookups (nothing is applied): the
    // placement's outcome stays unknown and it is left in the outbox for later
    let down = true;
    const timeout = (op: string) => Promise.reject(new ConnectorError('timeout', `${op}: no answer (test)`));
    const first = await focusedRuntime(
      dataDir,
      wrapped(exchange, {
        place: (r) => (down ? timeout('place') : exchange.place(r)),
        fetchOrder: (r) => (down ? timeout('fetchOrder') : exchange.fetchOrder(r)),
      }),
    );
    const entry = await first.submit(limitEntry('focused-2'));
    await withTimeout(first.settled(), 20_000, 'settling');
    down = false;
    const orderId = entry.order_ids[0]!;
    const clientOrderId = (await first.strategyLedger.order(orderId))!.clientOrderId;
    expect(exchange.placementsByClientOrderId().get(clientOrderId) ?? 0, 'nothing reached the exchange').toBe(0);
    expect((await first.strategyLedger.order(orderId))!.status).toBe('SUBMITTED');
    expect((await first.strategyLedger.outbox()).map((e) => e.effect.kind)).toEqual(['placeOrder']);
    // cancel it: the exchange does not know it, so the ledger closes it as "not on the exchange"
    await first.submit(cancelGroup('focused-2-cancel', entry.group_ids[0]!));
    await withTimeout(first.settled(), 20_000, 'settling');
    expect((await first.strategyLedger.order(orderId))!.status).toBe('CANCELED');
    await first.close();

    const second = await focusedRuntime(dataDir, wrapped(exchange));
    await withTimeout(second.settled(), 20_000, 'settling');
    // the order is CANCELED in the ledger: sending it now puts on the exchange an order whose
    // acks and fills the ledger refuses (they are lost; positions drift)
    expect(
      exchange.allOrders().filter((o) => o.clientOrderId === clientOrderId).map((o) => `${o.exchangeOrderId} ${o.status}`),
      'an order the ledger has CANCELED was placed on the exchange after the restart',
    ).toEqual([]);
    expect((await second.strategyLedger.order(orderId))!.status).toBe('CANCELED');
  });

  it('a fill the exchange made before it took a cancel is not lost when the cancel answers first', async () => {
    const dataDir = tempDir();
    cleanups.push(() => removeDir(dataDir));
    const clock = new ManualClock(Date.UTC(2024, 0, 15, 14, 30));
    const exchange = new SimulatedExchange(clock, { seed: 1, participation: '0.5' });
    // A real connector's cancel takes a while to reach the exchange; the private stream meanwhile
    // delivers what the exchange did before (here: a partial fill of the order being cancelled).
    let cancelStarted!: () => void;
    const started = new Promise<void>((r) => (cancelStarted = r));
    let letCancelThrough!: () => void;
    const gate = new Promise<void>((r) => (letCancelThrough = r));
    const connector = wrapped(exchange, {
      cancel: async (r) => {
        cancelStarted();
        await gate;
        return exchange.cancel(r);
      },
    });
    const runtime = await focusedRuntime(dataDir, connector);
    const entry = await runtime.submit(limitEntry('focused-3'));
    await withTimeout(runtime.settled(), 20_000, 'settling');
    const orderId = entry.order_ids[0]!;
    expect((await runtime.strategyLedger.order(orderId))!.status).toBe('OPEN');

    const cancelled = runtime.submit(cancelGroup('focused-3-cancel', entry.group_ids[0]!));
    await started; // the cancel is on its way to the exchange
    clock.advance(60_000);
    // the price comes down to the limit: 4 of 10 fill (participation 0.5 of volume 8); the fill is pushed
    exchange.onBar('AAPL', { at: clock.now(), open: '171', high: '171', low: '169', close: '170', volume: '8' });
    await sleep(20);
    letCancelThrough(); // now the exchange cancels the rest
    await cancelled;
    await withTimeout(runtime.settled(), 20_000, 'settling');
    await runtime.reconcile();
    await withTimeout(runtime.settled(), 20_000, 'settling');

    const onExchange = (await exchange.fetchOrder({ clientOrderId: (await runtime.strategyLedger.order(orderId))!.clientOrderId, exchangeOrderId: null, symbol: 'AAPL' }))!;
    expect(onExchange.status).toBe('canceled');
    expect(onExchange.trades.map((t) => `${t.tradeId} ${t.quantity}`)).toEqual(['SIM-T1 4']);
    const order = (await runtime.strategyLedger.order(orderId))!;
    expect(order.status).toBe('CANCELED');
    expect(
      (await runtime.strategyLedger.fillsOfOrder(orderId)).map((f) => `${f.tradeId} ${f.quantity}`),
      `the fill the exchange made before the cancel is missing (anomalies: ${JSON.stringify((await runtime.strategyLedger.anomalies()).map((a) => a.detail))})`,
    ).toEqual(['SIM-T1 4']);
    expect(order.filledQuantity).toBe('4');
  });
});

afterAll(() => {
  for (const child of children) if (alive(child) && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
});
