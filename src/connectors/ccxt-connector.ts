import { D, str, type Dec } from '../domain/decimal.js';
import type { OrderType, Side, TimeInForce } from '../domain/schemas.js';
import type {
  ConnectorCapabilities,
  ConnectorErrorKind,
  ExchangeOrder,
  ExchangeOrderStatus,
  ExchangePosition,
  ExchangeReply,
  ExchangeTrade,
  IExecutionConnector,
  MarketPrice,
  ModifyRequest,
  OrderRef,
  PlaceRequest,
  PlaceResult,
} from './connector.js';
import { ConnectorError } from './connector.js';

/**
 * # CcxtConnector
 *
 * IExecutionConnector over a ccxt (https://github.com/ccxt/ccxt) unified exchange object, for
 * live trading. The connector is built on a structural `CcxtExchangeLike` (the subset of the
 * ccxt API it uses), so tests pass a fake; `CcxtConnector.create(id, credentials)` loads ccxt
 * and builds the real one.
 *
 * ## Secrets (ARCHITECTURE §7)
 * Credentials are held in memory only (by the ccxt object, and by the connector in an ES
 * private field, for redaction). `name` is `ccxt:<exchangeId>`; `toJSON()` is `{ name,
 * capabilities }`; every ConnectorError message is redacted (any credential substring becomes
 * `***`) and carries no `cause` (a ccxt error may hold the signed request URL or headers).
 *
 * ## Numbers
 * The runtime's quantities and prices are decimal strings; ccxt takes and returns JS numbers.
 * Outgoing values are `Number(decimalString)` (ccxt itself rounds them to the market's
 * precision). Incoming numbers are read with 15 significant digits (`toPrecision(15)`) and
 * printed with `str`, so float noise such as 0.1 + 0.2 = 0.30000000000000004 becomes "0.3".
 *
 * ## Orders
 * - MARKET -> ('market', amount); LIMIT -> ('limit', amount, price); STOP -> ('market', amount,
 *   undefined, { triggerPrice, stopPrice }); STOP_LIMIT -> ('limit', amount, price,
 *   { triggerPrice, stopPrice }). Every order carries `params.clientOrderId`. `timeInForce` is
 *   passed as a param for every non-MARKET order, and for MARKET orders only when it is IOC/FOK
 *   (many exchanges refuse a time in force on market orders). 'DAY' is passed through as is.
 * - `capabilities.orderTypes`: MARKET/LIMIT unless `has.createMarketOrder`/`createLimitOrder`
 *   is false; STOP/STOP_LIMIT when `has.createStopMarketOrder`/`createStopLimitOrder`,
 *   `createTriggerOrder` or `createStopOrder` is set. Overridable via options.
 * - `capabilities.oco` is false: `ocoGroup` is ignored and the runtime links the protection
 *   orders itself.
 * - `capabilities.modify` is `has.editOrder === true` (an 'emulated' edit is cancel + create,
 *   which changes the order id and drops the clientOrderId). An edit that returns a different
 *   id is not reported back (the interface has no way to); prefer exchanges with native edits.
 *
 * ## fetchOrder by clientOrderId
 * 1. With an exchangeOrderId and `has.fetchOrder`: `fetchOrder(id, symbol)`.
 * 2. Native lookup (lookup 'native' or 'auto' with `has.fetchOrder`): `fetchOrder(undefined,
 *    symbol, { clientOrderId, origClientOrderId })`. An answer for another clientOrderId is
 *    ignored.
 * 3. Search (lookup 'search', or 'auto' when 1-2 found nothing): fetchOpenOrders(symbol) and
 *    fetchClosedOrders(symbol) (and fetchCanceledOrders when the exchange has it), matched by
 *    `clientOrderId`.
 * null only when every path says "not found" (OrderNotFound counts as not found): null makes
 * the runtime reject the order, so a native lookup that the exchange may have ignored is never
 * trusted alone. The search only sees what the exchange's default history window returns.
 *
 * Status: open -> 'open'; closed -> 'filled' (or 'canceled' with a reason when the order is
 * closed with filled < amount); canceled/cancelled -> 'canceled'; rejected -> 'rejected';
 * expired -> 'expired'; anything else -> 'open'.
 * Trades: `order.trades` when present; else, when something is filled and the exchange has
 * fetchMyTrades, those of fetchMyTrades(symbol) whose `order` is the order id; else, for an
 * order fully filled, one aggregate trade `<exchangeOrderId>#fill` at the average price.
 * Trade ids are the exchange's, or `<exchangeOrderId>#<index>` when it gives none.
 *
 * ## Positions
 * With `has.fetchPositions` (derivatives): contracts * contractSize, negative for 'short'.
 * Otherwise (spot): the base currency `total` of fetchBalance for every symbol traded through
 * this connector (and `options.symbols`); a symbol's base is the part before '/'.
 *
 * ## Replies (onReply)
 * ccxt's REST API has no push channel. If the exchange object has `watchOrders` (ccxt.pro) it
 * is consumed while at least one listener is subscribed, and order updates become ack / fill /
 * canceled / expired / reject replies (fills are those of `order.trades`, plus `watchMyTrades`
 * when present; each tradeId is pushed once). Without a stream nothing is pushed: fills are
 * picked up by the runtime's order monitor resync (`TradingRuntime.reconcile`, which calls
 * fetchOrder for every working order). A stream error is retried after `streamRetryMs`.
 *
 * ## Errors
 * ccxt errors are mapped by class name, walking the prototype chain from the thrown class
 * upward (so DuplicateOrderId wins over its parent InvalidOrder):
 * - RequestTimeout -> timeout; RateLimitExceeded, DDoSProtection -> rate_limit;
 *   ExchangeNotAvailable, OnMaintenance -> exchange_unavailable; other NetworkError
 *   (InvalidNonce, ...) and OperationFailed (BadResponse, NullResponse, CancelPending) ->
 *   network (the request may have been applied).
 * - DuplicateOrderId -> duplicate_client_order_id; OrderNotFound, OrderNotCached ->
 *   order_not_found; InsufficientFunds -> insufficient_funds; InvalidOrder, BadRequest,
 *   BadSymbol, ArgumentsRequired, NotSupported, OperationRejected -> invalid_order.
 * - AuthenticationError, PermissionDenied, AccountSuspended, MarketClosed and any other
 *   ExchangeError -> exchange_unavailable (retryable but not "outcome unknown": the exchange
 *   answered and did nothing; the order itself is not at fault).
 * - Anything else (not a ccxt error: a bug, a parse failure) -> network for `place` (the safe
 *   assumption: the worker looks the order up by clientOrderId before sending it again), and
 *   exchange_unavailable for every other call.
 */

/** ccxt's Num: a number, or undefined/null when unknown. */
export type CcxtNum = number | null | undefined;

export interface CcxtFeeLike {
  readonly cost?: CcxtNum;
  readonly currency?: string | null;
}

export interface CcxtTradeLike {
  readonly id?: string | null;
  readonly order?: string | null;
  readonly symbol?: string | null;
  readonly side?: string | null;
  readonly amount?: CcxtNum;
  readonly price?: CcxtNum;
  readonly fee?: CcxtFeeLike | null;
  readonly fees?: readonly CcxtFeeLike[] | null;
  readonly takerOrMaker?: string | null;
  readonly timestamp?: CcxtNum;
  readonly datetime?: string | null;
}

export interface CcxtOrderLike {
  readonly id?: string | null;
  readonly clientOrderId?: string | null;
  readonly status?: string | null;
  readonly symbol?: string | null;
  readonly type?: string | null;
  readonly side?: string | null;
  readonly price?: CcxtNum;
  readonly average?: CcxtNum;
  readonly amount?: CcxtNum;
  readonly filled?: CcxtNum;
  readonly triggerPrice?: CcxtNum;
  readonly stopPrice?: CcxtNum;
  readonly trades?: readonly CcxtTradeLike[] | null;
  readonly timestamp?: CcxtNum;
  readonly datetime?: string | null;
  readonly lastUpdateTimestamp?: CcxtNum;
}

export interface CcxtTickerLike {
  readonly last?: CcxtNum;
  readonly close?: CcxtNum;
  readonly bid?: CcxtNum;
  readonly ask?: CcxtNum;
  readonly timestamp?: CcxtNum;
  readonly datetime?: string | null;
}

export interface CcxtPositionLike {
  readonly symbol?: string | null;
  readonly contracts?: CcxtNum;
  readonly contractSize?: CcxtNum;
  readonly side?: string | null;
}

export interface CcxtBalanceLike {
  readonly total?: Readonly<Record<string, CcxtNum>> | null;
}

export type CcxtParams = Record<string, string | number | boolean | undefined>;

/** The subset of a ccxt Exchange the connector uses. */
export interface CcxtExchangeLike {
  readonly id?: string;
  readonly has: Readonly<Record<string, boolean | string | null | undefined>>;
  createOrder(symbol: string, type: string, side: string, amount: number, price?: number, params?: CcxtParams): Promise<CcxtOrderLike>;
  cancelOrder(id: string, symbol?: string, params?: CcxtParams): Promise<unknown>;
  editOrder?(id: string, symbol: string, type: string, side: string, amount?: number, price?: number, params?: CcxtParams): Promise<CcxtOrderLike>;
  fetchOrder?(id: string | undefined, symbol?: string, params?: CcxtParams): Promise<CcxtOrderLike>;
  fetchOpenOrders(symbol?: string, since?: number, limit?: number, params?: CcxtParams): Promise<readonly CcxtOrderLike[]>;
  fetchClosedOrders?(symbol?: string, since?: number, limit?: number, params?: CcxtParams): Promise<readonly CcxtOrderLike[]>;
  fetchCanceledOrders?(symbol?: string, since?: number, limit?: number, params?: CcxtParams): Promise<readonly CcxtOrderLike[]>;
  fetchMyTrades?(symbol?: string, since?: number, limit?: number, params?: CcxtParams): Promise<readonly CcxtTradeLike[]>;
  fetchBalance(params?: CcxtParams): Promise<CcxtBalanceLike>;
  fetchPositions?(symbols?: string[], params?: CcxtParams): Promise<readonly CcxtPositionLike[]>;
  fetchTicker(symbol: string, params?: CcxtParams): Promise<CcxtTickerLike>;
  watchOrders?(symbol?: string, since?: number, limit?: number, params?: CcxtParams): Promise<readonly CcxtOrderLike[]>;
  watchMyTrades?(symbol?: string, since?: number, limit?: number, params?: CcxtParams): Promise<readonly CcxtTradeLike[]>;
}

export interface CcxtCredentials {
  readonly apiKey: string;
  readonly secret: string;
  readonly password?: string;
}

export interface CcxtConnectorOptions {
  /** Defaults to `ccxt:<exchange.id>`. Never include credentials. */
  readonly name?: string;
  readonly orderTypes?: readonly OrderType[];
  readonly modify?: boolean;
  /** How fetchOrder finds an order by clientOrderId (see the class doc); default 'auto'. */
  readonly clientOrderIdLookup?: 'auto' | 'native' | 'search';
  /** Symbols whose spot balances fetchPositions reports, besides those traded here. */
  readonly symbols?: readonly string[];
  /** Strings to redact from error messages (create() adds the credentials). */
  readonly redact?: readonly string[];
  /** Wait before re-subscribing a failed watch stream (ms, default 1000). */
  readonly streamRetryMs?: number;
  readonly now?: () => number;
}

type CcxtModule = Record<string, unknown>;

const ERROR_KINDS: ReadonlyMap<string, ConnectorErrorKind> = new Map<string, ConnectorErrorKind>([
  ['RequestTimeout', 'timeout'],
  ['RateLimitExceeded', 'rate_limit'],
  ['DDoSProtection', 'rate_limit'],
  ['OnMaintenance', 'exchange_unavailable'],
  ['ExchangeNotAvailable', 'exchange_unavailable'],
  ['NetworkError', 'network'],
  ['OperationFailed', 'network'],
  ['DuplicateOrderId', 'duplicate_client_order_id'],
  ['OrderNotFound', 'order_not_found'],
  ['OrderNotCached', 'order_not_found'],
  ['InsufficientFunds', 'insufficient_funds'],
  ['InvalidOrder', 'invalid_order'],
  ['BadSymbol', 'invalid_order'],
  ['BadRequest', 'invalid_order'],
  ['ArgumentsRequired', 'invalid_order'],
  ['NotSupported', 'invalid_order'],
  ['MarketClosed', 'exchange_unavailable'],
  ['OperationRejected', 'invalid_order'],
  ['AuthenticationError', 'exchange_unavailable'],
  ['ExchangeError', 'exchange_unavailable'],
  ['BaseError', 'exchange_unavailable'],
]);

/** Class names from the thrown object's class up to Error/Object. */
function classChain(error: unknown): string[] {
  const names: string[] = [];
  if (error === null || typeof error !== 'object') return names;
  let proto: unknown = Object.getPrototypeOf(error);
  while (proto !== null && proto !== undefined && proto !== Object.prototype) {
    const ctor: unknown = (proto as { constructor?: unknown }).constructor;
    if (typeof ctor === 'function' && ctor.name) names.push(ctor.name);
    proto = Object.getPrototypeOf(proto);
  }
  return names;
}

/** The ConnectorError kind of a thrown ccxt error, or null if it is not a ccxt error. */
export function ccxtErrorKind(error: unknown): ConnectorErrorKind | null {
  for (const name of classChain(error)) {
    const kind = ERROR_KINDS.get(name);
    if (kind) return kind;
  }
  return null;
}

/** 15 significant digits of a ccxt number as a canonical decimal string, or null. */
export function numToDecimal(n: CcxtNum): string | null {
  const d = numToDec(n);
  return d === null ? null : str(d);
}

function numToDec(n: CcxtNum): Dec | null {
  if (n === null || n === undefined || typeof n !== 'number' || !Number.isFinite(n)) return null;
  return new D(n.toPrecision(15));
}

function toNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new ConnectorError('invalid_order', `not a finite number: ${value}`);
  return n;
}

const isEnabled = (flag: boolean | string | null | undefined): boolean => flag === true || flag === 'emulated';

interface Known {
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  exchangeOrderId: string;
  quantity: string;
  price: string | null;
  stopPrice: string | null;
}

interface Seen {
  acked: boolean;
  terminal: boolean;
}

export class CcxtConnector implements IExecutionConnector {
  readonly name: string;
  readonly capabilities: ConnectorCapabilities;

  readonly #ex: CcxtExchangeLike;
  readonly #redact: readonly string[];
  readonly #lookup: 'auto' | 'native' | 'search';
  readonly #symbols = new Set<string>();
  readonly #byClient = new Map<string, Known>();
  readonly #clientOfExchangeId = new Map<string, string>();
  readonly #listeners = new Set<(reply: ExchangeReply) => void>();
  readonly #seen = new Map<string, Seen>();
  readonly #pushedTrades = new Set<string>();
  readonly #streamRetryMs: number;
  readonly #now: () => number;
  #streaming = false;

  constructor(exchange: CcxtExchangeLike, options: CcxtConnectorOptions = {}) {
    this.#ex = exchange;
    this.#redact = (options.redact ?? []).filter((s) => s.length > 0);
    this.#lookup = options.clientOrderIdLookup ?? 'auto';
    this.#streamRetryMs = options.streamRetryMs ?? 1000;
    this.#now = options.now ?? Date.now;
    for (const s of options.symbols ?? []) this.#symbols.add(s);
    this.name = this.#clean(options.name ?? `ccxt:${exchange.id ?? 'exchange'}`);
    const has = exchange.has;
    const types: OrderType[] = [];
    if (has['createMarketOrder'] !== false) types.push('MARKET');
    if (has['createLimitOrder'] !== false) types.push('LIMIT');
    const triggers = isEnabled(has['createTriggerOrder']) || isEnabled(has['createStopOrder']);
    if (triggers || isEnabled(has['createStopMarketOrder'])) types.push('STOP');
    if (triggers || isEnabled(has['createStopLimitOrder'])) types.push('STOP_LIMIT');
    this.capabilities = {
      modify: options.modify ?? (has['editOrder'] === true && typeof exchange.editOrder === 'function'),
      oco: false,
      orderTypes: [...(options.orderTypes ?? types)],
    };
  }

  /**
   * Loads ccxt and builds `new ccxt[exchangeId]({ apiKey, secret, password, enableRateLimit })`.
   * With `pro: true` the ccxt.pro class (with watchOrders) is used when it exists.
   */
  static async create(
    exchangeId: string,
    credentials: CcxtCredentials,
    options: CcxtConnectorOptions & { readonly pro?: boolean; readonly exchangeOptions?: Readonly<Record<string, unknown>> } = {},
  ): Promise<CcxtConnector> {
    const mod = (await import('ccxt')) as unknown as CcxtModule & { default?: CcxtModule; pro?: CcxtModule };
    const root: CcxtModule = mod.default ?? mod;
    const pro = (root['pro'] ?? mod.pro) as CcxtModule | undefined;
    const Ctor = (options.pro && pro?.[exchangeId]) || root[exchangeId];
    if (typeof Ctor !== 'function' || !/^[a-z0-9_]+$/.test(exchangeId)) {
      throw new ConnectorError('invalid_order', `unknown ccxt exchange '${exchangeId}'`);
    }
    const config: Record<string, unknown> = {
      ...options.exchangeOptions,
      apiKey: credentials.apiKey,
      secret: credentials.secret,
      enableRateLimit: true,
    };
    if (credentials.password !== undefined) config['password'] = credentials.password;
    const exchange = new (Ctor as new (config: Record<string, unknown>) => CcxtExchangeLike)(config);
    const redact = [credentials.apiKey, credentials.secret, ...(credentials.password ? [credentials.password] : []), ...(options.redact ?? [])];
    return new CcxtConnector(exchange, { name: `ccxt:${exchangeId}`, ...options, redact });
  }

  /** Only the name and capabilities: never the exchange object (it holds the credentials). */
  toJSON(): { name: string; capabilities: ConnectorCapabilities } {
    return { name: this.name, capabilities: this.capabilities };
  }

  // -------------------------------------------------------------------------------------------

  async place(request: PlaceRequest): Promise<PlaceResult> {
    if (!this.capabilities.orderTypes.includes(request.orderType)) {
      throw new ConnectorError('invalid_order', `order type ${request.orderType} is not supported by ${this.name}`);
    }
    const { type, price, params } = this.#orderArgs(request);
    this.#symbols.add(request.symbol);
    const order = await this.#call('place', () =>
      this.#ex.createOrder(request.symbol, type, request.side === 'BUY' ? 'buy' : 'sell', toNumber(request.quantity), price, params),
    );
    const id = order.id;
    if (typeof id !== 'string' || id.length === 0) {
      // The exchange took the request but gave no id: treat the outcome as unknown.
      throw new ConnectorError('network', `${this.name} returned no order id for ${request.clientOrderId}`);
    }
    this.#byClient.set(request.clientOrderId, {
      clientOrderId: request.clientOrderId,
      symbol: request.symbol,
      side: request.side,
      orderType: request.orderType,
      exchangeOrderId: id,
      quantity: request.quantity,
      price: request.price,
      stopPrice: request.stopPrice,
    });
    this.#clientOfExchangeId.set(id, request.clientOrderId);
    return { exchangeOrderId: id };
  }

  async cancel(request: OrderRef): Promise<void> {
    const id = await this.#resolveId(request);
    await this.#call('cancel', () => this.#ex.cancelOrder(id, request.symbol));
  }

  async modify(request: ModifyRequest): Promise<void> {
    const editOrder = this.#ex.editOrder;
    if (!this.capabilities.modify || editOrder === undefined) {
      throw new ConnectorError('invalid_order', `${this.name} does not support modify`);
    }
    let known = this.#byClient.get(request.clientOrderId);
    if (!known) {
      const current = await this.fetchOrder(request);
      if (!current) throw new ConnectorError('order_not_found', `order ${request.clientOrderId} not found`);
      known = { ...current };
    }
    const next = {
      quantity: request.quantity ?? known.quantity,
      price: request.price ?? known.price,
      stopPrice: request.stopPrice ?? known.stopPrice,
    };
    const { type, price, params } = this.#orderArgs({ ...known, ...next, timeInForce: 'GTC' });
    delete params['timeInForce'];
    delete params['clientOrderId'];
    const id = request.exchangeOrderId ?? known.exchangeOrderId;
    const edited = await this.#call('modify', () =>
      editOrder.call(this.#ex, id, known.symbol, type, known.side === 'BUY' ? 'buy' : 'sell', toNumber(next.quantity), price, params),
    );
    Object.assign(known, next);
    if (typeof edited.id === 'string' && edited.id.length > 0 && edited.id !== id) {
      known.exchangeOrderId = edited.id;
      this.#clientOfExchangeId.set(edited.id, known.clientOrderId);
    }
    this.#byClient.set(known.clientOrderId, known);
  }

  async fetchOrder(request: OrderRef): Promise<ExchangeOrder | null> {
    const fetchOrder = this.#ex.fetchOrder;
    const canFetch = fetchOrder !== undefined && this.#ex.has['fetchOrder'] !== false;
    const matches = (o: CcxtOrderLike) => o.clientOrderId === undefined || o.clientOrderId === null || o.clientOrderId === request.clientOrderId;
    const exchangeOrderId = request.exchangeOrderId ?? this.#byClient.get(request.clientOrderId)?.exchangeOrderId ?? null;
    if (exchangeOrderId !== null && canFetch) {
      const found = await this.#notFoundAsNull(() => fetchOrder.call(this.#ex, exchangeOrderId, request.symbol));
      if (found && matches(found)) return this.#toOrder(found, request);
    }
    if (this.#lookup !== 'search' && canFetch) {
      const params: CcxtParams = { clientOrderId: request.clientOrderId, origClientOrderId: request.clientOrderId };
      const found = await this.#notFoundAsNull(() => fetchOrder.call(this.#ex, undefined, request.symbol, params), this.#lookup === 'auto');
      if (found && found.clientOrderId === request.clientOrderId) return this.#toOrder(found, request);
      if (found && found.clientOrderId == null && found.id && found.id === exchangeOrderId) return this.#toOrder(found, request);
      if (this.#lookup === 'native') return null;
    }
    const found = await this.#search(request.symbol, request.clientOrderId);
    return found ? this.#toOrder(found, request) : null;
  }

  async fetchOpenOrders(symbol?: string): Promise<ExchangeOrder[]> {
    const orders = await this.#call('fetchOpenOrders', () => this.#ex.fetchOpenOrders(symbol));
    const out: ExchangeOrder[] = [];
    for (const o of orders) {
      const clientOrderId = o.clientOrderId ?? (o.id ? this.#clientOfExchangeId.get(o.id) : undefined);
      if (!clientOrderId || !o.id) continue; // not ours to manage
      const sym = o.symbol ?? symbol;
      if (!sym) continue;
      out.push(await this.#toOrder(o, { clientOrderId, exchangeOrderId: o.id, symbol: sym }, false));
    }
    return out;
  }

  async fetchPositions(): Promise<ExchangePosition[]> {
    const fetchPositions = this.#ex.fetchPositions;
    if (fetchPositions !== undefined && isEnabled(this.#ex.has['fetchPositions'])) {
      const list = await this.#call('fetchPositions', () => fetchPositions.call(this.#ex));
      const net = new Map<string, Dec>();
      for (const p of list) {
        const contracts = numToDec(p.contracts);
        if (!p.symbol || contracts === null) continue;
        const size = numToDec(p.contractSize) ?? new D(1);
        const qty = contracts.abs().times(size).times(p.side === 'short' ? -1 : 1);
        net.set(p.symbol, (net.get(p.symbol) ?? new D(0)).plus(qty));
      }
      return [...net].filter(([, q]) => !q.isZero()).map(([symbol, q]) => ({ symbol, quantity: str(q) }));
    }
    const balance = await this.#call('fetchPositions', () => this.#ex.fetchBalance());
    const out: ExchangePosition[] = [];
    for (const symbol of [...this.#symbols].sort()) {
      const base = symbol.split('/')[0] ?? symbol;
      const total = numToDec(balance.total?.[base]);
      if (total !== null && !total.isZero()) out.push({ symbol, quantity: str(total) });
    }
    return out;
  }

  async fetchPrice(symbol: string): Promise<MarketPrice | null> {
    const t = await this.#call('fetchPrice', () => this.#ex.fetchTicker(symbol));
    const last = numToDecimal(t.last) ?? numToDecimal(t.close);
    if (last === null) return null;
    return { last, bid: numToDecimal(t.bid), ask: numToDecimal(t.ask), at: this.#at(t.datetime, t.timestamp) };
  }

  onReply(listener: (reply: ExchangeReply) => void): () => void {
    const wrapped = (reply: ExchangeReply): void => listener(reply);
    this.#listeners.add(wrapped);
    this.#startStreams();
    return () => {
      this.#listeners.delete(wrapped);
    };
  }

  // ---- streams ------------------------------------------------------------------------------

  #startStreams(): void {
    if (this.#streaming) return;
    const watchOrders = this.#ex.watchOrders;
    const watchMyTrades = this.#ex.watchMyTrades;
    if (watchOrders === undefined && watchMyTrades === undefined) return;
    this.#streaming = true;
    let running = 0;
    const done = () => {
      if (--running === 0) this.#streaming = false;
    };
    if (watchOrders !== undefined) {
      running++;
      void this.#loop(() => watchOrders.call(this.#ex), (orders) => this.#onOrders(orders)).finally(done);
    }
    if (watchMyTrades !== undefined) {
      running++;
      void this.#loop(() => watchMyTrades.call(this.#ex), (trades) => this.#onTrades(trades)).finally(done);
    }
  }

  async #loop<T>(watch: () => Promise<T>, handle: (value: T) => void): Promise<void> {
    while (this.#listeners.size > 0) {
      let value: T;
      try {
        value = await watch();
      } catch {
        await new Promise((r) => setTimeout(r, this.#streamRetryMs));
        continue;
      }
      handle(value);
    }
  }

  #emit(reply: ExchangeReply): void {
    for (const l of [...this.#listeners]) {
      try {
        l(reply);
      } catch {
        // A listener's failure is its own; the others still get the reply.
      }
    }
  }

  #onOrders(orders: readonly CcxtOrderLike[]): void {
    for (const o of orders) {
      if (!o.id) continue;
      const clientOrderId = o.clientOrderId ?? this.#clientOfExchangeId.get(o.id);
      if (!clientOrderId) continue;
      this.#clientOfExchangeId.set(o.id, clientOrderId);
      const at = this.#at(o.datetime, o.lastUpdateTimestamp ?? o.timestamp);
      const seen = this.#seen.get(clientOrderId) ?? { acked: false, terminal: false };
      this.#seen.set(clientOrderId, seen);
      const { status, reason } = mapStatus(o);
      if (status === 'rejected') {
        if (!seen.terminal) this.#emit({ type: 'reject', clientOrderId, reason: reason ?? 'rejected by the exchange', at });
        seen.terminal = true;
        continue;
      }
      if (!seen.acked) {
        seen.acked = true;
        this.#emit({ type: 'ack', clientOrderId, exchangeOrderId: o.id, at });
      }
      const symbol = o.symbol ?? this.#byClient.get(clientOrderId)?.symbol;
      const side = toSide(o.side) ?? this.#byClient.get(clientOrderId)?.side;
      if (symbol && side) {
        for (const trade of tradesOf(o.trades ?? [], { clientOrderId, exchangeOrderId: o.id, symbol, side }, (d, t) => this.#at(d, t))) {
          this.#pushTrade(trade);
        }
      }
      if (seen.terminal) continue;
      if (status === 'canceled') this.#emit({ type: 'canceled', clientOrderId, reason, at });
      else if (status === 'expired') this.#emit({ type: 'expired', clientOrderId, at });
      seen.terminal = status !== 'open';
    }
  }

  #onTrades(trades: readonly CcxtTradeLike[]): void {
    for (const [i, t] of trades.entries()) {
      if (!t.order) continue;
      const clientOrderId = this.#clientOfExchangeId.get(t.order);
      const known = clientOrderId ? this.#byClient.get(clientOrderId) : undefined;
      const symbol = t.symbol ?? known?.symbol;
      const side = toSide(t.side) ?? known?.side;
      if (!clientOrderId || !symbol || !side) continue;
      const [trade] = tradesOf([t], { clientOrderId, exchangeOrderId: t.order, symbol, side }, (d, ts) => this.#at(d, ts), i);
      if (trade) this.#pushTrade(trade);
    }
  }

  #pushTrade(trade: ExchangeTrade): void {
    if (this.#pushedTrades.has(trade.tradeId)) return;
    this.#pushedTrades.add(trade.tradeId);
    this.#emit({ type: 'fill', trade });
  }

  // ---- helpers ------------------------------------------------------------------------------

  #orderArgs(request: {
    readonly clientOrderId: string;
    readonly orderType: OrderType;
    readonly price: string | null;
    readonly stopPrice: string | null;
    readonly timeInForce: TimeInForce;
  }): { type: 'market' | 'limit'; price: number | undefined; params: CcxtParams } {
    const params: CcxtParams = { clientOrderId: request.clientOrderId };
    const needPrice = request.orderType === 'LIMIT' || request.orderType === 'STOP_LIMIT';
    const needStop = request.orderType === 'STOP' || request.orderType === 'STOP_LIMIT';
    if (needPrice && request.price === null) throw new ConnectorError('invalid_order', `${request.orderType} needs a price`);
    if (needStop && request.stopPrice === null) throw new ConnectorError('invalid_order', `${request.orderType} needs a stopPrice`);
    if (needStop && request.stopPrice !== null) {
      const trigger = toNumber(request.stopPrice);
      params['triggerPrice'] = trigger;
      params['stopPrice'] = trigger;
    }
    const market = request.orderType === 'MARKET' || request.orderType === 'STOP';
    if (!market || request.timeInForce === 'IOC' || request.timeInForce === 'FOK') params['timeInForce'] = request.timeInForce;
    return {
      type: needPrice ? 'limit' : 'market',
      price: needPrice && request.price !== null ? toNumber(request.price) : undefined,
      params,
    };
  }

  async #resolveId(request: OrderRef): Promise<string> {
    const id = request.exchangeOrderId ?? this.#byClient.get(request.clientOrderId)?.exchangeOrderId;
    if (id) return id;
    const found = await this.fetchOrder(request);
    if (!found) throw new ConnectorError('order_not_found', `order ${request.clientOrderId} not found on ${this.name}`);
    return found.exchangeOrderId;
  }

  async #search(symbol: string, clientOrderId: string): Promise<CcxtOrderLike | null> {
    const match = (list: readonly CcxtOrderLike[]) => list.find((o) => o.clientOrderId === clientOrderId) ?? null;
    const open = match(await this.#call('fetchOrder', () => this.#ex.fetchOpenOrders(symbol)));
    if (open) return open;
    const sources = [this.#ex.fetchClosedOrders, this.#ex.fetchCanceledOrders];
    for (const fetch of sources) {
      if (fetch === undefined) continue;
      const found = match(await this.#call('fetchOrder', () => fetch.call(this.#ex, symbol)));
      if (found) return found;
    }
    return null;
  }

  async #notFoundAsNull(fn: () => Promise<CcxtOrderLike>, tolerateRefusal = false): Promise<CcxtOrderLike | null> {
    try {
      return await this.#call('fetchOrder', fn);
    } catch (e) {
      if (e instanceof ConnectorError && e.kind === 'order_not_found') return null;
      // The exchange refused the lookup itself (no id given, param unknown): search instead.
      if (tolerateRefusal && e instanceof ConnectorError && e.kind === 'invalid_order') return null;
      throw e;
    }
  }

  async #toOrder(o: CcxtOrderLike, ref: OrderRef, loadTrades = true): Promise<ExchangeOrder> {
    const known = this.#byClient.get(ref.clientOrderId);
    const exchangeOrderId = o.id ?? ref.exchangeOrderId ?? known?.exchangeOrderId ?? '';
    const symbol = o.symbol ?? ref.symbol;
    const side = toSide(o.side) ?? known?.side ?? 'BUY';
    const quantity = numToDecimal(o.amount) ?? known?.quantity ?? '0';
    const { status, reason } = mapStatus(o);
    const filled = numToDecimal(o.filled) ?? (status === 'filled' ? quantity : '0');
    const stopPrice = numToDecimal(o.triggerPrice) ?? numToDecimal(o.stopPrice) ?? known?.stopPrice ?? null;
    const orderType = known?.orderType ?? orderTypeOf(o.type, stopPrice !== null);
    const price = orderType === 'LIMIT' || orderType === 'STOP_LIMIT' ? (numToDecimal(o.price) ?? known?.price ?? null) : null;
    const trade = { clientOrderId: ref.clientOrderId, exchangeOrderId, symbol, side };
    const at = (d: string | null | undefined, t: CcxtNum) => this.#at(d, t);
    let trades = tradesOf(o.trades ?? [], trade, at);
    if (trades.length === 0 && loadTrades && new D(filled).gt(0)) {
      const fetchMyTrades = this.#ex.fetchMyTrades;
      if (fetchMyTrades !== undefined && isEnabled(this.#ex.has['fetchMyTrades'])) {
        const mine = await this.#call('fetchOrder', () => fetchMyTrades.call(this.#ex, symbol));
        trades = tradesOf(
          mine.filter((t) => t.order === exchangeOrderId),
          trade,
          at,
        );
      }
      if (trades.length === 0 && status === 'filled') {
        const avg = numToDecimal(o.average) ?? numToDecimal(o.price);
        if (avg !== null) {
          trades = [
            {
              tradeId: `${exchangeOrderId}#fill`,
              ...trade,
              quantity: filled,
              price: avg,
              fee: '0',
              feeCurrency: null,
              liquidity: null,
              at: this.#at(o.datetime, o.lastUpdateTimestamp ?? o.timestamp),
            },
          ];
        }
      }
    }
    return { ...trade, orderType, status, quantity, filled, price, stopPrice, trades, reason };
  }

  #at(datetime: string | null | undefined, timestamp: CcxtNum): string {
    if (typeof datetime === 'string' && !Number.isNaN(Date.parse(datetime))) return new Date(datetime).toISOString();
    if (typeof timestamp === 'number' && Number.isFinite(timestamp)) return new Date(timestamp).toISOString();
    return new Date(this.#now()).toISOString();
  }

  #clean(text: string): string {
    let out = text;
    for (const s of this.#redact) out = out.split(s).join('***');
    return out;
  }

  async #call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof ConnectorError) throw new ConnectorError(e.kind, this.#clean(e.message.replace(/^[a-z_]+: /, '')));
      const kind = ccxtErrorKind(e) ?? (op === 'place' ? 'network' : 'exchange_unavailable');
      const cls = classChain(e)[0] ?? typeof e;
      const message = e instanceof Error ? e.message : String(e);
      // No `cause`: a ccxt error may carry the signed request (URL, headers).
      throw new ConnectorError(kind, this.#clean(`${this.name} ${op}: ${cls}: ${message}`));
    }
  }
}

function toSide(side: string | null | undefined): Side | null {
  if (side === 'buy') return 'BUY';
  if (side === 'sell') return 'SELL';
  return null;
}

function orderTypeOf(type: string | null | undefined, hasTrigger: boolean): OrderType {
  const t = (type ?? '').toLowerCase().replace(/[-\s]/g, '_');
  if (t === 'stop_limit' || t === 'take_profit_limit' || (t === 'limit' && hasTrigger)) return 'STOP_LIMIT';
  if (t === 'stop' || t === 'stop_market' || t === 'take_profit' || t === 'take_profit_market' || (t === 'market' && hasTrigger)) return 'STOP';
  if (t === 'limit') return 'LIMIT';
  return 'MARKET';
}

function mapStatus(o: CcxtOrderLike): { status: ExchangeOrderStatus; reason: string | null } {
  switch (o.status) {
    case 'closed': {
      const amount = numToDec(o.amount);
      const filled = numToDec(o.filled);
      if (amount !== null && filled !== null && filled.lt(amount)) {
        return { status: 'canceled', reason: `closed with ${str(filled)} of ${str(amount)} filled` };
      }
      return { status: 'filled', reason: null };
    }
    case 'canceled':
    case 'cancelled':
      return { status: 'canceled', reason: null };
    case 'rejected':
      return { status: 'rejected', reason: 'rejected by the exchange' };
    case 'expired':
      return { status: 'expired', reason: null };
    default:
      return { status: 'open', reason: null };
  }
}

function tradesOf(
  trades: readonly CcxtTradeLike[],
  base: { clientOrderId: string; exchangeOrderId: string; symbol: string; side: Side },
  at: (datetime: string | null | undefined, timestamp: CcxtNum) => string,
  indexOffset = 0,
): ExchangeTrade[] {
  const out: ExchangeTrade[] = [];
  for (const [i, t] of trades.entries()) {
    const quantity = numToDecimal(t.amount);
    const price = numToDecimal(t.price);
    if (quantity === null || price === null) continue;
    const fees = t.fees && t.fees.length > 0 ? t.fees : t.fee ? [t.fee] : [];
    const feeCurrency = fees.find((f) => f.currency)?.currency ?? null;
    let fee = new D(0);
    for (const f of fees) {
      const cost = numToDec(f.cost);
      if (cost !== null && (f.currency ?? null) === feeCurrency) fee = fee.plus(cost);
    }
    out.push({
      tradeId: t.id ? String(t.id) : `${base.exchangeOrderId}#${i + indexOffset}`,
      clientOrderId: base.clientOrderId,
      exchangeOrderId: base.exchangeOrderId,
      symbol: base.symbol,
      side: toSide(t.side) ?? base.side,
      quantity,
      price,
      fee: str(fee),
      feeCurrency,
      liquidity: t.takerOrMaker === 'maker' ? 'MAKER' : t.takerOrMaker === 'taker' ? 'TAKER' : null,
      at: at(t.datetime, t.timestamp),
    });
  }
  return out;
}
