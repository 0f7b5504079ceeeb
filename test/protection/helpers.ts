/**
 * Helpers for the protection / position tests: a TradingRuntime on a temp dir with a
 * SimulatedExchange and a ManualClock, directive builders, bars, and views of the protection
 * orders in the ledger and on the exchange.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TradingRuntime, type OpenRuntimeOptions } from '../../actors/runtime.js';
import type { ReadonlyDeep } from '../../actors/ledger.js';
import { SimulatedExchange, type SimulatedExchangeOptions } from '../../src/connectors/simulated-exchange.js';
import type { ExchangeOrder, ExchangeReply, IExecutionConnector } from '../../src/connectors/connector.js';
import { ManualClock } from '../../src/domain/clock.js';
import { D, str } from '../../src/domain/decimal.js';
import { seededIdSource } from '../../src/domain/ids.js';
import type { Order, OrderRole } from '../../src/domain/schemas.js';

export const T0 = Date.UTC(2025, 2, 3, 14, 30, 0);
export const SYMBOL = 'AAPL';

const dirs: string[] = [];
const opened: TradingRuntime[] = [];

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ts-prot-'));
  dirs.push(dir);
  return dir;
}

export interface Harness {
  readonly dir: string;
  readonly clock: ManualClock;
  readonly exchange: SimulatedExchange;
  runtime: TradingRuntime;
  /** Closes the runtime (unless already closed) and opens a new one on the same dir, exchange and clock. */
  reopen(): Promise<TradingRuntime>;
}

export interface HarnessOptions {
  readonly exchange?: SimulatedExchangeOptions;
  readonly monitors?: OpenRuntimeOptions['monitors'];
  readonly seed?: number;
  readonly clock?: ManualClock;
  /** Wraps the exchange; the runtime talks to what this returns. */
  readonly wrap?: (exchange: SimulatedExchange) => IExecutionConnector;
}

export async function openHarness(o: HarnessOptions = {}): Promise<Harness> {
  const dir = tempDir();
  const clock = o.clock ?? new ManualClock(T0);
  const exchange = new SimulatedExchange(clock, { seed: 1, ...o.exchange });
  const connector = o.wrap ? o.wrap(exchange) : exchange;
  let seed = o.seed ?? 5;
  const open = async () => {
    const runtime = await TradingRuntime.open({
      dataDir: dir,
      connector,
      clock,
      ids: seededIdSource(seed++),
      sleep: async () => {},
      ...(o.monitors ? { monitors: o.monitors } : {}),
    });
    opened.push(runtime);
    return runtime;
  };
  const h: Harness = {
    dir,
    clock,
    exchange,
    runtime: await open(),
    reopen: async () => {
      if (h.runtime.strategyLedger.store.isOpen) await h.runtime.close();
      h.runtime = await open();
      return h.runtime;
    },
  };
  return h;
}

/** Closes every runtime opened by the helpers and removes their temp dirs (afterEach). */
export async function cleanup(): Promise<void> {
  for (const r of opened.splice(0)) {
    if (r.strategyLedger.store.isOpen) await r.close().catch(() => {});
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

// ---- directives ---------------------------------------------------------------------------------

const causality = (id: string) => ({ origin: { type: 'MANUAL' as const, id: `test-${id}`, at: new Date(T0).toISOString() } });

export interface ExitLevels {
  readonly sl?: string;
  readonly tp?: string;
  readonly trail?: string;
}

function exitPlan(x: ExitLevels) {
  return {
    ...(x.sl !== undefined ? { stop_loss_price: x.sl } : {}),
    ...(x.tp !== undefined ? { take_profit_price: x.tp } : {}),
    ...(x.trail !== undefined ? { trailing_offset: x.trail } : {}),
  };
}

export function newTrade(id: string, o: { size?: string; direction?: 'BUY' | 'SELL'; symbol?: string; exit?: ExitLevels; limit?: string } = {}) {
  return {
    directive_id: id,
    causality: causality(id),
    scope: 'NEW_TRADE' as const,
    entry_plan: {
      symbol: o.symbol ?? SYMBOL,
      direction: o.direction ?? 'BUY',
      order_type: o.limit !== undefined ? ('LIMIT' as const) : ('MARKET' as const),
      ...(o.limit !== undefined ? { limit_price: o.limit } : {}),
    },
    size_plan: { position_size: o.size ?? '10' },
    ...(o.exit ? { exit_plan: exitPlan(o.exit) } : {}),
    execution_plan: { action: 'EXECUTE_TRADE' as const },
  };
}

/** MODIFY_EXISTING + MODIFY_ORDERS on a group with new exit levels. */
export function modifyExits(id: string, groupId: string, x: ExitLevels) {
  return {
    directive_id: id,
    causality: causality(id),
    scope: 'MODIFY_EXISTING' as const,
    target_group_id: groupId,
    exit_plan: exitPlan(x),
    execution_plan: { action: 'MODIFY_ORDERS' as const },
  };
}

export function closePlan(id: string, planId: string) {
  return {
    directive_id: id,
    causality: causality(id),
    scope: 'CLOSE_EXISTING' as const,
    target_plan_id: planId,
    execution_plan: { action: 'EXECUTE_TRADE' as const },
  };
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
export function bar(h: { clock: ManualClock; exchange: SimulatedExchange }, spec: BarSpec, symbol = SYMBOL): void {
  h.clock.advance(60_000);
  h.exchange.onBar(symbol, { at: h.clock.now(), volume: spec.volume ?? '1000000', ...spec });
}

export function flatBar(h: { clock: ManualClock; exchange: SimulatedExchange }, price: string, volume?: string, symbol = SYMBOL): void {
  bar(h, { open: price, high: price, low: price, close: price, ...(volume !== undefined ? { volume } : {}) }, symbol);
}

// ---- views --------------------------------------------------------------------------------------

export async function ordersOfPlan(runtime: TradingRuntime, planId: string): Promise<ReadonlyDeep<Order>[]> {
  const groups = await runtime.ledger.groupsOfPlan(planId);
  return (await Promise.all(groups.map((g) => runtime.ledger.ordersOfGroup(g.groupId)))).flat();
}

const LIVE: readonly Order['status'][] = ['PENDING', 'SUBMITTED', 'OPEN', 'PARTIALLY_FILLED', 'PENDING_UPDATE', 'PENDING_CANCEL'];

/** Ledger orders of a role that are still working. */
export async function liveOrders(runtime: TradingRuntime, planId: string, role: OrderRole): Promise<ReadonlyDeep<Order>[]> {
  return (await ordersOfPlan(runtime, planId)).filter((o) => o.role === role && LIVE.includes(o.status));
}

/** The exchange's view of a ledger order. */
export function onExchange(exchange: SimulatedExchange, clientOrderId: string): ExchangeOrder | undefined {
  return exchange.allOrders().find((o) => o.clientOrderId === clientOrderId);
}

export function remaining(o: { quantity: string; filled: string }): string {
  return str(new D(o.quantity).minus(o.filled));
}

/** Open exchange orders by type (STOP = stop-loss, LIMIT = take-profit for these tests). */
export function openOnExchange(exchange: SimulatedExchange, orderType?: ExchangeOrder['orderType']): ExchangeOrder[] {
  return exchange.allOrders().filter((o) => o.status === 'open' && (orderType === undefined || o.orderType === orderType));
}

export async function exchangeNet(exchange: SimulatedExchange, symbol = SYMBOL): Promise<string> {
  return (await exchange.fetchPositions()).find((p) => p.symbol === symbol)?.quantity ?? '0';
}

// ---- reply holding ------------------------------------------------------------------------------

/**
 * A connector in front of a SimulatedExchange that holds back the replies `hold` picks (in
 * arrival order) until `release()`; every other reply and every call pass straight through.
 * Makes the order in which the runtime applies two replies of one exchange event deterministic.
 */
export class HoldingConnector {
  readonly connector: IExecutionConnector;
  readonly held: ExchangeReply[] = [];
  hold: (reply: ExchangeReply) => boolean = () => false;
  private readonly listeners = new Set<(reply: ExchangeReply) => void>();

  constructor(readonly exchange: SimulatedExchange) {
    exchange.onReply((reply) => {
      if (this.hold(reply)) this.held.push(reply);
      else this.push(reply);
    });
    const onReply = (listener: (reply: ExchangeReply) => void) => {
      const wrapped = (reply: ExchangeReply) => listener(reply);
      this.listeners.add(wrapped);
      return () => void this.listeners.delete(wrapped);
    };
    this.connector = new Proxy(exchange as IExecutionConnector, {
      get: (target, prop) => {
        if (prop === 'onReply') return onReply;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  private push(reply: ExchangeReply): void {
    for (const l of [...this.listeners]) l(reply);
  }

  release(): void {
    this.hold = () => false;
    for (const r of this.held.splice(0)) this.push(r);
  }
}
