/**
 * Shared helpers for the runtime integration tests: a TradingRuntime on a temp dir with a
 * SimulatedExchange, a ManualClock and seeded ids; directive builders; bars; store dumps; and a
 * connector wrapper that counts calls, can fail them on demand and can push scripted replies.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RuntimeEvent } from '../../actors/flows.js';
import { TradingRuntime } from '../../actors/runtime.js';
import { AREAS, type Store } from '../../storage/store.js';
import { ManualClock } from '../../src/domain/clock.js';
import type { PlanExecutionConfigInput } from '../../src/domain/config.js';
import { seededIdSource } from '../../src/domain/ids.js';
import { ConnectorError, type ExchangeReply, type IExecutionConnector } from '../../src/connectors/connector.js';
import { SimulatedExchange, type SimulatedExchangeOptions } from '../../src/connectors/simulated-exchange.js';

export const T0 = Date.UTC(2025, 0, 2, 14, 30, 0);
export const ORIGIN_AT = new Date(T0).toISOString();

const dirs: string[] = [];

/** A fresh temp dir, removed by `cleanup()`. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ts-rt-'));
  dirs.push(dir);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

// ---- directives ---------------------------------------------------------------------------------

const causality = (id: string) => ({ origin: { type: 'MANUAL' as const, id: `test-${id}`, at: ORIGIN_AT } });

export interface EntryOptions {
  readonly symbol?: string;
  readonly direction?: 'BUY' | 'SELL';
  readonly orderType?: 'MARKET' | 'LIMIT' | 'STOP' | 'STOP_LIMIT';
  readonly limit?: string;
  readonly stop?: string;
  readonly size?: string;
  readonly tif?: 'GTC' | 'IOC' | 'FOK' | 'DAY';
}

export function newTrade(id: string, o: EntryOptions = {}) {
  return {
    directive_id: id,
    causality: causality(id),
    scope: 'NEW_TRADE' as const,
    entry_plan: {
      symbol: o.symbol ?? 'AAPL',
      direction: o.direction ?? 'BUY',
      order_type: o.orderType ?? 'MARKET',
      ...(o.limit !== undefined ? { limit_price: o.limit } : {}),
      ...(o.stop !== undefined ? { stop_price: o.stop } : {}),
      ...(o.tif !== undefined ? { time_in_force: o.tif } : {}),
    },
    size_plan: { position_size: o.size ?? '10' },
    execution_plan: { action: 'EXECUTE_TRADE' as const, execution_strategy: 'SINGLE' as const },
  };
}

export function modifyOrders(id: string, groupId: string, change: { limit?: string; size?: string; symbol?: string; direction?: 'BUY' | 'SELL' }) {
  return {
    directive_id: id,
    causality: causality(id),
    scope: 'MODIFY_EXISTING' as const,
    target_group_id: groupId,
    ...(change.limit !== undefined
      ? { entry_plan: { symbol: change.symbol ?? 'AAPL', direction: change.direction ?? 'BUY', limit_price: change.limit } }
      : {}),
    ...(change.size !== undefined ? { size_plan: { position_size: change.size } } : {}),
    execution_plan: { action: 'MODIFY_ORDERS' as const },
  };
}

export function cancelGroup(id: string, groupId: string) {
  return {
    directive_id: id,
    causality: causality(id),
    scope: 'MODIFY_EXISTING' as const,
    target_group_id: groupId,
    execution_plan: { action: 'CANCEL_GROUP' as const },
  };
}

export function closePlan(id: string, planId: string, action: 'EXECUTE_TRADE' | 'CANCEL_ALL_IN_PLAN') {
  return {
    directive_id: id,
    causality: causality(id),
    scope: 'CLOSE_EXISTING' as const,
    target_plan_id: planId,
    execution_plan: { action },
  };
}

// ---- runtime ------------------------------------------------------------------------------------

export interface Harness {
  readonly dir: string;
  readonly clock: ManualClock;
  readonly exchange: SimulatedExchange;
  readonly connector: IExecutionConnector;
  readonly runtime: TradingRuntime;
  /** Delays passed to the injected sleep, in order. */
  readonly sleeps: number[];
  /** Every runtime event, in publication order. */
  readonly events: RuntimeEvent[];
  /** Opens another runtime on the same dir, exchange, connector and clock (after `runtime.close()`). */
  reopen(options?: { config?: PlanExecutionConfigInput; seed?: number }): Promise<TradingRuntime>;
}

export interface HarnessOptions {
  readonly dir?: string;
  readonly clock?: ManualClock;
  readonly exchange?: SimulatedExchange;
  readonly exchangeOptions?: SimulatedExchangeOptions;
  /** Wraps the exchange (e.g. a ScriptedConnector); the runtime talks to what this returns. */
  readonly wrap?: (exchange: SimulatedExchange) => IExecutionConnector;
  readonly config?: PlanExecutionConfigInput;
  readonly seed?: number;
  /** Really wait this long in every retry sleep (default: return at once). */
  readonly realSleepMs?: number;
}

const opened: TradingRuntime[] = [];

function record(runtime: TradingRuntime, events: RuntimeEvent[]): void {
  runtime.on('TRADE_EXECUTED', (e) => events.push(e));
  runtime.on('EXECUTION_FAILED', (e) => events.push(e));
  runtime.on('FLOW_STOPPED', (e) => events.push(e));
}

export async function openHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = options.dir ?? tempDir();
  const clock = options.clock ?? new ManualClock(T0);
  const exchange = options.exchange ?? new SimulatedExchange(clock, { seed: 1, makerBps: 5, takerBps: 10, ...options.exchangeOptions });
  const connector = options.wrap ? options.wrap(exchange) : exchange;
  const sleeps: number[] = [];
  const events: RuntimeEvent[] = [];
  const sleep = async (ms: number) => {
    sleeps.push(ms);
    if (options.realSleepMs) await new Promise((r) => setTimeout(r, options.realSleepMs));
  };
  const open = async (config: PlanExecutionConfigInput | undefined, seed: number) => {
    const runtime = await TradingRuntime.open({
      dataDir: dir,
      connector,
      clock,
      ids: seededIdSource(seed),
      sleep,
      ...(config ? { config } : {}),
    });
    opened.push(runtime);
    record(runtime, events);
    return runtime;
  };
  const runtime = await open(options.config, options.seed ?? 7);
  return {
    dir,
    clock,
    exchange,
    connector,
    runtime,
    sleeps,
    events,
    reopen: (o = {}) => open(o.config ?? options.config, o.seed ?? (options.seed ?? 7) + 1000),
  };
}

/** Closes every runtime the helpers opened and removes their temp dirs (call in afterEach). */
export async function cleanup(): Promise<void> {
  for (const r of opened.splice(0)) {
    if (r.strategyLedger.store.isOpen) await r.close().catch(() => {});
  }
  for (const d of dirs.splice(0)) removeDir(d);
}

// ---- market data --------------------------------------------------------------------------------

export interface BarSpec {
  readonly open: string;
  readonly high: string;
  readonly low: string;
  readonly close: string;
  readonly volume?: string;
}

/** Advances the clock a minute and feeds one bar. */
export function bar(h: { clock: ManualClock; exchange: SimulatedExchange }, spec: BarSpec, symbol = 'AAPL'): void {
  h.clock.advance(60_000);
  h.exchange.onBar(symbol, { at: h.clock.now(), volume: spec.volume ?? '1000000', ...spec });
}

/** A bar that stays at one price. */
export function flatBar(h: { clock: ManualClock; exchange: SimulatedExchange }, price: string, symbol = 'AAPL'): void {
  bar(h, { open: price, high: price, low: price, close: price }, symbol);
}

// ---- store --------------------------------------------------------------------------------------

/** Every key of every area, as `area!key` -> raw value. */
export async function dumpStore(store: Store): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const area of AREAS) {
    for await (const [key, value] of store.entries(area)) out.set(`${area}!${key}`, value);
  }
  return out;
}

// ---- connector wrapper --------------------------------------------------------------------------

export interface CallRecord {
  readonly op: string;
  readonly clientOrderId: string | null;
}

type Failable = 'place' | 'cancel' | 'modify' | 'fetchOrder' | 'fetchOpenOrders' | 'fetchPositions';

/**
 * Wraps a SimulatedExchange; the runtime gets `connector`. Records every call; `failNext(op,
 * error)` makes the next call of that op throw without reaching the exchange; `holdReplies`
 * queues the exchange's replies until `release()` (in any order the test chooses); `push(reply)`
 * delivers any reply. Methods it does not know are forwarded to the exchange unchanged.
 */
export class ScriptedConnector {
  readonly calls: CallRecord[] = [];
  private readonly failures = new Map<string, ConnectorError[]>();
  private readonly listeners = new Set<(reply: ExchangeReply) => void>();
  /** Replies received from the exchange while held. */
  readonly held: ExchangeReply[] = [];
  /** Every reply the exchange produced (held or not). */
  readonly seen: ExchangeReply[] = [];
  holdReplies = false;
  readonly connector: IExecutionConnector;

  constructor(readonly exchange: SimulatedExchange) {
    exchange.onReply((reply) => {
      this.seen.push(reply);
      if (this.holdReplies) this.held.push(reply);
      else this.push(reply);
    });
    const clientOf = (arg: unknown) =>
      arg !== null && typeof arg === 'object' && 'clientOrderId' in arg ? String((arg as { clientOrderId: unknown }).clientOrderId) : null;
    const overrides: Record<string, unknown> = {
      name: 'scripted',
      onReply: (listener: (reply: ExchangeReply) => void) => {
        const wrapped = (reply: ExchangeReply) => listener(reply);
        this.listeners.add(wrapped);
        return () => {
          this.listeners.delete(wrapped);
        };
      },
    };
    this.connector = new Proxy(exchange as IExecutionConnector, {
      get: (target, prop) => {
        if (typeof prop === 'string' && prop in overrides) return overrides[prop];
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== 'function' || typeof prop !== 'string') return value;
        return async (...args: unknown[]) => {
          this.calls.push({ op: prop, clientOrderId: clientOf(args[0]) });
          const failure = this.failures.get(prop)?.shift();
          if (failure) throw failure;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  }

  failNext(op: Failable, error: ConnectorError, times = 1): void {
    const list = this.failures.get(op) ?? [];
    for (let i = 0; i < times; i++) list.push(error);
    this.failures.set(op, list);
  }

  count(op: Failable): number {
    return this.calls.filter((c) => c.op === op).length;
  }

  push(reply: ExchangeReply): void {
    for (const l of [...this.listeners]) l(reply);
  }

  /** Delivers held replies (all, or the ones chosen, in the order given) and stops holding. */
  release(order?: (held: readonly ExchangeReply[]) => ExchangeReply[]): void {
    const replies = order ? order([...this.held]) : [...this.held];
    this.held.length = 0;
    this.holdReplies = false;
    for (const r of replies) this.push(r);
  }
}

export { ConnectorError };

/** Waits (bounded) until `check` is true, yielding to I/O in between. */
export async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
