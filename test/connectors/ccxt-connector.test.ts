import { afterEach, describe, expect, it } from 'vitest';
import {
  CcxtConnector,
  ccxtErrorKind,
  numToDecimal,
  type CcxtExchangeLike,
  type CcxtOrderLike,
  type CcxtParams,
  type CcxtTradeLike,
} from '../../src/connectors/ccxt-connector.js';
import { ConnectorError, type ExchangeReply, type PlaceRequest } from '../../src/connectors/connector.js';
import { cleanup, newTrade, T0, tempDir } from '../runtime/helpers.js';
import { TradingRuntime } from '../../actors/runtime.js';
import { ManualClock } from '../../src/domain/clock.js';
import { seededIdSource } from '../../src/domain/ids.js';

// ---- ccxt-like error classes (named like ccxt's, same hierarchy) -------------------------------
class BaseError extends Error {}
class ExchangeError extends BaseError {}
class AuthenticationError extends ExchangeError {}
class InvalidOrder extends ExchangeError {}
class OrderNotFound extends InvalidOrder {}
class DuplicateOrderId extends InvalidOrder {}
class InsufficientFunds extends ExchangeError {}
class BadSymbol extends ExchangeError {}
class OperationFailed extends BaseError {}
class NetworkError extends OperationFailed {}
class RequestTimeout extends NetworkError {}
class RateLimitExceeded extends NetworkError {}
class DDoSProtection extends NetworkError {}
class ExchangeNotAvailable extends NetworkError {}
class OnMaintenance extends ExchangeNotAvailable {}
class InvalidNonce extends NetworkError {}

const SECRET = 'not-a-real-secret-9f8e7d';
const API_KEY = 'not-a-real-key-abc123';

interface Call {
  readonly method: string;
  readonly args: unknown[];
}

/** A fake ccxt exchange: records calls, keeps orders, fills market orders at once when asked. */
class FakeExchange implements CcxtExchangeLike {
  readonly id = 'fakex';
  readonly apiKey = API_KEY;
  readonly secret = SECRET;
  has: Record<string, boolean | string | undefined> = {
    fetchOrder: true,
    editOrder: true,
    createStopMarketOrder: true,
    createStopLimitOrder: true,
    fetchMyTrades: true,
    fetchPositions: false,
  };
  readonly calls: Call[] = [];
  readonly orders: CcxtOrderLike[] = [];
  nativeClientLookup = true;
  fillMarketAt: number | null = null;
  failNext: Error | null = null;
  myTrades: CcxtTradeLike[] = [];
  balanceTotal: Record<string, number> = {};
  private next = 1;

  private record(method: string, args: unknown[]): void {
    this.calls.push({ method, args });
    const f = this.failNext;
    if (f) {
      this.failNext = null;
      throw f;
    }
  }

  async createOrder(symbol: string, type: string, side: string, amount: number, price?: number, params?: CcxtParams): Promise<CcxtOrderLike> {
    this.record('createOrder', [symbol, type, side, amount, price, params]);
    const id = `X${this.next++}`;
    const fill = type === 'market' && params?.['triggerPrice'] === undefined ? this.fillMarketAt : null;
    const order: CcxtOrderLike = {
      id,
      clientOrderId: typeof params?.['clientOrderId'] === 'string' ? params['clientOrderId'] : null,
      symbol,
      type,
      side,
      amount,
      price: price ?? null,
      triggerPrice: typeof params?.['triggerPrice'] === 'number' ? params['triggerPrice'] : null,
      status: fill === null ? 'open' : 'closed',
      filled: fill === null ? 0 : amount,
      trades:
        fill === null
          ? []
          : [{ id: `T-${id}`, order: id, symbol, side, amount, price: fill, fee: { cost: 0.1 + 0.2, currency: 'USD' }, takerOrMaker: 'taker', timestamp: T0 }],
      timestamp: T0,
    };
    this.orders.push(order);
    return { id, status: 'open' };
  }

  async cancelOrder(id: string, symbol?: string, params?: CcxtParams): Promise<unknown> {
    this.record('cancelOrder', [id, symbol, params]);
    const i = this.orders.findIndex((o) => o.id === id);
    const o = this.orders[i];
    if (!o || o.status !== 'open') throw new OrderNotFound(`fakex order ${id} not found`);
    this.orders[i] = { ...o, status: 'canceled' };
    return this.orders[i];
  }

  async editOrder(id: string, symbol: string, type: string, side: string, amount?: number, price?: number, params?: CcxtParams): Promise<CcxtOrderLike> {
    this.record('editOrder', [id, symbol, type, side, amount, price, params]);
    return { id };
  }

  async fetchOrder(id: string | undefined, symbol?: string, params?: CcxtParams): Promise<CcxtOrderLike> {
    this.record('fetchOrder', [id, symbol, params]);
    const cid = params?.['clientOrderId'];
    const found =
      id !== undefined
        ? this.orders.find((o) => o.id === id)
        : this.nativeClientLookup && typeof cid === 'string'
          ? this.orders.find((o) => o.clientOrderId === cid)
          : undefined;
    if (!found) throw new OrderNotFound(`fakex: order ${String(id)} does not exist`);
    return found;
  }

  async fetchOpenOrders(symbol?: string): Promise<readonly CcxtOrderLike[]> {
    this.record('fetchOpenOrders', [symbol]);
    return this.orders.filter((o) => o.status === 'open' && (symbol === undefined || o.symbol === symbol));
  }

  async fetchClosedOrders(symbol?: string): Promise<readonly CcxtOrderLike[]> {
    this.record('fetchClosedOrders', [symbol]);
    return this.orders.filter((o) => o.status !== 'open' && (symbol === undefined || o.symbol === symbol));
  }

  async fetchMyTrades(symbol?: string): Promise<readonly CcxtTradeLike[]> {
    this.record('fetchMyTrades', [symbol]);
    return this.myTrades;
  }

  async fetchBalance(): Promise<{ total: Record<string, number> }> {
    this.record('fetchBalance', []);
    return { total: this.balanceTotal };
  }

  async fetchTicker(symbol: string): Promise<{ last: number; bid: number; ask: number; timestamp: number }> {
    this.record('fetchTicker', [symbol]);
    return { last: 100.1 + 0.2, bid: 100.2, ask: 100.4, timestamp: T0 };
  }
}

const req = (o: Partial<PlaceRequest> = {}): PlaceRequest => ({
  clientOrderId: 'c-1',
  symbol: 'BTC/USDT',
  side: 'BUY',
  orderType: 'MARKET',
  quantity: '0.5',
  price: null,
  stopPrice: null,
  timeInForce: 'GTC',
  ...o,
});

const lastCall = (ex: FakeExchange, method: string) => ex.calls.filter((c) => c.method === method).at(-1)?.args;

afterEach(cleanup);

describe('CcxtConnector place', () => {
  it('maps each order type to ccxt type, price and params with the clientOrderId', async () => {
    const ex = new FakeExchange();
    const c = new CcxtConnector(ex);
    expect(c.capabilities).toEqual({ modify: true, oco: false, orderTypes: ['MARKET', 'LIMIT', 'STOP', 'STOP_LIMIT'] });

    expect(await c.place(req())).toEqual({ exchangeOrderId: 'X1' });
    expect(lastCall(ex, 'createOrder')).toEqual(['BTC/USDT', 'market', 'buy', 0.5, undefined, { clientOrderId: 'c-1' }]);

    await c.place(req({ clientOrderId: 'c-2', orderType: 'LIMIT', price: '101.5', side: 'SELL', timeInForce: 'IOC' }));
    expect(lastCall(ex, 'createOrder')).toEqual(['BTC/USDT', 'limit', 'sell', 0.5, 101.5, { clientOrderId: 'c-2', timeInForce: 'IOC' }]);

    await c.place(req({ clientOrderId: 'c-3', orderType: 'STOP', stopPrice: '95' }));
    expect(lastCall(ex, 'createOrder')).toEqual(['BTC/USDT', 'market', 'buy', 0.5, undefined, { clientOrderId: 'c-3', triggerPrice: 95, stopPrice: 95 }]);

    await c.place(req({ clientOrderId: 'c-4', orderType: 'STOP_LIMIT', stopPrice: '95', price: '96', timeInForce: 'GTC' }));
    expect(lastCall(ex, 'createOrder')).toEqual([
      'BTC/USDT',
      'limit',
      'buy',
      0.5,
      96,
      { clientOrderId: 'c-4', triggerPrice: 95, stopPrice: 95, timeInForce: 'GTC' },
    ]);

    await c.place(req({ clientOrderId: 'c-5', timeInForce: 'FOK' }));
    expect(lastCall(ex, 'createOrder')?.[5]).toEqual({ clientOrderId: 'c-5', timeInForce: 'FOK' });
  });

  it('refuses order types the exchange lacks, and capabilities follow `has`', async () => {
    const ex = new FakeExchange();
    ex.has = { fetchOrder: true, editOrder: 'emulated' };
    const c = new CcxtConnector(ex);
    expect(c.capabilities).toEqual({ modify: false, oco: false, orderTypes: ['MARKET', 'LIMIT'] });
    await expect(c.place(req({ orderType: 'STOP', stopPrice: '1' }))).rejects.toMatchObject({ kind: 'invalid_order' });
    expect(ex.calls).toHaveLength(0);
    await expect(c.modify({ clientOrderId: 'c-1', exchangeOrderId: 'X1', symbol: 'BTC/USDT', price: '1', stopPrice: null, quantity: null })).rejects.toMatchObject({
      kind: 'invalid_order',
    });
  });
});

describe('CcxtConnector errors', () => {
  const cases: [Error, string][] = [
    [new NetworkError('x'), 'network'],
    [new InvalidNonce('x'), 'network'],
    [new RequestTimeout('x'), 'timeout'],
    [new RateLimitExceeded('x'), 'rate_limit'],
    [new DDoSProtection('x'), 'rate_limit'],
    [new ExchangeNotAvailable('x'), 'exchange_unavailable'],
    [new OnMaintenance('x'), 'exchange_unavailable'],
    [new InvalidOrder('x'), 'invalid_order'],
    [new BadSymbol('x'), 'invalid_order'],
    [new InsufficientFunds('x'), 'insufficient_funds'],
    [new OrderNotFound('x'), 'order_not_found'],
    [new DuplicateOrderId('x'), 'duplicate_client_order_id'],
    [new AuthenticationError('x'), 'exchange_unavailable'],
    [new ExchangeError('x'), 'exchange_unavailable'],
  ];
  it.each(cases.map(([e, k]) => [e.constructor.name, k, e] as const))('%s -> %s', async (_name, kind, error) => {
    expect(ccxtErrorKind(error)).toBe(kind);
    const ex = new FakeExchange();
    const c = new CcxtConnector(ex);
    ex.failNext = error;
    const thrown = await c.place(req()).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(ConnectorError);
    expect((thrown as ConnectorError).kind).toBe(kind);
    expect((thrown as ConnectorError).message).toContain(error.constructor.name);
  });

  it('unknown errors: network for place (outcome unknown), exchange_unavailable otherwise', async () => {
    const ex = new FakeExchange();
    const c = new CcxtConnector(ex);
    ex.failNext = new TypeError('boom');
    await expect(c.place(req())).rejects.toMatchObject({ kind: 'network' });
    ex.failNext = new TypeError('boom');
    await expect(c.fetchPrice('BTC/USDT')).rejects.toMatchObject({ kind: 'exchange_unavailable' });
  });

  it('never exposes credentials in errors, name or serialization', async () => {
    const ex = new FakeExchange();
    const c = new CcxtConnector(ex, { redact: [API_KEY, SECRET] });
    ex.failNext = new AuthenticationError(`fakex {"apiKey":"${API_KEY}","secret":"${SECRET}"} signature invalid`);
    const thrown = (await c.place(req()).catch((e: unknown) => e)) as ConnectorError;
    expect(thrown.kind).toBe('exchange_unavailable');
    for (const text of [thrown.message, JSON.stringify(thrown), String(thrown.stack), JSON.stringify(c), c.name]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(API_KEY);
    }
    expect(thrown.cause).toBeUndefined();
    expect(JSON.parse(JSON.stringify(c))).toEqual({ name: 'ccxt:fakex', capabilities: c.capabilities });
  });

  it('create() instantiates the real ccxt class with the credentials and keeps them out of JSON', async () => {
    const c = await CcxtConnector.create('binance', { apiKey: API_KEY, secret: SECRET });
    expect(c.name).toBe('ccxt:binance');
    expect(JSON.stringify(c)).not.toContain(SECRET);
    expect(JSON.stringify(c)).not.toContain(API_KEY);
    expect(c.capabilities.oco).toBe(false);
    await expect(CcxtConnector.create('no_such_exchange', { apiKey: API_KEY, secret: SECRET })).rejects.toMatchObject({ kind: 'invalid_order' });
  });
});

describe('CcxtConnector fetchOrder', () => {
  it('finds an order by clientOrderId with the native param', async () => {
    const ex = new FakeExchange();
    ex.fillMarketAt = 0.1 + 0.2;
    const c = new CcxtConnector(ex);
    await c.place(req({ quantity: '0.3' }));
    const fresh = new CcxtConnector(ex); // no memory of the placement
    const order = await fresh.fetchOrder({ clientOrderId: 'c-1', exchangeOrderId: null, symbol: 'BTC/USDT' });
    expect(lastCall(ex, 'fetchOrder')).toEqual([undefined, 'BTC/USDT', { clientOrderId: 'c-1', origClientOrderId: 'c-1' }]);
    expect(ex.calls.some((x) => x.method === 'fetchClosedOrders')).toBe(false);
    expect(order).toEqual({
      clientOrderId: 'c-1',
      exchangeOrderId: 'X1',
      symbol: 'BTC/USDT',
      side: 'BUY',
      orderType: 'MARKET',
      status: 'filled',
      quantity: '0.3',
      filled: '0.3',
      price: null,
      stopPrice: null,
      reason: null,
      trades: [
        {
          tradeId: 'T-X1',
          clientOrderId: 'c-1',
          exchangeOrderId: 'X1',
          symbol: 'BTC/USDT',
          side: 'BUY',
          quantity: '0.3',
          price: '0.3',
          fee: '0.3',
          feeCurrency: 'USD',
          liquidity: 'TAKER',
          at: new Date(T0).toISOString(),
        },
      ],
    });
  });

  it('falls back to searching open and closed orders when the native lookup finds nothing', async () => {
    const ex = new FakeExchange();
    ex.nativeClientLookup = false;
    const c = new CcxtConnector(ex);
    await c.place(req({ clientOrderId: 'open-1', orderType: 'LIMIT', price: '10' }));
    ex.fillMarketAt = 11;
    await c.place(req({ clientOrderId: 'done-1' }));
    const fresh = new CcxtConnector(ex);
    const open = await fresh.fetchOrder({ clientOrderId: 'open-1', exchangeOrderId: null, symbol: 'BTC/USDT' });
    expect(open).toMatchObject({ exchangeOrderId: 'X1', status: 'open', orderType: 'LIMIT', price: '10', filled: '0', trades: [] });
    const done = await fresh.fetchOrder({ clientOrderId: 'done-1', exchangeOrderId: null, symbol: 'BTC/USDT' });
    expect(done).toMatchObject({ exchangeOrderId: 'X2', status: 'filled', filled: '0.5' });
    expect(ex.calls.some((x) => x.method === 'fetchClosedOrders')).toBe(true);
    expect(await fresh.fetchOrder({ clientOrderId: 'nope', exchangeOrderId: null, symbol: 'BTC/USDT' })).toBeNull();
  });

  it("lookup 'search' never uses fetchOrder; unknown ids are null", async () => {
    const ex = new FakeExchange();
    const c = new CcxtConnector(ex, { clientOrderIdLookup: 'search' });
    await new CcxtConnector(ex).place(req({ clientOrderId: 'a', orderType: 'LIMIT', price: '10' }));
    expect(await c.fetchOrder({ clientOrderId: 'a', exchangeOrderId: null, symbol: 'BTC/USDT' })).toMatchObject({ exchangeOrderId: 'X1' });
    expect(await c.fetchOrder({ clientOrderId: 'b', exchangeOrderId: null, symbol: 'BTC/USDT' })).toBeNull();
    expect(ex.calls.filter((x) => x.method === 'fetchOrder')).toHaveLength(0);
  });

  it('maps statuses; closed with a partial fill is canceled; trades come from fetchMyTrades by order id', async () => {
    const ex = new FakeExchange();
    const c = new CcxtConnector(ex, { clientOrderIdLookup: 'search' });
    const base = { symbol: 'ETH/USDT', side: 'sell', type: 'limit', price: 2000.1, amount: 1, timestamp: T0 };
    ex.orders.push(
      { ...base, id: 'E1', clientOrderId: 'o1', status: 'canceled', filled: 0 },
      { ...base, id: 'E2', clientOrderId: 'o2', status: 'rejected', filled: 0 },
      { ...base, id: 'E3', clientOrderId: 'o3', status: 'expired', filled: 0 },
      { ...base, id: 'E4', clientOrderId: 'o4', status: 'closed', filled: 0.1 + 0.2, amount: 0.7 },
      { ...base, id: 'E5', clientOrderId: 'o5', status: 'closed', filled: 0.7, amount: 0.7 },
    );
    ex.myTrades = [
      { id: 't1', order: 'E4', amount: 0.1, price: 2000.1, fee: { cost: 0.0001, currency: 'USDT' }, takerOrMaker: 'maker', timestamp: T0 },
      { id: 't2', order: 'E4', amount: 0.2, price: 2000.1, fee: { cost: 0.0002, currency: 'USDT' }, takerOrMaker: 'maker', timestamp: T0 },
      { id: 't3', order: 'OTHER', amount: 5, price: 1, timestamp: T0 },
    ];
    const get = (id: string) => c.fetchOrder({ clientOrderId: id, exchangeOrderId: null, symbol: 'ETH/USDT' });
    expect((await get('o1'))?.status).toBe('canceled');
    expect((await get('o2'))?.status).toBe('rejected');
    expect((await get('o3'))?.status).toBe('expired');
    const partial = await get('o4');
    expect(partial).toMatchObject({ status: 'canceled', filled: '0.3', quantity: '0.7', side: 'SELL', orderType: 'LIMIT', price: '2000.1' });
    expect(partial?.trades.map((t) => [t.tradeId, t.quantity, t.price, t.fee, t.liquidity])).toEqual([
      ['t1', '0.1', '2000.1', '0.0001', 'MAKER'],
      ['t2', '0.2', '2000.1', '0.0002', 'MAKER'],
    ]);
    ex.has = { ...ex.has, fetchMyTrades: false };
    const full = await get('o5');
    expect(full).toMatchObject({ status: 'filled', filled: '0.7' });
    expect(full?.trades).toMatchObject([{ tradeId: 'E5#fill', quantity: '0.7', price: '2000.1' }]);
  });
});

describe('CcxtConnector other calls', () => {
  it('cancel, modify, open orders, price, positions', async () => {
    const ex = new FakeExchange();
    const c = new CcxtConnector(ex);
    await c.place(req({ orderType: 'LIMIT', price: '10' }));
    await c.modify({ clientOrderId: 'c-1', exchangeOrderId: 'X1', symbol: 'BTC/USDT', price: '10.5', stopPrice: null, quantity: null });
    expect(lastCall(ex, 'editOrder')).toEqual(['X1', 'BTC/USDT', 'limit', 'buy', 0.5, 10.5, {}]);
    expect(await c.fetchOpenOrders()).toMatchObject([{ clientOrderId: 'c-1', exchangeOrderId: 'X1', status: 'open' }]);
    await c.cancel({ clientOrderId: 'c-1', exchangeOrderId: null, symbol: 'BTC/USDT' });
    expect(lastCall(ex, 'cancelOrder')?.slice(0, 2)).toEqual(['X1', 'BTC/USDT']);
    await expect(c.cancel({ clientOrderId: 'c-1', exchangeOrderId: 'X1', symbol: 'BTC/USDT' })).rejects.toMatchObject({ kind: 'order_not_found' });

    expect(await c.fetchPrice('BTC/USDT')).toEqual({ last: '100.3', bid: '100.2', ask: '100.4', at: new Date(T0).toISOString() });

    ex.balanceTotal = { BTC: 0.1 + 0.2, USDT: 1000 };
    expect(await c.fetchPositions()).toEqual([{ symbol: 'BTC/USDT', quantity: '0.3' }]);

    ex.has = { ...ex.has, fetchPositions: true };
    Object.assign(ex, {
      fetchPositions: async () => [
        { symbol: 'BTC/USDT:USDT', contracts: 3, contractSize: 0.001, side: 'short' },
        { symbol: 'ETH/USDT:USDT', contracts: 0, contractSize: 1, side: 'long' },
      ],
    });
    expect(await c.fetchPositions()).toEqual([{ symbol: 'BTC/USDT:USDT', quantity: '-0.003' }]);
  });

  it('numToDecimal trims float noise', () => {
    expect(numToDecimal(0.1 + 0.2)).toBe('0.3');
    expect(numToDecimal(1e-8)).toBe('0.00000001');
    expect(numToDecimal(123456.789)).toBe('123456.789');
    expect(numToDecimal(Number.NaN)).toBeNull();
    expect(numToDecimal(undefined)).toBeNull();
  });

  it('turns a watchOrders stream into ack / fill / canceled replies, each once', async () => {
    const ex = new FakeExchange();
    const batches: CcxtOrderLike[][] = [];
    let wake: (() => void) | null = null;
    Object.assign(ex, {
      watchOrders: async (): Promise<CcxtOrderLike[]> => {
        while (batches.length === 0) await new Promise<void>((r) => (wake = r));
        return batches.shift() ?? [];
      },
    });
    const c = new CcxtConnector(ex);
    await c.place(req({ orderType: 'LIMIT', price: '10', quantity: '1' }));
    const replies: ExchangeReply[] = [];
    const off = c.onReply((r) => replies.push(r));
    const o = { id: 'X1', clientOrderId: 'c-1', symbol: 'BTC/USDT', side: 'buy', type: 'limit', amount: 1, price: 10, timestamp: T0 };
    const trade = { id: 'tA', order: 'X1', amount: 0.4, price: 10, timestamp: T0 };
    const push = async (batch: CcxtOrderLike[]) => {
      batches.push(batch);
      (wake as (() => void) | null)?.();
      await new Promise((r) => setTimeout(r, 5));
    };
    await push([{ ...o, status: 'open', filled: 0 }]);
    await push([{ ...o, status: 'open', filled: 0.4, trades: [trade] }]);
    await push([{ ...o, status: 'canceled', filled: 0.4, trades: [trade] }]);
    off();
    await push([]);
    expect(replies.map((r) => r.type)).toEqual(['ack', 'fill', 'canceled']);
    expect(replies[1]).toMatchObject({ type: 'fill', trade: { tradeId: 'tA', quantity: '0.4', clientOrderId: 'c-1' } });
  });
});

describe('CcxtConnector with TradingRuntime', () => {
  it('a NEW_TRADE market order fills through reconcile', async () => {
    const ex = new FakeExchange();
    ex.fillMarketAt = 187.25;
    const connector = new CcxtConnector(ex);
    const clock = new ManualClock(T0);
    const runtime = await TradingRuntime.open({ dataDir: tempDir(), connector, clock, ids: seededIdSource(7), sleep: async () => {} });
    try {
      const outcome = await runtime.submit(newTrade('d-1', { symbol: 'AAPL', size: '10' }));
      await runtime.settled();
      expect(lastCall(ex, 'createOrder')?.slice(0, 5)).toEqual(['AAPL', 'market', 'buy', 10, undefined]);
      const orderId = outcome.order_ids[0] ?? '';
      expect((await runtime.ledger.order(orderId))?.status).toBe('OPEN');
      const report = await runtime.reconcile();
      void report;
      await runtime.settled();
      const order = await runtime.ledger.order(orderId);
      expect(order?.clientOrderId).toBe(ex.orders[0]?.clientOrderId);
      expect(await runtime.ledger.fillsOfOrder(orderId)).toHaveLength(1);
      expect(order).toMatchObject({ status: 'FILLED', filledQuantity: '10', averageFillPrice: '187.25' });
    } finally {
      await runtime.close();
    }
  });
});
