/**
 * Helpers for the StrategyJournal tests: a TradingRuntime on a temp dir with a SimulatedExchange,
 * a ManualClock and seeded ids; directives with causality (origin, signals, risks); bars; and
 * store scans.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TradingRuntime } from '../../actors/runtime.js';
import type { Area, Store } from '../../storage/store.js';
import { ManualClock } from '../../src/domain/clock.js';
import { seededIdSource } from '../../src/domain/ids.js';
import type { IExecutionConnector } from '../../src/connectors/connector.js';
import { SimulatedExchange, type SimulatedExchangeOptions } from '../../src/connectors/simulated-exchange.js';

export const T0 = Date.UTC(2025, 0, 2, 14, 30, 0);
export const iso = (ms: number) => new Date(ms).toISOString();

const dirs: string[] = [];
const opened: TradingRuntime[] = [];

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ts-journal-'));
  dirs.push(dir);
  return dir;
}

export interface Harness {
  readonly dir: string;
  readonly clock: ManualClock;
  readonly exchange: SimulatedExchange;
  runtime: TradingRuntime;
  /** Closes the runtime and opens another on the same dir, exchange and clock. */
  restart(): Promise<TradingRuntime>;
}

export async function openHarness(
  options: { exchange?: SimulatedExchangeOptions; wrap?: (e: SimulatedExchange) => IExecutionConnector; seed?: number } = {},
): Promise<Harness> {
  const dir = tempDir();
  const clock = new ManualClock(T0);
  const exchange = new SimulatedExchange(clock, { seed: 1, makerBps: 5, takerBps: 10, ...options.exchange });
  const connector = options.wrap ? options.wrap(exchange) : exchange;
  let seed = options.seed ?? 7;
  const open = async () => {
    const runtime = await TradingRuntime.open({ dataDir: dir, connector, clock, ids: seededIdSource(seed), sleep: async () => {} });
    seed += 1000;
    opened.push(runtime);
    return runtime;
  };
  const h: Harness = {
    dir,
    clock,
    exchange,
    runtime: await open(),
    async restart() {
      await h.runtime.settled();
      await h.runtime.close();
      h.runtime = await open();
      return h.runtime;
    },
  };
  return h;
}

export async function cleanup(): Promise<void> {
  for (const r of opened.splice(0)) if (r.strategyLedger.store.isOpen) await r.close().catch(() => {});
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Advances the clock a minute and feeds one bar. */
export function bar(h: { clock: ManualClock; exchange: SimulatedExchange }, o: string, hi: string, lo: string, c: string, symbol = 'AAPL'): void {
  h.clock.advance(60_000);
  h.exchange.onBar(symbol, { at: h.clock.now(), open: o, high: hi, low: lo, close: c, volume: '1000000' });
}

export function flat(h: { clock: ManualClock; exchange: SimulatedExchange }, price: string, symbol = 'AAPL'): void {
  bar(h, price, price, price, price, symbol);
}

// ---- causality ----------------------------------------------------------------------------------

export const RSI = { id: 'sig-rsi-oversold', type: 'rsi_oversold', description: 'RSI(14) crossed below 30', data: { rsi: '27.4', period: 14 } };
export const BREAKOUT = { id: 'sig-breakout', type: 'breakout', description: 'close above the 20-bar high' };
export const VOL_OK = { id: 'risk-vol-ok', type: 'volatility', description: 'ATR within budget', data: { atr: '1.9' } };
export const EXPOSURE = { id: 'risk-max-exposure', type: 'max_exposure', description: 'AAPL exposure would exceed 20% of equity' };

export function tickCausality(tick: string, signals: (typeof RSI | typeof BREAKOUT)[], risks: (typeof VOL_OK | typeof EXPOSURE)[], at = iso(T0)) {
  return {
    origin: { type: 'TICK' as const, id: tick, at },
    signal_ids: signals.map((s) => s.id),
    risk_ids: risks.map((r) => r.id),
    strategy_directive_id: `sd-${tick}`,
    signals,
    risks,
  };
}

export function entryDirective(
  id: string,
  causality: ReturnType<typeof tickCausality> | { origin: { type: 'TICK' | 'NEWS' | 'SCHEDULE' | 'MANUAL'; id: string; at: string } },
  o: { orderType?: 'MARKET' | 'LIMIT' | 'STOP'; limit?: string; stop?: string; reference?: string; size?: string; sl?: string; tp?: string; direction?: 'BUY' | 'SELL'; symbol?: string } = {},
) {
  return {
    directive_id: id,
    causality,
    scope: 'NEW_TRADE' as const,
    strategy_instance_id: 'mean-reversion',
    rationale: 'oversold bounce',
    entry_plan: {
      symbol: o.symbol ?? 'AAPL',
      direction: o.direction ?? 'BUY',
      order_type: o.orderType ?? 'MARKET',
      ...(o.limit ? { limit_price: o.limit } : {}),
      ...(o.stop ? { stop_price: o.stop } : {}),
      ...(o.reference ? { reference_price: o.reference } : {}),
    },
    size_plan: { position_size: o.size ?? '10' },
    ...(o.sl || o.tp ? { exit_plan: { ...(o.sl ? { stop_loss_price: o.sl } : {}), ...(o.tp ? { take_profit_price: o.tp } : {}) } } : {}),
    execution_plan: { action: 'EXECUTE_TRADE' as const, execution_strategy: 'SINGLE' as const },
  };
}

export function closeDirective(id: string, planId: string, causality: { origin: { type: 'TICK' | 'NEWS' | 'SCHEDULE' | 'MANUAL'; id: string; at: string } } & Record<string, unknown>) {
  return { directive_id: id, causality, scope: 'CLOSE_EXISTING' as const, target_plan_id: planId, execution_plan: { action: 'EXECUTE_TRADE' as const } };
}

// ---- store --------------------------------------------------------------------------------------

export async function entriesOf(store: Store, area: Area): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const [k, v] of store.entries(area)) out.push([k, v]);
  return out;
}

/** Every key (at any depth) of a JSON value. */
export function keysDeep(value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) keysDeep(v, out);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.add(k);
      keysDeep(v, out);
    }
  }
  return out;
}

export async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// ---- a connector that can hang cancels and drop a dead runtime's reply listeners ---------------

/**
 * Forwards to a SimulatedExchange. While `holdCancels` is set, cancel calls never return (the
 * order stays working on the exchange): a runtime can be "crashed" mid-close by closing its
 * ledger under it. `dropListeners()` detaches the reply listeners registered so far.
 */
export class GatedConnector {
  holdCancels = false;
  private listeners = new Set<(reply: ExchangeReplyOf) => void>();
  readonly connector: IExecutionConnector;

  constructor(exchange: SimulatedExchange) {
    exchange.onReply((reply) => {
      for (const l of [...this.listeners]) l(reply);
    });
    const overrides: Record<string, unknown> = {
      name: 'gated',
      onReply: (listener: (reply: ExchangeReplyOf) => void) => {
        this.listeners.add(listener);
        return () => this.listeners.delete(listener);
      },
      cancel: (request: Parameters<IExecutionConnector['cancel']>[0]) =>
        this.holdCancels ? new Promise<void>(() => {}) : exchange.cancel(request),
    };
    this.connector = new Proxy(exchange as IExecutionConnector, {
      get: (target, prop) => {
        if (typeof prop === 'string' && prop in overrides) return overrides[prop];
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  dropListeners(): void {
    this.listeners.clear();
  }
}
type ExchangeReplyOf = Parameters<Parameters<IExecutionConnector['onReply']>[0]>[0];

/** Opens another runtime on a harness's dir while the previous one is dead (its ledger closed). */
export async function openAgain(h: Harness, connector: IExecutionConnector, seed: number): Promise<TradingRuntime> {
  const runtime = await TradingRuntime.open({ dataDir: h.dir, connector, clock: h.clock, ids: seededIdSource(seed), sleep: async () => {} });
  opened.push(runtime);
  h.runtime = runtime;
  return runtime;
}
