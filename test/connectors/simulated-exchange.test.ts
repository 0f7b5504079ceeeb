import { describe, expect, it } from 'vitest';
import { ConnectorError, type ExchangeReply, type ExchangeTrade, type PlaceRequest } from '../../src/connectors/connector.js';
import {
  SimulatedExchange,
  intrabarPath,
  type SimBar,
  type SimulatedExchangeOptions,
  type SimulatedExchangeState,
} from '../../src/connectors/simulated-exchange.js';
import { ManualClock } from '../../src/domain/clock.js';
import { D, str } from '../../src/domain/decimal.js';

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

const T0 = Date.UTC(2024, 0, 15, 14, 30); // Monday 14:30 UTC
const MINUTE = 60_000;

function setup(options: SimulatedExchangeOptions = {}) {
  const clock = new ManualClock(T0);
  const ex = new SimulatedExchange(clock, options);
  const replies: ExchangeReply[] = [];
  ex.onReply((r) => replies.push(r));
  return { clock, ex, replies };
}

let counter = 0;
function order(overrides: Partial<PlaceRequest> = {}): PlaceRequest {
  return {
    clientOrderId: `c-${++counter}`,
    symbol: 'AAPL',
    side: 'BUY',
    orderType: 'LIMIT',
    quantity: '10',
    price: '100',
    stopPrice: null,
    timeInForce: 'GTC',
    ...overrides,
  };
}

function bar(at: number, open: string, high: string, low: string, close: string, volume = '1000000'): SimBar {
  return { at, open, high, low, close, volume };
}

function fills(replies: readonly ExchangeReply[]): ExchangeTrade[] {
  return replies.flatMap((r) => (r.type === 'fill' ? [r.trade] : []));
}

function types(replies: readonly ExchangeReply[]): string[] {
  return replies.map((r) => (r.type === 'fill' ? `fill:${r.trade.clientOrderId}` : `${r.type}:${r.clientOrderId}`));
}

async function errorOf(promise: Promise<unknown>): Promise<ConnectorError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ConnectorError) return error;
    throw error;
  }
  throw new Error('expected a ConnectorError, the call succeeded');
}

function ref(clientOrderId: string, symbol = 'AAPL') {
  return { clientOrderId, exchangeOrderId: null, symbol };
}

// ---------------------------------------------------------------------------------------------
// intrabar path
// ---------------------------------------------------------------------------------------------

describe('intrabar path', () => {
  const p = (o: string, h: string, l: string, c: string) => intrabarPath(new D(o), new D(h), new D(l), new D(c)).map(str);

  it('goes to the nearer extreme first', () => {
    expect(p('100', '101', '95', '96')).toEqual(['100', '101', '95', '96']); // O-H-L-C
    expect(p('100', '105', '99', '104')).toEqual(['100', '99', '105', '104']); // O-L-H-C
  });

  it('goes down first on a tie', () => {
    expect(p('100', '102', '98', '101')).toEqual(['100', '98', '102', '101']);
  });

  it('fills orders in the order the path crosses them', async () => {
    const { ex, replies } = setup();
    // O-H-L-C: 100 -> 101 -> 95 -> 96. The buy (placed first) is crossed on the H->L leg, the
    // sell on the O->H leg: the sell fills first.
    const buy = order({ side: 'BUY', price: '99' });
    const sell = order({ side: 'SELL', price: '100.5' });
    await ex.place(buy);
    await ex.place(sell);
    ex.onBar('AAPL', bar(T0, '100', '101', '95', '96'));
    expect(fills(replies).map((t) => [t.clientOrderId, t.price, t.liquidity])).toEqual([
      [sell.clientOrderId, '100.5', 'MAKER'],
      [buy.clientOrderId, '99', 'MAKER'],
    ]);
  });

  it('O-L-H-C reverses that order', async () => {
    const { ex, replies } = setup();
    const sell = order({ side: 'SELL', price: '104' });
    const buy = order({ side: 'BUY', price: '99.5' });
    await ex.place(sell);
    await ex.place(buy);
    ex.onBar('AAPL', bar(T0, '100', '105', '99', '104'));
    expect(fills(replies).map((t) => t.clientOrderId)).toEqual([buy.clientOrderId, sell.clientOrderId]);
  });
});

// ---------------------------------------------------------------------------------------------
// fills by order type
// ---------------------------------------------------------------------------------------------

describe('market orders', () => {
  it('fill at the next bar open as taker, with slippage and fee', async () => {
    const { ex, replies } = setup({ takerBps: 5, makerBps: 1, slippageBps: 10 });
    const o = order({ orderType: 'MARKET', price: null });
    await ex.place(o);
    expect(types(replies)).toEqual([`ack:${o.clientOrderId}`]);
    ex.onBar('AAPL', bar(T0 + MINUTE, '200', '210', '190', '205'));
    const [t] = fills(replies);
    expect(t).toMatchObject({ quantity: '10', price: '200.2', liquidity: 'TAKER', fee: '1.001', feeCurrency: 'USD', side: 'BUY' });
    const after = await ex.fetchOrder(ref(o.clientOrderId));
    expect(after).toMatchObject({ status: 'filled', filled: '10' });
    expect(after?.trades).toHaveLength(1);
  });

  it('a sell slips down', async () => {
    const { ex, replies } = setup({ slippageBps: 10 });
    await ex.place(order({ side: 'SELL', orderType: 'MARKET', price: null }));
    ex.onBar('AAPL', bar(T0, '200', '210', '190', '205'));
    expect(fills(replies)[0]?.price).toBe('199.8');
  });

  it('fill at the ask / bid of the next quote', async () => {
    const { ex, replies } = setup({ slippageBps: 0 });
    await ex.place(order({ orderType: 'MARKET', price: null }));
    await ex.place(order({ side: 'SELL', orderType: 'MARKET', price: null, quantity: '3' }));
    ex.onQuote('AAPL', { at: T0, bid: '99.9', ask: '100.1' });
    expect(fills(replies).map((t) => [t.side, t.price, t.quantity])).toEqual([
      ['BUY', '100.1', '10'],
      ['SELL', '99.9', '3'],
    ]);
  });

  it('update balances and positions', async () => {
    const { ex } = setup({ balances: { USD: '10000' }, takerBps: 10 });
    ex.onBar('AAPL', bar(T0, '100', '100', '100', '100'));
    await ex.place(order({ orderType: 'MARKET', price: null, quantity: '10' }));
    ex.onBar('AAPL', bar(T0 + MINUTE, '100', '101', '99', '100'));
    expect(ex.balances()).toEqual({ USD: '8999', AAPL: '10' }); // 10000 - 1000 - 1
    await ex.place(order({ side: 'SELL', orderType: 'MARKET', price: null, quantity: '25' }));
    ex.onBar('AAPL', bar(T0 + 2 * MINUTE, '110', '111', '109', '110'));
    expect(ex.balances()).toEqual({ USD: '11746.25', AAPL: '-15' }); // 8999 + 2750 - 2.75
    expect(await ex.fetchPositions()).toEqual([{ symbol: 'AAPL', quantity: '-15' }]);
  });
});

describe('limit orders', () => {
  it('buy fills at the limit as maker when the path comes down to it', async () => {
    const { ex, replies } = setup({ makerBps: 2, takerBps: 5 });
    await ex.place(order({ price: '100' }));
    ex.onBar('AAPL', bar(T0, '101', '102', '99', '100.5'));
    expect(fills(replies)[0]).toMatchObject({ price: '100', liquidity: 'MAKER', fee: '0.2' });
  });

  it('fills on a touch of the limit', async () => {
    const { ex, replies } = setup();
    await ex.place(order({ price: '100' }));
    ex.onBar('AAPL', bar(T0, '101', '102', '100', '101'));
    expect(fills(replies)).toHaveLength(1);
  });

  it('buy fills at the open as taker when the bar gaps through the limit', async () => {
    const { ex, replies } = setup({ makerBps: 2, takerBps: 5, slippageBps: 10 });
    await ex.place(order({ price: '100' }));
    ex.onBar('AAPL', bar(T0, '98', '99', '97', '98.5'));
    // 98 * 1.001 = 98.098, within the limit
    expect(fills(replies)[0]).toMatchObject({ price: '98.098', liquidity: 'TAKER', fee: '0.49049' });
  });

  it('slippage never takes a fill beyond the limit', async () => {
    const { ex, replies } = setup({ slippageBps: 100 });
    await ex.place(order({ price: '100' }));
    await ex.place(order({ side: 'SELL', price: '100', symbol: 'MSFT' }));
    ex.onBar('AAPL', bar(T0, '99.5', '99.8', '99', '99.5'));
    ex.onBar('MSFT', bar(T0, '100.5', '101', '100.2', '100.5'));
    expect(fills(replies).map((t) => t.price)).toEqual(['100', '100']);
  });

  it('rests until a bar reaches it; sells mirror', async () => {
    const { ex, replies } = setup();
    const sell = order({ side: 'SELL', price: '105' });
    await ex.place(sell);
    ex.onBar('AAPL', bar(T0, '100', '104.99', '99', '104'));
    expect(fills(replies)).toEqual([]);
    expect((await ex.fetchOpenOrders()).map((o) => o.clientOrderId)).toEqual([sell.clientOrderId]);
    ex.onBar('AAPL', bar(T0 + MINUTE, '104', '106', '103', '105.5'));
    expect(fills(replies)[0]).toMatchObject({ price: '105', liquidity: 'MAKER', side: 'SELL' });
    ex.onBar('AAPL', bar(T0 + 2 * MINUTE, '90', '110', '90', '100'));
    expect(fills(replies)).toHaveLength(1);
  });

  it('on quotes: taker at the quote on first sight, maker at the limit once resting', async () => {
    const { ex, replies } = setup({ slippageBps: 0 });
    const a = order({ price: '100' });
    await ex.place(a);
    ex.onQuote('AAPL', { at: T0, bid: '99.4', ask: '99.5' });
    expect(fills(replies)[0]).toMatchObject({ price: '99.5', liquidity: 'TAKER' });
    const b = order({ price: '100' });
    await ex.place(b);
    ex.onQuote('AAPL', { at: T0, bid: '100.4', ask: '100.5' });
    ex.onQuote('AAPL', { at: T0, bid: '99.4', ask: '99.5' });
    expect(fills(replies)[1]).toMatchObject({ clientOrderId: b.clientOrderId, price: '100', liquidity: 'MAKER' });
  });
});

describe('stop orders', () => {
  it('buy stop triggers when the path reaches the stop and fills there plus slippage', async () => {
    const { ex, replies } = setup({ slippageBps: 10, takerBps: 10 });
    await ex.place(order({ orderType: 'STOP', price: null, stopPrice: '102' }));
    ex.onBar('AAPL', bar(T0, '100', '101.9', '99', '101'));
    expect(fills(replies)).toEqual([]);
    ex.onBar('AAPL', bar(T0 + MINUTE, '101', '103', '100.5', '102.5'));
    expect(fills(replies)[0]).toMatchObject({ price: '102.102', liquidity: 'TAKER' });
  });

  it('buy stop fills at the open on a gap above the stop', async () => {
    const { ex, replies } = setup({ slippageBps: 10 });
    await ex.place(order({ orderType: 'STOP', price: null, stopPrice: '102' }));
    ex.onBar('AAPL', bar(T0, '105', '106', '104', '105'));
    expect(fills(replies)[0]?.price).toBe('105.105');
  });

  it('sell stop mirrors (gap down fills at the open)', async () => {
    const { ex, replies } = setup({ slippageBps: 10 });
    await ex.place(order({ side: 'SELL', orderType: 'STOP', price: null, stopPrice: '95' }));
    await ex.place(order({ side: 'SELL', orderType: 'STOP', price: null, stopPrice: '95', symbol: 'MSFT' }));
    ex.onBar('AAPL', bar(T0, '100', '101', '94', '96'));
    ex.onBar('MSFT', bar(T0, '90', '91', '89', '90'));
    expect(fills(replies).map((t) => [t.symbol, t.price])).toEqual([
      ['AAPL', '94.905'],
      ['MSFT', '89.91'],
    ]);
  });

  it('on a quote: triggers at ask >= stop and fills at the ask', async () => {
    const { ex, replies } = setup();
    await ex.place(order({ orderType: 'STOP', price: null, stopPrice: '102' }));
    ex.onQuote('AAPL', { at: T0, bid: '101.8', ask: '101.9' });
    ex.onQuote('AAPL', { at: T0, bid: '102.2', ask: '102.3' });
    expect(fills(replies).map((t) => t.price)).toEqual(['102.3']);
  });
});

describe('stop-limit orders', () => {
  it('triggered within the limit: fills at the stop as taker, slippage capped at the limit', async () => {
    const { ex, replies } = setup({ slippageBps: 100 });
    await ex.place(order({ orderType: 'STOP_LIMIT', stopPrice: '101', price: '101.5' }));
    // |O-H| = 2 > |O-L| = 0.5: O-L-H-C, the stop is crossed on the L->H leg
    ex.onBar('AAPL', bar(T0, '100', '102', '99.5', '101'));
    expect(fills(replies)[0]).toMatchObject({ price: '101.5', liquidity: 'TAKER' }); // 101 * 1.01 capped
  });

  it('gap beyond the limit: triggers, rests, fills as maker when the path comes back', async () => {
    const { ex, replies } = setup();
    await ex.place(order({ orderType: 'STOP_LIMIT', stopPrice: '101', price: '101.5' }));
    // |O-H| = 0.5 < |O-L| = 2: O-H-L-C; triggered at the open (103), limit reached on H->L
    ex.onBar('AAPL', bar(T0, '103', '103.5', '101', '102'));
    expect(fills(replies)[0]).toMatchObject({ price: '101.5', liquidity: 'MAKER' });
  });

  it('triggered but never within the limit stays open, then trades as a limit', async () => {
    const { ex, replies } = setup();
    const o = order({ orderType: 'STOP_LIMIT', stopPrice: '101', price: '101.5' });
    await ex.place(o);
    ex.onBar('AAPL', bar(T0, '103', '104', '102', '103'));
    expect(fills(replies)).toEqual([]);
    ex.onBar('AAPL', bar(T0 + MINUTE, '100', '100.5', '99', '100'));
    expect(fills(replies)[0]).toMatchObject({ price: '100', liquidity: 'TAKER' }); // gap below the limit
  });

  it('untriggered does not fill even if the price is within the limit', async () => {
    const { ex, replies } = setup();
    await ex.place(order({ orderType: 'STOP_LIMIT', stopPrice: '101', price: '101.5' }));
    ex.onBar('AAPL', bar(T0, '100', '100.9', '99', '100'));
    expect(fills(replies)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// participation, latency
// ---------------------------------------------------------------------------------------------

describe('participation cap', () => {
  it('fills at most participation * volume per bar, the rest on later bars', async () => {
    const { ex, replies } = setup({ participation: '0.1' });
    const o = order({ orderType: 'MARKET', price: null, quantity: '100' });
    await ex.place(o);
    for (let i = 0; i < 4; i++) ex.onBar('AAPL', bar(T0 + i * MINUTE, `${100 + i}`, `${101 + i}`, `${99 + i}`, `${100 + i}`, '300'));
    expect(fills(replies).map((t) => [t.quantity, t.price])).toEqual([
      ['30', '100'],
      ['30', '101'],
      ['30', '102'],
      ['10', '103'],
    ]);
    expect(await ex.fetchOrder(ref(o.clientOrderId))).toMatchObject({ status: 'filled', filled: '100' });
    expect(new Set(fills(replies).map((t) => t.tradeId)).size).toBe(4);
  });

  it('rounds capped fills down to the lot size', async () => {
    const { ex, replies } = setup({ participation: 0.1, quantityStep: { AAPL: '1' } });
    await ex.place(order({ price: '100', quantity: '20' }));
    ex.onBar('AAPL', bar(T0, '101', '101', '99', '100', '125')); // 12.5 -> 12
    ex.onBar('AAPL', bar(T0 + MINUTE, '101', '101', '99', '100', '5')); // 0.5 -> 0: nothing
    ex.onBar('AAPL', bar(T0 + 2 * MINUTE, '101', '101', '99', '100', '1000'));
    expect(fills(replies).map((t) => t.quantity)).toEqual(['12', '8']);
  });

  it('caps a partially filled limit; the remainder is again a maker the next bar', async () => {
    const { ex, replies } = setup({ participation: '0.5' });
    await ex.place(order({ price: '100', quantity: '10' }));
    ex.onBar('AAPL', bar(T0, '101', '101', '99', '100', '8'));
    ex.onBar('AAPL', bar(T0 + MINUTE, '101', '101', '99', '100', '100'));
    expect(fills(replies).map((t) => [t.quantity, t.liquidity])).toEqual([
      ['4', 'MAKER'],
      ['6', 'MAKER'],
    ]);
  });
});

describe('latency', () => {
  it('with 0 latency the ack is pushed inside place()', async () => {
    const { ex, replies } = setup();
    const o = order();
    const { exchangeOrderId } = await ex.place(o);
    expect(replies).toEqual([{ type: 'ack', clientOrderId: o.clientOrderId, exchangeOrderId, at: new Date(T0).toISOString() }]);
  });

  it('delays the ack until the clock is latencyMs past placement', async () => {
    const { ex, clock, replies } = setup({ latencyMs: 500 });
    const o = order({ orderType: 'MARKET', price: null });
    const { exchangeOrderId } = await ex.place(o);
    expect(replies).toEqual([]);
    expect(await ex.fetchOrder(ref(o.clientOrderId))).toMatchObject({ status: 'open', exchangeOrderId });
    clock.advance(499);
    ex.advance();
    expect(replies).toEqual([]);
    clock.advance(1);
    ex.advance();
    expect(replies).toEqual([{ type: 'ack', clientOrderId: o.clientOrderId, exchangeOrderId, at: new Date(T0 + 500).toISOString() }]);
  });

  it('does not trade on data from before it arrived; acks before it fills', async () => {
    const { ex, clock, replies } = setup({ latencyMs: 500 });
    const o = order({ orderType: 'MARKET', price: null });
    await ex.place(o);
    ex.onBar('AAPL', bar(T0, '100', '101', '99', '100')); // not live yet
    clock.advance(1000);
    ex.onBar('AAPL', bar(T0 + 200, '101', '102', '100', '101')); // live now, but the bar began before it arrived
    expect(types(replies)).toEqual([`ack:${o.clientOrderId}`]);
    ex.onBar('AAPL', bar(T0 + 1000, '102', '103', '101', '102'));
    expect(types(replies)).toEqual([`ack:${o.clientOrderId}`, `fill:${o.clientOrderId}`]);
    expect(fills(replies)[0]?.price).toBe('102');
  });

  it('an onBar that makes an order live can fill it in the same call', async () => {
    const { ex, clock, replies } = setup({ latencyMs: 500 });
    const o = order({ orderType: 'MARKET', price: null });
    await ex.place(o);
    clock.advance(MINUTE);
    ex.onBar('AAPL', bar(T0 + MINUTE, '100', '101', '99', '100'));
    expect(types(replies)).toEqual([`ack:${o.clientOrderId}`, `fill:${o.clientOrderId}`]);
  });
});

// ---------------------------------------------------------------------------------------------
// refusals
// ---------------------------------------------------------------------------------------------

describe('refusals', () => {
  it('insufficient funds: price * qty + fee, minus what open buys reserve', async () => {
    const { ex } = setup({ balances: { USD: '1000' }, takerBps: 10 });
    expect((await errorOf(ex.place(order({ quantity: '10', price: '100' })))).kind).toBe('insufficient_funds'); // 1001 > 1000
    await ex.place(order({ quantity: '9', price: '100' })); // 900.9
    expect((await errorOf(ex.place(order({ quantity: '1', price: '100' })))).kind).toBe('insufficient_funds'); // 100.1 > 99.1
    await ex.place(order({ quantity: '0.9', price: '100' })); // 90.09
    expect(ex.allOrders()).toHaveLength(2);
  });

  it('market buys are checked against the last price; none yet is invalid_order', async () => {
    const { ex } = setup({ balances: { USD: '1000' } });
    expect((await errorOf(ex.place(order({ orderType: 'MARKET', price: null })))).kind).toBe('invalid_order');
    ex.onBar('AAPL', bar(T0, '90', '120', '90', '110'));
    expect((await errorOf(ex.place(order({ orderType: 'MARKET', price: null, quantity: '10' })))).kind).toBe('insufficient_funds');
    await ex.place(order({ orderType: 'MARKET', price: null, quantity: '9' }));
  });

  it('a canceled buy releases its reservation', async () => {
    const { ex } = setup({ balances: { USD: '1000' } });
    const a = order({ quantity: '10', price: '100' });
    await ex.place(a);
    expect((await errorOf(ex.place(order({ quantity: '1', price: '1' })))).kind).toBe('insufficient_funds');
    await ex.cancel(ref(a.clientOrderId));
    await ex.place(order({ quantity: '10', price: '100' }));
  });

  it('short sells only with allowShort', async () => {
    const shorting = setup();
    await shorting.ex.place(order({ side: 'SELL', quantity: '5' }));
    const { ex } = setup({ allowShort: false, balances: { USD: '1000', 'BTC': '1' } });
    expect((await errorOf(ex.place(order({ side: 'SELL', quantity: '5' })))).kind).toBe('insufficient_funds');
    await ex.place(order({ symbol: 'BTC/USD', side: 'SELL', quantity: '0.6' }));
    expect((await errorOf(ex.place(order({ symbol: 'BTC/USD', side: 'SELL', quantity: '0.5' })))).kind).toBe('insufficient_funds');
  });

  it('below minimum size is invalid_order', async () => {
    const { ex } = setup({ minQuantity: { AAPL: '1' } });
    const error = await errorOf(ex.place(order({ quantity: '0.5' })));
    expect(error.kind).toBe('invalid_order');
    expect(error.message).toContain('below minimum size');
    await ex.place(order({ quantity: '1' }));
    await ex.place(order({ quantity: '0.5', symbol: 'MSFT' }));
  });

  it('invalid parameters are invalid_order and record nothing', async () => {
    const { ex } = setup({ orderTypes: ['MARKET', 'LIMIT'] });
    const bad: Partial<PlaceRequest>[] = [
      { orderType: 'LIMIT', price: null },
      { orderType: 'MARKET', price: '100' },
      { orderType: 'LIMIT', stopPrice: '100' },
      { orderType: 'STOP', price: null, stopPrice: '100' }, // unsupported by this exchange
      { quantity: '0' },
      { quantity: '-1' },
      { quantity: '1e3' },
      { price: 'abc' },
      { clientOrderId: '' },
    ];
    for (const b of bad) expect((await errorOf(ex.place(order(b)))).kind, JSON.stringify(b)).toBe('invalid_order');
    expect(ex.allOrders()).toEqual([]);
    const full = setup();
    expect((await errorOf(full.ex.place(order({ orderType: 'STOP', price: null, stopPrice: null })))).kind).toBe('invalid_order');
    expect((await errorOf(full.ex.place(order({ orderType: 'STOP_LIMIT', price: '1', stopPrice: null })))).kind).toBe('invalid_order');
  });

  it('duplicate clientOrderId, open or closed, is refused and counted', async () => {
    const { ex } = setup();
    const a = order();
    await ex.place(a);
    expect((await errorOf(ex.place({ ...a, price: '99' }))).kind).toBe('duplicate_client_order_id');
    await ex.cancel(ref(a.clientOrderId));
    expect((await errorOf(ex.place(a))).kind).toBe('duplicate_client_order_id');
    expect(ex.duplicateAttempts()).toBe(2);
    expect(ex.placementsByClientOrderId()).toEqual(new Map([[a.clientOrderId, 1]]));
    expect(ex.allOrders()).toHaveLength(1);
  });

  it('unknown or closed orders are order_not_found; fetchOrder of an unknown is null', async () => {
    const { ex } = setup();
    expect((await errorOf(ex.cancel(ref('nope')))).kind).toBe('order_not_found');
    expect((await errorOf(ex.modify({ ...ref('nope'), price: '1', stopPrice: null, quantity: null }))).kind).toBe('order_not_found');
    expect(await ex.fetchOrder(ref('nope'))).toBeNull();
    expect(await ex.fetchOrder({ clientOrderId: 'nope', exchangeOrderId: 'SIM-O99', symbol: 'AAPL' })).toBeNull();
    const a = order({ orderType: 'MARKET', price: null });
    await ex.place(a);
    ex.onBar('AAPL', bar(T0, '100', '100', '100', '100'));
    expect((await errorOf(ex.cancel(ref(a.clientOrderId)))).kind).toBe('order_not_found'); // already filled
    const b = order();
    await ex.place(b);
    await ex.cancel(ref(b.clientOrderId));
    expect((await errorOf(ex.cancel(ref(b.clientOrderId)))).kind).toBe('order_not_found'); // already canceled
    expect((await errorOf(ex.cancel(ref(b.clientOrderId, 'MSFT')))).kind).toBe('order_not_found'); // wrong symbol
  });
});

// ---------------------------------------------------------------------------------------------
// cancel, modify
// ---------------------------------------------------------------------------------------------

describe('cancel and modify', () => {
  it('cancel closes the order and pushes canceled', async () => {
    const { ex, replies } = setup();
    const a = order();
    const { exchangeOrderId } = await ex.place(a);
    await ex.cancel({ clientOrderId: a.clientOrderId, exchangeOrderId, symbol: 'AAPL' });
    expect(replies.at(-1)).toEqual({ type: 'canceled', clientOrderId: a.clientOrderId, reason: null, at: new Date(T0).toISOString() });
    expect(await ex.fetchOrder(ref(a.clientOrderId))).toMatchObject({ status: 'canceled' });
    expect(await ex.fetchOpenOrders()).toEqual([]);
    ex.onBar('AAPL', bar(T0, '90', '90', '90', '90'));
    expect(fills(replies)).toEqual([]);
  });

  it('modify changes price and quantity, pushes modified, and the order trades at the new price', async () => {
    const { ex, replies } = setup({ participation: '0.5' });
    const a = order({ price: '100', quantity: '10' });
    await ex.place(a);
    ex.onBar('AAPL', bar(T0, '101', '101', '99', '100', '8')); // fills 4
    await ex.modify({ ...ref(a.clientOrderId), price: '98', stopPrice: null, quantity: '6' });
    expect(replies.at(-1)).toMatchObject({ type: 'modified', clientOrderId: a.clientOrderId });
    expect(await ex.fetchOrder(ref(a.clientOrderId))).toMatchObject({ price: '98', quantity: '6', filled: '4', status: 'open' });
    ex.onBar('AAPL', bar(T0 + MINUTE, '101', '101', '99', '100', '100'));
    expect(fills(replies)).toHaveLength(1);
    ex.onBar('AAPL', bar(T0 + 2 * MINUTE, '100', '100', '97', '98', '100'));
    expect(fills(replies).map((t) => [t.quantity, t.price])).toEqual([
      ['4', '100'],
      ['2', '98'],
    ]);
    expect(await ex.fetchOrder(ref(a.clientOrderId))).toMatchObject({ status: 'filled', filled: '6' });
  });

  it('modify to a quantity not above the filled quantity is invalid_order', async () => {
    const { ex } = setup({ participation: '0.5' });
    const a = order({ price: '100', quantity: '10' });
    await ex.place(a);
    ex.onBar('AAPL', bar(T0, '101', '101', '99', '100', '8'));
    expect((await errorOf(ex.modify({ ...ref(a.clientOrderId), price: null, stopPrice: null, quantity: '4' }))).kind).toBe('invalid_order');
    expect((await errorOf(ex.modify({ ...ref(a.clientOrderId), price: null, stopPrice: '90', quantity: null }))).kind).toBe('invalid_order');
    expect(await ex.fetchOrder(ref(a.clientOrderId))).toMatchObject({ quantity: '10', price: '100' });
  });

  it('modify is refused when not supported', async () => {
    const { ex } = setup({ modify: false });
    expect(ex.capabilities.modify).toBe(false);
    const a = order();
    await ex.place(a);
    expect((await errorOf(ex.modify({ ...ref(a.clientOrderId), price: '99', stopPrice: null, quantity: null }))).kind).toBe('invalid_order');
  });
});

// ---------------------------------------------------------------------------------------------
// time in force
// ---------------------------------------------------------------------------------------------

describe('time in force', () => {
  it('IOC not reached in its first bar is canceled', async () => {
    const { ex, replies } = setup();
    const a = order({ price: '95', timeInForce: 'IOC' });
    await ex.place(a);
    ex.onBar('AAPL', bar(T0, '100', '101', '99', '100'));
    expect(types(replies)).toEqual([`ack:${a.clientOrderId}`, `canceled:${a.clientOrderId}`]);
    expect(await ex.fetchOrder(ref(a.clientOrderId))).toMatchObject({ status: 'canceled', filled: '0' });
  });

  it('IOC fills what it can in its first bar, as taker, and cancels the rest', async () => {
    const { ex, replies } = setup({ participation: '0.1' });
    const a = order({ price: '100', quantity: '50', timeInForce: 'IOC' });
    await ex.place(a);
    ex.onBar('AAPL', bar(T0, '101', '101', '99', '100', '200'));
    expect(types(replies)).toEqual([`ack:${a.clientOrderId}`, `fill:${a.clientOrderId}`, `canceled:${a.clientOrderId}`]);
    expect(fills(replies)[0]).toMatchObject({ quantity: '20', liquidity: 'TAKER', price: '100' });
    expect(await ex.fetchOrder(ref(a.clientOrderId))).toMatchObject({ status: 'canceled', filled: '20' });
  });

  it('FOK fills all or expires', async () => {
    const { ex, replies } = setup({ participation: '0.1' });
    const small = order({ orderType: 'MARKET', price: null, quantity: '10', timeInForce: 'FOK' });
    const big = order({ orderType: 'MARKET', price: null, quantity: '50', timeInForce: 'FOK' });
    const far = order({ price: '50', quantity: '1', timeInForce: 'FOK' });
    await ex.place(small);
    await ex.place(big);
    await ex.place(far);
    ex.onBar('AAPL', bar(T0, '100', '101', '99', '100', '200'));
    expect(types(replies).slice(3)).toEqual([`fill:${small.clientOrderId}`, `expired:${big.clientOrderId}`, `expired:${far.clientOrderId}`]);
    expect(await ex.fetchOrder(ref(big.clientOrderId))).toMatchObject({ status: 'expired', filled: '0', trades: [] });
  });

  it('IOC stop: the window opens when it triggers', async () => {
    const { ex, replies } = setup();
    const a = order({ orderType: 'STOP_LIMIT', stopPrice: '105', price: '105', timeInForce: 'IOC' });
    await ex.place(a);
    ex.onBar('AAPL', bar(T0, '100', '101', '99', '100'));
    expect(types(replies)).toEqual([`ack:${a.clientOrderId}`]);
    ex.onBar('AAPL', bar(T0 + MINUTE, '107', '108', '106', '107'));
    expect(types(replies)).toEqual([`ack:${a.clientOrderId}`, `canceled:${a.clientOrderId}`]);
  });

  it('DAY expires at the end of the UTC day it was placed', async () => {
    const { ex, clock, replies } = setup();
    const a = order({ timeInForce: 'DAY' });
    const gtc = order();
    await ex.place(a);
    await ex.place(gtc);
    clock.set(Date.UTC(2024, 0, 15, 23, 59, 59, 999));
    ex.advance();
    expect(types(replies)).toEqual([`ack:${a.clientOrderId}`, `ack:${gtc.clientOrderId}`]);
    clock.set(Date.UTC(2024, 0, 16, 0, 0, 5));
    ex.advance();
    expect(replies.at(-1)).toEqual({ type: 'expired', clientOrderId: a.clientOrderId, at: '2024-01-16T00:00:00.000Z' });
    expect(await ex.fetchOrder(ref(a.clientOrderId))).toMatchObject({ status: 'expired' });
    expect((await ex.fetchOpenOrders()).map((o) => o.clientOrderId)).toEqual([gtc.clientOrderId]);
  });

  it("a DAY order does not trade on the next day's bar", async () => {
    const { ex, replies } = setup();
    const a = order({ timeInForce: 'DAY', price: '100' });
    await ex.place(a);
    ex.onBar('AAPL', bar(Date.UTC(2024, 0, 16, 14, 30), '90', '91', '89', '90'));
    expect(types(replies)).toEqual([`ack:${a.clientOrderId}`, `expired:${a.clientOrderId}`]);
  });
});

// ---------------------------------------------------------------------------------------------
// faults
// ---------------------------------------------------------------------------------------------

describe('faults', () => {
  it('timeout and network are thrown before the request is applied', async () => {
    const { ex, replies } = setup();
    const a = order();
    for (const kind of ['timeout', 'network'] as const) {
      ex.injectFault(kind);
      const error = await errorOf(ex.place(a));
      expect(error.kind).toBe(kind);
      expect(error.outcomeUnknown).toBe(true);
      expect(await ex.fetchOrder(ref(a.clientOrderId))).toBeNull();
    }
    expect(replies).toEqual([]);
    await ex.place(a); // the retry is accepted: nothing was placed before
    ex.injectFault('timeout');
    expect((await errorOf(ex.cancel(ref(a.clientOrderId)))).kind).toBe('timeout');
    expect(await ex.fetchOrder(ref(a.clientOrderId))).toMatchObject({ status: 'open' });
    ex.injectFault('network');
    expect((await errorOf(ex.fetchOpenOrders())).kind).toBe('network');
    expect(ex.faultLog().map((f) => [f.op, f.kind, f.random])).toEqual([
      ['place', 'timeout', false],
      ['place', 'network', false],
      ['cancel', 'timeout', false],
      ['fetchOpenOrders', 'network', false],
    ]);
  });

  it('lost_reply applies the request, then throws timeout; fetchOrder finds the order', async () => {
    const { ex, replies } = setup();
    const a = order();
    ex.injectFault('lost_reply');
    const error = await errorOf(ex.place(a));
    expect(error.kind).toBe('timeout');
    const found = await ex.fetchOrder(ref(a.clientOrderId));
    expect(found).toMatchObject({ status: 'open', clientOrderId: a.clientOrderId });
    expect(types(replies)).toEqual([`ack:${a.clientOrderId}`]); // the pushed ack still arrives
    expect((await errorOf(ex.place(a))).kind).toBe('duplicate_client_order_id');
    expect(ex.placementsByClientOrderId().get(a.clientOrderId)).toBe(1);
    ex.injectFault('lost_reply');
    expect((await errorOf(ex.cancel(ref(a.clientOrderId)))).kind).toBe('timeout');
    expect(await ex.fetchOrder(ref(a.clientOrderId))).toMatchObject({ status: 'canceled' });
  });

  it('drop_reply drops a pushed reply but the order state changes', async () => {
    const { ex, replies } = setup();
    const a = order({ orderType: 'MARKET', price: null });
    await ex.place(a);
    ex.injectFault('drop_reply');
    ex.onBar('AAPL', bar(T0, '100', '100', '100', '100'));
    expect(types(replies)).toEqual([`ack:${a.clientOrderId}`]);
    expect(ex.droppedReplies().map((r) => r.type)).toEqual(['fill']);
    const truth = await ex.fetchOrder(ref(a.clientOrderId));
    expect(truth).toMatchObject({ status: 'filled', filled: '10' });
    const [lost] = ex.droppedReplies();
    expect(lost?.type === 'fill' ? lost.trade : null).toEqual(truth?.trades[0]);
  });

  it('random faults follow the rate and the listed kinds, deterministically', async () => {
    const run = async (seed: number) => {
      const { ex } = setup({ seed, faults: { rate: 0.5, kinds: ['timeout', 'network'] } });
      const outcomes: string[] = [];
      for (let i = 0; i < 40; i++) {
        try {
          await ex.fetchPositions();
          outcomes.push('ok');
        } catch (error) {
          outcomes.push(error instanceof ConnectorError ? error.kind : 'other');
        }
      }
      return { outcomes, log: ex.faultLog() };
    };
    const a = await run(7);
    expect(await run(7)).toEqual(a);
    expect(a.outcomes.filter((o) => o === 'ok').length).toBeGreaterThan(5);
    expect(a.outcomes).toContain('timeout');
    expect(a.outcomes).toContain('network');
    expect(a.log.every((f) => f.random && f.op === 'fetchPositions')).toBe(true);
    expect((await run(8)).outcomes).not.toEqual(a.outcomes);
  });

  it('rate 1 with only drop_reply drops every reply but no call fails', async () => {
    const { ex, replies } = setup({ faults: { rate: 1, kinds: ['drop_reply'] } });
    const a = order({ orderType: 'MARKET', price: null });
    await ex.place(a);
    ex.onBar('AAPL', bar(T0, '100', '100', '100', '100'));
    expect(replies).toEqual([]);
    expect(ex.droppedReplies().map((r) => r.type)).toEqual(['ack', 'fill']);
    expect(await ex.fetchOrder(ref(a.clientOrderId))).toMatchObject({ status: 'filled' });
  });
});

// ---------------------------------------------------------------------------------------------
// determinism and snapshots
// ---------------------------------------------------------------------------------------------

const FAULTY: SimulatedExchangeOptions = {
  seed: 42,
  makerBps: 1,
  takerBps: 4,
  slippageBps: 3,
  participation: '0.2',
  latencyMs: 250,
  balances: { USD: '1000000' },
  faults: { rate: 0.25, kinds: ['timeout', 'network', 'lost_reply', 'drop_reply'] },
};

/** A scripted session: places, cancels, modifies, bars and quotes; returns what callers saw. */
async function session(ex: SimulatedExchange, clock: ManualClock, steps: readonly number[], outcomes: string[]): Promise<void> {
  const attempt = async (label: string, p: Promise<unknown>) => {
    try {
      await p;
      outcomes.push(`${label}:ok`);
    } catch (error) {
      outcomes.push(`${label}:${error instanceof ConnectorError ? error.kind : String(error)}`);
    }
  };
  for (const i of steps) {
    clock.set(T0 + i * MINUTE);
    const px = 100 + ((i * 7) % 11) - 5;
    const side = i % 2 === 0 ? 'BUY' : 'SELL';
    const kinds = ['MARKET', 'LIMIT', 'STOP', 'STOP_LIMIT'] as const;
    const orderType = kinds[i % 4] ?? 'LIMIT';
    const limit = side === 'BUY' ? px - 1 : px + 1;
    const stop = side === 'BUY' ? px + 1 : px - 1;
    await attempt(
      `place${i}`,
      ex.place({
        clientOrderId: `s-${i}`,
        symbol: i % 3 === 0 ? 'BTC/USD' : 'AAPL',
        side,
        orderType,
        quantity: `${1 + (i % 5)}`,
        price: orderType === 'LIMIT' || orderType === 'STOP_LIMIT' ? `${limit}` : null,
        stopPrice: orderType === 'STOP' || orderType === 'STOP_LIMIT' ? `${stop}` : null,
        timeInForce: i % 7 === 0 ? 'IOC' : 'GTC',
      }),
    );
    if (i % 5 === 4) await attempt(`cancel${i}`, ex.cancel({ clientOrderId: `s-${i - 2}`, exchangeOrderId: null, symbol: '' }));
    if (i % 6 === 5) await attempt(`modify${i}`, ex.modify({ clientOrderId: `s-${i - 1}`, exchangeOrderId: null, symbol: '', price: null, stopPrice: null, quantity: '9' }));
    clock.advance(30_000);
    ex.onBar('AAPL', bar(T0 + i * MINUTE, `${px}`, `${px + 3}`, `${px - 3}`, `${px + 1}`, '20'));
    ex.onQuote('BTC/USD', { at: T0 + i * MINUTE + 30_000, bid: `${px - 0.5}`, ask: `${px + 0.5}` });
    await attempt(`fetch${i}`, ex.fetchOrder({ clientOrderId: `s-${i}`, exchangeOrderId: null, symbol: '' }));
  }
}

describe('determinism', () => {
  const steps = Array.from({ length: 30 }, (_, i) => i);

  async function runAll(options: SimulatedExchangeOptions) {
    const clock = new ManualClock(T0);
    const ex = new SimulatedExchange(clock, options);
    const replies: ExchangeReply[] = [];
    ex.onReply((r) => replies.push(r));
    const outcomes: string[] = [];
    await session(ex, clock, steps, outcomes);
    return { replies, outcomes, orders: ex.allOrders(), state: ex.toJSON(), faults: ex.faultLog() };
  }

  it('the same seed and inputs give identical replies, trades, faults and state', async () => {
    const a = await runAll(FAULTY);
    const b = await runAll(FAULTY);
    expect(b).toEqual(a);
    expect(fills(a.replies).length).toBeGreaterThan(5);
    expect(new Set(a.faults.map((f) => f.kind))).toEqual(new Set(['timeout', 'network', 'lost_reply', 'drop_reply']));
    expect(a.outcomes.some((o) => o.endsWith(':ok'))).toBe(true);
    expect(new Set(a.orders.flatMap((o) => o.trades.map((t) => t.tradeId))).size).toBe(a.orders.flatMap((o) => o.trades).length);
    const c = await runAll({ ...FAULTY, seed: 43 });
    expect(c.faults).not.toEqual(a.faults);
  });

  it('toJSON / fromJSON continues identically', async () => {
    const first = steps.slice(0, 15);
    const rest = steps.slice(15);

    const clockA = new ManualClock(T0);
    const original = new SimulatedExchange(clockA, FAULTY);
    const repliesA: ExchangeReply[] = [];
    original.onReply((r) => repliesA.push(r));
    const outcomesA: string[] = [];
    await session(original, clockA, first, outcomesA);

    const snapshot = JSON.parse(JSON.stringify(original.toJSON())) as SimulatedExchangeState;
    const clockB = new ManualClock(clockA.now());
    const restored = SimulatedExchange.fromJSON(snapshot, clockB);
    expect(restored.toJSON()).toEqual(original.toJSON());
    const repliesB: ExchangeReply[] = [];
    restored.onReply((r) => repliesB.push(r));

    const mark = repliesA.length;
    const outcomesB: string[] = [];
    const cut = outcomesA.length;
    await session(original, clockA, rest, outcomesA);
    await session(restored, clockB, rest, outcomesB);
    expect(repliesB).toEqual(repliesA.slice(mark));
    expect(outcomesB).toEqual(outcomesA.slice(cut));
    expect(restored.toJSON()).toEqual(original.toJSON());
    expect(restored.allOrders()).toEqual(original.allOrders());
    expect(await restored.fetchOpenOrders().catch(() => 'fault')).toEqual(await original.fetchOpenOrders().catch(() => 'fault'));
  });

  it('the snapshot is plain JSON and detached from the live exchange', async () => {
    const { ex } = setup();
    await ex.place(order());
    const state = ex.toJSON();
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    state.orders[0]!.status = 'filled';
    expect((await ex.fetchOpenOrders()).length).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// misc
// ---------------------------------------------------------------------------------------------

describe('replies and inspection', () => {
  it('quote currency comes from the symbol; fees are charged in it', async () => {
    const { ex, replies } = setup({ takerBps: 10, balances: { USDT: '1000' } });
    ex.onQuote('BTC/USDT', { at: T0, bid: '99', ask: '100' });
    await ex.place(order({ symbol: 'BTC/USDT', orderType: 'MARKET', price: null, quantity: '2' }));
    ex.onQuote('BTC/USDT', { at: T0, bid: '99', ask: '100' });
    expect(fills(replies)[0]).toMatchObject({ feeCurrency: 'USDT', fee: '0.2' });
    expect(ex.balances()).toEqual({ USDT: '799.8', BTC: '2' });
  });

  it('a listener may place an order from inside a reply; replies stay in order', async () => {
    const { ex, replies } = setup();
    ex.onReply((r) => {
      if (r.type === 'fill' && r.trade.clientOrderId === 'entry') {
        void ex.place(order({ clientOrderId: 'exit', side: 'SELL', orderType: 'LIMIT', price: '110', quantity: r.trade.quantity }));
      }
    });
    await ex.place(order({ clientOrderId: 'entry', orderType: 'MARKET', price: null }));
    ex.onBar('AAPL', bar(T0, '100', '101', '99', '100'));
    expect(types(replies)).toEqual(['ack:entry', 'fill:entry', 'ack:exit']);
    ex.onBar('AAPL', bar(T0 + MINUTE, '100', '111', '99', '110'));
    expect(types(replies).at(-1)).toBe('fill:exit');
    expect(await ex.fetchPositions()).toEqual([]);
  });

  it('unsubscribe stops delivery', async () => {
    const { ex } = setup();
    const seen: ExchangeReply[] = [];
    const off = ex.onReply((r) => seen.push(r));
    await ex.place(order());
    off();
    await ex.place(order());
    expect(seen).toHaveLength(1);
  });

  it('bad market data is a RangeError', () => {
    const { ex } = setup();
    expect(() => ex.onBar('AAPL', bar(T0, '100', '99', '98', '100'))).toThrow(RangeError);
    expect(() => ex.onBar('AAPL', bar(T0, '100', '101', '99', '100', '-1'))).toThrow(RangeError);
    expect(() => ex.onQuote('AAPL', { at: T0, bid: '101', ask: '100' })).toThrow(RangeError);
    expect(() => ex.onQuote('AAPL', { at: 'yesterday', bid: '99', ask: '100' })).toThrow(RangeError);
  });

  it('accepts ISO times for market data', async () => {
    const { ex, replies } = setup();
    await ex.place(order({ orderType: 'MARKET', price: null }));
    ex.onBar('AAPL', { ...bar(T0, '100', '100', '100', '100'), at: new Date(T0).toISOString() });
    expect(fills(replies)).toHaveLength(1);
  });

  it('bad options are refused', () => {
    const clock = new ManualClock(T0);
    expect(() => new SimulatedExchange(clock, { participation: 0 })).toThrow(RangeError);
    expect(() => new SimulatedExchange(clock, { participation: 1.5 })).toThrow(RangeError);
    expect(() => new SimulatedExchange(clock, { takerBps: -1 })).toThrow(RangeError);
    expect(() => new SimulatedExchange(clock, { latencyMs: -5 })).toThrow(RangeError);
    expect(() => new SimulatedExchange(clock, { faults: { rate: 2, kinds: ['timeout'] } })).toThrow(RangeError);
  });
});
