import type { Clock } from '../domain/clock.js';
import { isoAt } from '../domain/clock.js';
import { D, DECIMAL_RE, str, type Dec } from '../domain/decimal.js';
import { OrderType, Side, TimeInForce } from '../domain/schemas.js';
import type {
  MarketPrice,
  ConnectorCapabilities,
  ExchangeOrder,
  ExchangeOrderStatus,
  ExchangePosition,
  ExchangeReply,
  ExchangeTrade,
  IExecutionConnector,
  ModifyRequest,
  OrderRef,
  PlaceRequest,
  PlaceResult,
} from './connector.js';
import { ConnectorError } from './connector.js';
import {
  FAULT_KINDS,
  isCallFault,
  nextRandom,
  type CallFaultKind,
  type CallOp,
  type FaultKind,
  type FaultOptions,
  type FaultRecord,
} from './simulated/faults.js';
import { intrabarPath, pathStart, reach, type BarPath, type PathPoint } from './simulated/intrabar.js';

export type { CallFaultKind, CallOp, FaultKind, FaultOptions, FaultRecord } from './simulated/faults.js';
export { intrabarPath } from './simulated/intrabar.js';

/**
 * # SimulatedExchange
 *
 * A deterministic exchange for backtests, paper trading and tests. Given the same seed, options,
 * clock readings and sequence of calls and market data, it produces the same replies, trades,
 * ids and faults, byte for byte. It has no timers: time only matters when it is told something
 * (a call, `onBar`, `onQuote`, `advance`), and "now" is always `clock.now()`.
 *
 * ## Options (all optional; defaults in brackets)
 * - `seed` [1]: seeds the fault PRNG (the only randomness).
 * - `name` ['simulated'], `idPrefix` ['SIM']: exchange order ids are `SIM-O1, SIM-O2, ...`,
 *   trade ids `SIM-T1, ...` (unique within one exchange, also across toJSON/fromJSON).
 * - `makerBps` [0], `takerBps` [0]: fee = price * quantity * bps / 10000, charged in the
 *   symbol's quote currency. Must not be negative (no rebates).
 * - `slippageBps` [0]: taker fills are moved against the order by this many bps (buys higher,
 *   sells lower). A limit-type order is never filled beyond its limit price.
 * - `feeCurrency` ['USD']: the quote currency of symbols without a '/' ('AAPL'). For 'BTC/USDT'
 *   (or 'BTC/USDT:USDT') the quote is 'USDT', the base 'BTC'; for 'AAPL' the base is 'AAPL'.
 * - `participation` [1]: the most one order may fill per bar, as a fraction of the bar's
 *   volume (0.1 = 10%). 1 means no cap at all (not even the bar's volume). The rest waits for
 *   later bars. Quotes carry no volume and are never capped.
 * - `quantityStep` [{}]: per symbol lot size; capped partial fills are rounded down to it and
 *   placed quantities must be a multiple of it.
 * - `minQuantity` [{} = '0' for every symbol]: a smaller order is refused `invalid_order`
 *   ("below minimum size").
 * - `latencyMs` [0]: an order goes live (is acknowledged, and may trade) only once the clock
 *   is latencyMs past its placement. With 0 the ack is pushed inside `place()`. Otherwise the
 *   ack is pushed by the first `advance`/`onBar`/`onQuote` at or after that time, and the order
 *   only trades on bars/quotes whose `at` is at or after it (no filling at the open of a bar
 *   that started before the order arrived). `place()` itself returns at once with the
 *   exchange order id, and `fetchOrder` shows the order as 'open' while in flight. Cancel and
 *   modify act at once.
 * - `balances` [null]: starting balances per currency, e.g. `{ USD: '100000', BTC: '2' }`.
 *   null means cash is unlimited: buys are not checked (balances are still tracked from 0 and
 *   may go negative). With balances, a buy needing more quote than is available is refused
 *   `insufficient_funds`: need = quantity * reference price * (1 + max(maker, taker) bps);
 *   reference = limit price (LIMIT, STOP_LIMIT), stop price (STOP), or the last price
 *   (MARKET: the last bar's close or the last quote's ask; a market buy before any market data
 *   is refused `invalid_order`). Available = balance - what open buys already reserve by the
 *   same rule. Fills are not re-checked, so slippage or a gap may take a balance below zero.
 * - `allowShort` [true]: when false, a sell of more than the base balance (minus open sells)
 *   is refused `insufficient_funds`.
 * - `faults` [{ rate: 0, kinds: [] }]: see `./simulated/faults.ts`. Each call draws from the
 *   PRNG; with probability `rate` it gets one of the listed call kinds ('timeout', 'network'
 *   before the request is applied; 'lost_reply' after). With 'drop_reply' listed, each pushed
 *   reply is dropped with probability `rate`. `injectFault(kind)` queues a fault for the next
 *   call (or reply) regardless of the rate; `faultLog()` lists every fault that happened.
 * - `modify` [true]: `capabilities.modify`; when false `modify()` is refused `invalid_order`.
 * - `orderTypes` [all four]: `capabilities.orderTypes`; others are refused `invalid_order`.
 *
 * ## Refusals (thrown from the call, nothing is recorded)
 * - `duplicate_client_order_id`: any order ever accepted with that clientOrderId, open or closed.
 * - `invalid_order`: missing/extra price or stopPrice for the order type (MARKET: neither;
 *   LIMIT: price; STOP: stopPrice; STOP_LIMIT: both), non-positive or malformed numbers,
 *   unsupported type, below minimum size, modify without modify support, modify to a quantity
 *   not above the filled quantity.
 * - `insufficient_funds`: see `balances` and `allowShort`.
 * - `order_not_found`: cancel/modify of an unknown order or of one already closed.
 * No 'reject' reply is ever pushed: every refusal is synchronous.
 *
 * ## Matching on bars (`onBar`)
 * The bar's path is O -> nearer extreme -> other extreme -> C (see `./simulated/intrabar.ts`;
 * |O-H| < |O-L| gives O-H-L-C, otherwise O-L-H-C). Each eligible order gets at most one fill
 * per bar, at the first point of the path where it can trade; fills in one bar are pushed in
 * path order (then placement order).
 * - MARKET: at the open, plus slippage, taker.
 * - LIMIT buy: when the path is at or below the limit. If the open already is (a gap through the
 *   limit) it fills at the open (plus slippage, capped at the limit) as taker; otherwise at the
 *   limit price as maker. Sells mirror (at or above).
 * - STOP buy: triggers when the path is at or above the stop; fills at the stop price, or at the
 *   open if the bar opened beyond it, plus slippage, taker. Sells mirror.
 * - STOP_LIMIT: triggers like STOP, then is a LIMIT from the trigger point on: if the trigger
 *   price is within the limit it fills there as taker (slippage capped at the limit), else it
 *   rests and fills later in the path (maker, at the limit) or in later bars.
 * - Each fill is at most `participation * volume` (rounded down to `quantityStep`), or all of
 *   the remaining quantity when participation is 1.
 *
 * ## Matching on quotes (`onQuote`)
 * A quote is a jump, not a path: buys look at the ask, sells at the bid. MARKET fills at it
 * (plus slippage). STOP triggers when ask >= stop (buy) / bid <= stop (sell) and fills at the
 * quote plus slippage. A LIMIT (or triggered STOP_LIMIT) within the quote fills at the quote as
 * taker (capped at the limit) if this is the first market data it sees since it went live, was
 * triggered or was modified; if it had already been resting, it fills at its limit as maker.
 *
 * ## Time in force
 * - GTC: until filled or canceled.
 * - IOC: works for one bar/quote from when it can first trade (for MARKET/LIMIT the first
 *   bar/quote it is eligible for; for STOP/STOP_LIMIT the one that triggers it); whatever is
 *   left is then canceled ('canceled' reply, reason 'IOC ...'). IOC/FOK fills are always taker.
 * - FOK: the same window, but it fills all of its quantity in one fill or nothing, then it is
 *   'expired'.
 * - DAY: expires at the end of the UTC day (by the clock) in which it was placed: 'expired' is
 *   pushed (stamped with that midnight) by the first `advance`/`onBar`/`onQuote` whose clock,
 *   or, for that symbol's data, whose `at`, is at or past that midnight.
 *
 * ## Replies
 * Pushed synchronously to every listener, in the order produced, before the call that produced
 * them returns (they are queued during a call and delivered when its state change is complete,
 * so a listener may call back into the exchange). Ack `at` is when the order went live, expiry
 * `at` the midnight it expired; everything else is `clock.now()`. If a listener throws, the
 * other listeners still get the reply and the first error is rethrown afterwards.
 *
 * ## Snapshot
 * `toJSON()` is the whole state (orders with trades, balances, positions, last prices,
 * counters, PRNG state, queued faults); `SimulatedExchange.fromJSON(state, clock)` continues
 * exactly where it left off. Listeners are not part of it.
 */
export interface SimulatedExchangeOptions {
  readonly seed?: number;
  readonly name?: string;
  readonly idPrefix?: string;
  readonly makerBps?: string | number;
  readonly takerBps?: string | number;
  readonly slippageBps?: string | number;
  readonly feeCurrency?: string;
  readonly participation?: string | number;
  readonly quantityStep?: Readonly<Record<string, string>>;
  readonly minQuantity?: Readonly<Record<string, string>>;
  readonly latencyMs?: number;
  readonly balances?: Readonly<Record<string, string>> | null;
  readonly allowShort?: boolean;
  readonly faults?: FaultOptions;
  readonly modify?: boolean;
  /** Native one-cancels-other for orders placed with the same `ocoGroup` (default true). */
  readonly oco?: boolean;
  readonly orderTypes?: readonly OrderType[];
}

/** A bar of market data. `at` is epoch ms or an ISO-8601 string; prices and volume decimals. */
export interface SimBar {
  readonly at: number | string;
  readonly open: string;
  readonly high: string;
  readonly low: string;
  readonly close: string;
  readonly volume: string;
}

/** A top-of-book quote. */
export interface SimQuote {
  readonly at: number | string;
  readonly bid: string;
  readonly ask: string;
}

/** Options after defaults, as stored in a snapshot. */
export interface ResolvedSimOptions {
  readonly seed: number;
  readonly name: string;
  readonly idPrefix: string;
  readonly makerBps: string;
  readonly takerBps: string;
  readonly slippageBps: string;
  readonly feeCurrency: string;
  readonly participation: string;
  readonly quantityStep: Record<string, string>;
  readonly minQuantity: Record<string, string>;
  readonly latencyMs: number;
  readonly checkFunds: boolean;
  readonly allowShort: boolean;
  readonly faults: { readonly rate: number; readonly kinds: FaultKind[] };
  readonly modify: boolean;
  readonly oco: boolean;
  readonly orderTypes: OrderType[];
}

/** An order as the simulated exchange keeps it (JSON-serializable). */
export interface SimOrderRecord {
  readonly seq: number;
  readonly clientOrderId: string;
  readonly exchangeOrderId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  readonly timeInForce: TimeInForce;
  quantity: string;
  filled: string;
  price: string | null;
  stopPrice: string | null;
  status: ExchangeOrderStatus;
  reason: string | null;
  trades: ExchangeTrade[];
  readonly placedAt: number;
  /** When it goes live: placedAt + latencyMs. */
  readonly activeAt: number;
  /** The ack has been produced (the order is live and may trade). */
  acked: boolean;
  /** STOP / STOP_LIMIT: the stop has been reached. */
  triggered: boolean;
  /** Has been working through at least one bar/quote since it went live, triggered or changed. */
  rested: boolean;
  /** DAY orders: the midnight (epoch ms) at which it expires. */
  readonly expiresAt: number | null;
  /** MARKET buys: the last price at placement, for the funds reservation. */
  readonly refPrice: string | null;
  /** One-cancels-other link: a fill reduces the other open orders of the set by as much. */
  readonly ocoGroup: string | null;
}

export interface SimulatedExchangeState {
  readonly version: 1;
  readonly options: ResolvedSimOptions;
  readonly orders: SimOrderRecord[];
  readonly nextOrder: number;
  readonly nextTrade: number;
  readonly balances: Record<string, string>;
  readonly positions: Record<string, string>;
  /** Last price per symbol: the last bar's close or the last quote's ask. */
  readonly marks: Record<string, string>;
  readonly rng: number;
  readonly callSeq: number;
  readonly replySeq: number;
  readonly injectedCallFaults: CallFaultKind[];
  readonly injectedReplyDrops: number;
  readonly faultLog: FaultRecord[];
  readonly dropped: ExchangeReply[];
  readonly duplicateAttempts: number;
  readonly outbox: ExchangeReply[];
}

interface Fill {
  readonly order: SimOrderRecord;
  readonly tau: Dec;
  readonly price: Dec;
  readonly liquidity: 'MAKER' | 'TAKER';
}

const ALL_ORDER_TYPES: readonly OrderType[] = OrderType.options;
const BPS = new D(10000);

export class SimulatedExchange implements IExecutionConnector {
  readonly name: string;
  readonly capabilities: ConnectorCapabilities;

  private readonly opts: ResolvedSimOptions;
  private readonly makerRate: Dec;
  private readonly takerRate: Dec;
  private readonly slipRate: Dec;
  private readonly participationRate: Dec | null;

  private orders: SimOrderRecord[] = [];
  private readonly byClient = new Map<string, SimOrderRecord>();
  private readonly byExchange = new Map<string, SimOrderRecord>();
  /** Open orders in placement order. */
  private readonly open = new Map<string, SimOrderRecord>();
  private nextOrder = 1;
  private nextTrade = 1;
  private wallet: Record<string, string> = {};
  private positions: Record<string, string> = {};
  private marks: Record<string, string> = {};
  private rng: number;
  private callSeq = 0;
  private replySeq = 0;
  private injectedCallFaults: CallFaultKind[] = [];
  private injectedReplyDrops = 0;
  private faults: FaultRecord[] = [];
  private dropped: ExchangeReply[] = [];
  private duplicates = 0;

  private outbox: ExchangeReply[] = [];
  private flushing = false;
  private readonly listeners = new Set<(reply: ExchangeReply) => void>();

  constructor(
    private readonly clock: Clock,
    options: SimulatedExchangeOptions = {},
  ) {
    this.opts = resolveOptions(options);
    this.name = this.opts.name;
    this.capabilities = { modify: this.opts.modify, oco: this.opts.oco, orderTypes: [...this.opts.orderTypes] };
    this.makerRate = new D(this.opts.makerBps).div(BPS);
    this.takerRate = new D(this.opts.takerBps).div(BPS);
    this.slipRate = new D(this.opts.slippageBps).div(BPS);
    const participation = new D(this.opts.participation);
    this.participationRate = participation.gte(1) ? null : participation;
    this.rng = this.opts.seed >>> 0;
    for (const [currency, amount] of Object.entries(options.balances ?? {})) this.wallet[currency] = str(new D(amount));
  }

  // -------------------------------------------------------------------------------------------
  // IExecutionConnector
  // -------------------------------------------------------------------------------------------

  async place(request: PlaceRequest): Promise<PlaceResult> {
    return this.call('place', request.clientOrderId, () => this.doPlace(request));
  }

  async cancel(request: OrderRef): Promise<void> {
    this.call('cancel', request.clientOrderId, () => this.doCancel(request));
  }

  async modify(request: ModifyRequest): Promise<void> {
    this.call('modify', request.clientOrderId, () => this.doModify(request));
  }

  async fetchOrder(request: OrderRef): Promise<ExchangeOrder | null> {
    return this.call('fetchOrder', request.clientOrderId, () => {
      const order = this.lookup(request);
      return order === null ? null : view(order);
    });
  }

  async fetchOpenOrders(symbol?: string): Promise<ExchangeOrder[]> {
    return this.call('fetchOpenOrders', null, () =>
      [...this.open.values()].filter((o) => symbol === undefined || o.symbol === symbol).map(view),
    );
  }

  async fetchPositions(): Promise<ExchangePosition[]> {
    return this.call('fetchPositions', null, () => this.positionList());
  }

  async fetchPrice(symbol: string): Promise<MarketPrice | null> {
    return this.call('fetchPrice', null, () => {
      const last = this.marks[symbol];
      return last === undefined ? null : { last, bid: null, ask: null, at: this.nowIso() };
    });
  }

  onReply(listener: (reply: ExchangeReply) => void): () => void {
    // Wrapped so the same function subscribed twice gets replies twice and unsubscribes singly.
    const wrapped = (reply: ExchangeReply): void => listener(reply);
    this.listeners.add(wrapped);
    return () => {
      this.listeners.delete(wrapped);
    };
  }

  // -------------------------------------------------------------------------------------------
  // Market data and time
  // -------------------------------------------------------------------------------------------

  /** A bar for `symbol`: acks and expiries due now, then fills along the bar's path. */
  onBar(symbol: string, bar: SimBar): void {
    this.run(() => {
      const at = parseAt(bar.at, 'bar.at');
      const open = price(bar.open, 'bar.open');
      const high = price(bar.high, 'bar.high');
      const low = price(bar.low, 'bar.low');
      const close = price(bar.close, 'bar.close');
      const volume = decimal(bar.volume, 'bar.volume');
      if (volume.lt(0)) throw new RangeError(`bar.volume must not be negative, got ${bar.volume}`);
      if (high.lt(open) || high.lt(close) || high.lt(low)) throw new RangeError(`bar.high ${bar.high} is below open, close or low`);
      if (low.gt(open) || low.gt(close)) throw new RangeError(`bar.low ${bar.low} is above open or close`);
      this.sweep(symbol, at);
      this.matchBar(symbol, at, intrabarPath(open, high, low, close), volume);
      this.marks[symbol] = str(close);
    });
  }

  /** A quote for `symbol`: acks and expiries due now, then fills against bid/ask. */
  onQuote(symbol: string, quote: SimQuote): void {
    this.run(() => {
      const at = parseAt(quote.at, 'quote.at');
      const bid = price(quote.bid, 'quote.bid');
      const ask = price(quote.ask, 'quote.ask');
      if (bid.gt(ask)) throw new RangeError(`quote is crossed: bid ${quote.bid} > ask ${quote.ask}`);
      this.sweep(symbol, at);
      this.matchQuote(symbol, at, bid, ask);
      this.marks[symbol] = str(ask);
    });
  }

  /** Produce what is due at `clock.now()` without market data: acks of orders gone live, DAY expiries. */
  advance(): void {
    this.run(() => this.sweep(null, null));
  }

  // -------------------------------------------------------------------------------------------
  // Inspection and test hooks
  // -------------------------------------------------------------------------------------------

  /** Accepted placements per clientOrderId (refused duplicates are not counted). */
  placementsByClientOrderId(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const o of this.orders) counts.set(o.clientOrderId, (counts.get(o.clientOrderId) ?? 0) + 1);
    return counts;
  }

  /** How many placements were refused as `duplicate_client_order_id`. */
  duplicateAttempts(): number {
    return this.duplicates;
  }

  /** Every accepted order, open or closed, in placement order. */
  allOrders(): ExchangeOrder[] {
    return this.orders.map(view);
  }

  /** Current balance per currency. */
  balances(): Record<string, string> {
    return { ...this.wallet };
  }

  /** Every fault injected so far, in order. */
  faultLog(): readonly FaultRecord[] {
    return [...this.faults];
  }

  /** Replies that were produced but dropped by 'drop_reply'. */
  droppedReplies(): readonly ExchangeReply[] {
    return [...this.dropped];
  }

  /**
   * Force a fault regardless of the rate: a call kind applies to the next connector call, a
   * 'drop_reply' to the next pushed reply. Queued faults are used first-in first-out.
   */
  injectFault(kind: FaultKind): void {
    if (!FAULT_KINDS.includes(kind)) throw new RangeError(`unknown fault kind ${String(kind)}`);
    if (isCallFault(kind)) this.injectedCallFaults.push(kind);
    else this.injectedReplyDrops++;
  }

  // -------------------------------------------------------------------------------------------
  // Snapshot
  // -------------------------------------------------------------------------------------------

  toJSON(): SimulatedExchangeState {
    return structuredClone({
      version: 1,
      options: this.opts,
      orders: this.orders,
      nextOrder: this.nextOrder,
      nextTrade: this.nextTrade,
      balances: this.wallet,
      positions: this.positions,
      marks: this.marks,
      rng: this.rng,
      callSeq: this.callSeq,
      replySeq: this.replySeq,
      injectedCallFaults: this.injectedCallFaults,
      injectedReplyDrops: this.injectedReplyDrops,
      faultLog: this.faults,
      dropped: this.dropped,
      duplicateAttempts: this.duplicates,
      outbox: this.outbox,
    } satisfies SimulatedExchangeState);
  }

  static fromJSON(state: SimulatedExchangeState, clock: Clock): SimulatedExchange {
    if (state.version !== 1) throw new RangeError(`unsupported simulated exchange state version ${String(state.version)}`);
    const s = structuredClone(state);
    const o = s.options;
    const exchange = new SimulatedExchange(clock, { ...o, balances: o.checkFunds ? {} : null });
    exchange.orders = [...s.orders].sort((a, b) => a.seq - b.seq);
    for (const order of exchange.orders) {
      exchange.byClient.set(order.clientOrderId, order);
      exchange.byExchange.set(order.exchangeOrderId, order);
      if (order.status === 'open') exchange.open.set(order.exchangeOrderId, order);
    }
    exchange.nextOrder = s.nextOrder;
    exchange.nextTrade = s.nextTrade;
    exchange.wallet = s.balances;
    exchange.positions = s.positions;
    exchange.marks = s.marks;
    exchange.rng = s.rng >>> 0;
    exchange.callSeq = s.callSeq;
    exchange.replySeq = s.replySeq;
    exchange.injectedCallFaults = s.injectedCallFaults;
    exchange.injectedReplyDrops = s.injectedReplyDrops;
    exchange.faults = s.faultLog;
    exchange.dropped = s.dropped;
    exchange.duplicates = s.duplicateAttempts;
    exchange.outbox = s.outbox;
    return exchange;
  }

  // -------------------------------------------------------------------------------------------
  // Calls
  // -------------------------------------------------------------------------------------------

  /** Runs one connector call under the fault model; replies are delivered before it returns. */
  private call<T>(op: CallOp, clientOrderId: string | null, apply: () => T): T {
    return this.run(() => {
      const fault = this.drawCallFault(op, clientOrderId);
      if (fault === 'timeout') throw new ConnectorError('timeout', `simulated timeout on ${op}; the request was not applied`);
      if (fault === 'network') throw new ConnectorError('network', `simulated network error on ${op}; the request was not applied`);
      if (fault !== 'lost_reply') return apply();
      try {
        apply();
      } catch (error) {
        throw new ConnectorError('timeout', `simulated timeout on ${op}; the request was applied and its answer lost`, { cause: error });
      }
      throw new ConnectorError('timeout', `simulated timeout on ${op}; the request was applied and its answer lost`);
    });
  }

  private drawCallFault(op: CallOp, clientOrderId: string | null): CallFaultKind | null {
    const seq = ++this.callSeq;
    const injected = this.injectedCallFaults.shift();
    let kind: CallFaultKind | null = injected ?? null;
    if (injected === undefined) {
      const kinds = this.opts.faults.kinds.filter(isCallFault);
      if (this.opts.faults.rate > 0 && kinds.length > 0 && this.random() < this.opts.faults.rate) {
        kind = kinds[Math.min(kinds.length - 1, Math.floor(this.random() * kinds.length))] ?? null;
      }
    }
    if (kind !== null) this.faults.push({ seq, op, kind, clientOrderId: clientOrderId ?? null, random: injected === undefined });
    return kind;
  }

  private random(): number {
    const { state, value } = nextRandom(this.rng);
    this.rng = state;
    return value;
  }

  private doPlace(req: PlaceRequest): PlaceResult {
    if (typeof req.clientOrderId !== 'string' || req.clientOrderId.length === 0) throw invalid('clientOrderId is required');
    const existing = this.byClient.get(req.clientOrderId);
    if (existing !== undefined) {
      this.duplicates++;
      throw new ConnectorError(
        'duplicate_client_order_id',
        `clientOrderId ${req.clientOrderId} was already used by order ${existing.exchangeOrderId} (${existing.status})`,
      );
    }
    if (typeof req.symbol !== 'string' || req.symbol.length === 0) throw invalid('symbol is required');
    if (!Side.options.includes(req.side)) throw invalid(`side must be BUY or SELL, got ${String(req.side)}`);
    if (!ALL_ORDER_TYPES.includes(req.orderType)) throw invalid(`unknown order type ${String(req.orderType)}`);
    if (!this.opts.orderTypes.includes(req.orderType)) throw invalid(`order type ${req.orderType} is not supported`);
    if (!TimeInForce.options.includes(req.timeInForce)) throw invalid(`unknown time in force ${String(req.timeInForce)}`);
    checkShape(req.orderType, req.price, req.stopPrice);
    const quantity = positive(req.quantity, 'quantity');
    this.checkSize(req.symbol, quantity);

    const now = this.clock.now();
    const mark = this.marks[req.symbol] ?? null;
    if (req.orderType === 'MARKET' && req.side === 'BUY' && this.opts.checkFunds && mark === null) {
      throw invalid(`no market price for ${req.symbol} yet to check funds for a market buy`);
    }
    const refPrice = req.orderType === 'MARKET' && req.side === 'BUY' ? mark : null;
    this.checkFunds(
      { symbol: req.symbol, side: req.side, orderType: req.orderType, price: req.price, stopPrice: req.stopPrice, refPrice },
      quantity,
      null,
    );

    const exchangeOrderId = `${this.opts.idPrefix}-O${this.nextOrder}`;
    const order: SimOrderRecord = {
      seq: this.nextOrder++,
      clientOrderId: req.clientOrderId,
      exchangeOrderId,
      symbol: req.symbol,
      side: req.side,
      orderType: req.orderType,
      timeInForce: req.timeInForce,
      quantity: req.quantity,
      filled: '0',
      price: req.price,
      stopPrice: req.stopPrice,
      status: 'open',
      reason: null,
      trades: [],
      placedAt: now,
      activeAt: now + this.opts.latencyMs,
      acked: false,
      triggered: false,
      rested: false,
      expiresAt: req.timeInForce === 'DAY' ? nextUtcMidnight(now) : null,
      refPrice,
      ocoGroup: this.opts.oco ? (req.ocoGroup ?? null) : null,
    };
    this.orders.push(order);
    this.byClient.set(order.clientOrderId, order);
    this.byExchange.set(exchangeOrderId, order);
    this.open.set(exchangeOrderId, order);
    if (order.activeAt <= now) this.ack(order);
    return { exchangeOrderId };
  }

  private doCancel(req: OrderRef): void {
    const order = this.openOrder(req, 'cancel');
    this.close(order, 'canceled', null);
    this.emit({ type: 'canceled', clientOrderId: order.clientOrderId, reason: null, at: this.nowIso() });
  }

  private doModify(req: ModifyRequest): void {
    if (!this.opts.modify) throw invalid('this exchange does not support modify; cancel and replace');
    const order = this.openOrder(req, 'modify');
    if (req.price === null && req.stopPrice === null && req.quantity === null) throw invalid('nothing to modify');
    const price = req.price ?? order.price;
    const stopPrice = req.stopPrice ?? order.stopPrice;
    checkShape(order.orderType, price, stopPrice);
    const quantityText = req.quantity ?? order.quantity;
    const quantity = positive(quantityText, 'quantity');
    const filled = new D(order.filled);
    if (quantity.lte(filled)) throw invalid(`quantity ${quantityText} must exceed the filled quantity ${order.filled}`);
    this.checkSize(order.symbol, quantity);
    this.checkFunds({ ...order, price, stopPrice }, quantity.minus(filled), order);
    order.price = price;
    order.stopPrice = stopPrice;
    order.quantity = quantityText;
    order.rested = false;
    this.emit({ type: 'modified', clientOrderId: order.clientOrderId, at: this.nowIso() });
  }

  /** The order a request names, or null. An exchange id wins; a named symbol must match. */
  private lookup(ref: OrderRef): SimOrderRecord | null {
    let order: SimOrderRecord | undefined;
    if (ref.exchangeOrderId !== null && ref.exchangeOrderId !== undefined && ref.exchangeOrderId !== '') {
      order = this.byExchange.get(ref.exchangeOrderId);
      if (order !== undefined && ref.clientOrderId && order.clientOrderId !== ref.clientOrderId) return null;
    } else {
      order = this.byClient.get(ref.clientOrderId);
    }
    if (order === undefined) return null;
    if (ref.symbol && order.symbol !== ref.symbol) return null;
    return order;
  }

  private openOrder(ref: OrderRef, what: string): SimOrderRecord {
    const order = this.lookup(ref);
    const name = ref.exchangeOrderId ?? ref.clientOrderId;
    if (order === null) throw new ConnectorError('order_not_found', `${what}: unknown order ${name}`);
    if (order.status !== 'open') throw new ConnectorError('order_not_found', `${what}: order ${name} is already ${order.status}`);
    return order;
  }

  private checkSize(symbol: string, quantity: Dec): void {
    const min = this.opts.minQuantity[symbol];
    if (min !== undefined && quantity.lt(min)) throw invalid(`quantity ${str(quantity)} is below minimum size ${min} for ${symbol}`);
    const step = this.opts.quantityStep[symbol];
    if (step !== undefined && !quantity.mod(step).isZero()) throw invalid(`quantity ${str(quantity)} is not a multiple of the lot size ${step} for ${symbol}`);
  }

  /** Refuses an order (or a modification) the balances cannot cover; see the class comment. */
  private checkFunds(order: FundsView, remaining: Dec, exclude: SimOrderRecord | null): void {
    const { base, quote } = this.assets(order.symbol);
    if (order.side === 'BUY') {
      if (!this.opts.checkFunds) return;
      const need = this.buyReservation(order, remaining);
      let reserved = new D(0);
      for (const o of this.open.values()) {
        if (o === exclude || o.side !== 'BUY' || this.assets(o.symbol).quote !== quote) continue;
        reserved = reserved.plus(this.buyReservation(o, new D(o.quantity).minus(o.filled)));
      }
      const available = this.balance(quote).minus(reserved);
      if (need.gt(available)) {
        throw new ConnectorError('insufficient_funds', `buy needs ${str(need)} ${quote}, ${str(available)} ${quote} available`);
      }
    } else {
      if (this.opts.allowShort) return;
      let reserved = new D(0);
      for (const o of this.open.values()) {
        if (o === exclude || o.side !== 'SELL' || this.assets(o.symbol).base !== base) continue;
        reserved = reserved.plus(new D(o.quantity).minus(o.filled));
      }
      const available = this.balance(base).minus(reserved);
      if (remaining.gt(available)) {
        throw new ConnectorError('insufficient_funds', `sell of ${str(remaining)} ${base} exceeds the ${str(available)} ${base} held (short selling is off)`);
      }
    }
  }

  private buyReservation(order: FundsView, remaining: Dec): Dec {
    const ref =
      order.orderType === 'LIMIT' || order.orderType === 'STOP_LIMIT' ? order.price
      : order.orderType === 'STOP' ? order.stopPrice
      : order.refPrice;
    if (ref === null) return new D(0);
    const feeRate = D.max(this.makerRate, this.takerRate);
    return remaining.times(ref).times(feeRate.plus(1));
  }

  // -------------------------------------------------------------------------------------------
  // Matching
  // -------------------------------------------------------------------------------------------

  /** Acks for orders gone live, then DAY expiries (by the clock, or by this symbol's data time). */
  private sweep(symbol: string | null, dataAt: number | null): void {
    const now = this.clock.now();
    for (const order of this.open.values()) {
      if (!order.acked && order.activeAt <= now) this.ack(order);
    }
    for (const order of [...this.open.values()]) {
      if (order.expiresAt === null) continue;
      const byData = order.symbol === symbol && dataAt !== null && dataAt >= order.expiresAt;
      if (now >= order.expiresAt || byData) {
        this.close(order, 'expired', 'DAY order expired at the end of its UTC day');
        this.emit({ type: 'expired', clientOrderId: order.clientOrderId, at: isoAt(order.expiresAt) });
      }
    }
  }

  /** Orders on `symbol` that may trade on data stamped `at`. */
  private eligible(symbol: string, at: number): SimOrderRecord[] {
    return [...this.open.values()].filter((o) => o.symbol === symbol && o.acked && at >= o.activeAt);
  }

  private matchBar(symbol: string, at: number, path: BarPath, volume: Dec): void {
    const orders = this.eligible(symbol, at);
    const start = pathStart(path);
    const fills: Fill[] = [];
    const armed: SimOrderRecord[] = [];
    for (const order of orders) {
      const from = this.armOnBar(order, path, start);
      if (from === null) continue;
      armed.push(order);
      const fill = this.barFill(order, path, from);
      if (fill !== null) fills.push(fill);
    }
    fills.sort((a, b) => a.tau.comparedTo(b.tau) || a.order.seq - b.order.seq);
    let cap: Dec | null = null;
    if (this.participationRate !== null) {
      cap = volume.times(this.participationRate);
      const step = this.opts.quantityStep[symbol];
      if (step !== undefined) cap = cap.div(step).floor().times(step);
    }
    for (const fill of fills) this.execute(fill, cap);
    this.endOfWindow(orders, armed);
  }

  /** Where on the path the order starts working as a market/limit order; null if not yet (untriggered stop). */
  private armOnBar(order: SimOrderRecord, path: BarPath, start: PathPoint): PathPoint | null {
    if (order.orderType === 'MARKET' || order.orderType === 'LIMIT' || order.triggered) return start;
    const stop = new D(order.stopPrice ?? '0');
    const triggered = reach(path, start, order.side === 'BUY' ? 'up' : 'down', stop);
    if (triggered === null) return null;
    order.triggered = true;
    return triggered;
  }

  private barFill(order: SimOrderRecord, path: BarPath, from: PathPoint): Fill | null {
    if (order.orderType === 'MARKET' || order.orderType === 'STOP') {
      return { order, tau: from.tau, price: this.takerPrice(order, from.price), liquidity: 'TAKER' };
    }
    const limit = new D(order.price ?? '0');
    const hit = reach(path, from, order.side === 'BUY' ? 'down' : 'up', limit);
    if (hit === null) return null;
    if (hit.atStart) return { order, tau: hit.tau, price: this.takerPrice(order, hit.price), liquidity: 'TAKER' };
    const immediate = order.timeInForce === 'IOC' || order.timeInForce === 'FOK';
    return { order, tau: hit.tau, price: limit, liquidity: immediate ? 'TAKER' : 'MAKER' };
  }

  private matchQuote(symbol: string, at: number, bid: Dec, ask: Dec): void {
    const orders = this.eligible(symbol, at);
    const armed: SimOrderRecord[] = [];
    for (const order of orders) {
      const buy = order.side === 'BUY';
      const px = buy ? ask : bid;
      if ((order.orderType === 'STOP' || order.orderType === 'STOP_LIMIT') && !order.triggered) {
        const stop = new D(order.stopPrice ?? '0');
        if (buy ? px.lt(stop) : px.gt(stop)) continue;
        order.triggered = true;
      }
      armed.push(order);
      if (order.orderType === 'MARKET' || order.orderType === 'STOP') {
        this.execute({ order, tau: new D(0), price: this.takerPrice(order, px), liquidity: 'TAKER' }, null);
        continue;
      }
      const limit = new D(order.price ?? '0');
      if (buy ? px.gt(limit) : px.lt(limit)) continue;
      const immediate = order.timeInForce === 'IOC' || order.timeInForce === 'FOK';
      const fill: Fill =
        order.rested && !immediate
          ? { order, tau: new D(0), price: limit, liquidity: 'MAKER' }
          : { order, tau: new D(0), price: this.takerPrice(order, px), liquidity: 'TAKER' };
      this.execute(fill, null);
    }
    this.endOfWindow(orders, armed);
  }

  /** IOC/FOK orders that had their one chance are closed; the rest have now rested. */
  private endOfWindow(eligible: readonly SimOrderRecord[], armed: readonly SimOrderRecord[]): void {
    for (const order of armed) {
      if (order.status !== 'open') continue;
      if (order.timeInForce === 'IOC') {
        const reason = `IOC: unfilled ${str(new D(order.quantity).minus(order.filled))} canceled`;
        this.close(order, 'canceled', reason);
        this.emit({ type: 'canceled', clientOrderId: order.clientOrderId, reason, at: this.nowIso() });
      } else if (order.timeInForce === 'FOK') {
        this.close(order, 'expired', 'FOK: could not be filled entirely');
        this.emit({ type: 'expired', clientOrderId: order.clientOrderId, at: this.nowIso() });
      }
    }
    for (const order of eligible) {
      if (order.status === 'open' && (order.orderType === 'MARKET' || order.orderType === 'LIMIT' || order.triggered)) order.rested = true;
    }
  }

  /** Taker price: slippage against the order, never beyond a limit price. */
  private takerPrice(order: SimOrderRecord, at: Dec): Dec {
    const buy = order.side === 'BUY';
    let p = buy ? at.times(this.slipRate.plus(1)) : at.times(new D(1).minus(this.slipRate));
    if (order.price !== null && (order.orderType === 'LIMIT' || order.orderType === 'STOP_LIMIT')) {
      const limit = new D(order.price);
      p = buy ? D.min(p, limit) : D.max(p, limit);
    }
    return p;
  }

  private execute(fill: Fill, cap: Dec | null): void {
    const { order } = fill;
    if (order.status !== 'open') return;
    const remaining = new D(order.quantity).minus(order.filled);
    const quantity = cap === null ? remaining : D.min(remaining, cap);
    if (order.timeInForce === 'FOK' && quantity.lt(remaining)) return; // all or nothing: expires at window end
    if (quantity.lte(0)) return;
    this.fill(order, quantity, fill.price, fill.liquidity);
  }

  private fill(order: SimOrderRecord, quantity: Dec, price: Dec, liquidity: 'MAKER' | 'TAKER'): void {
    const { base, quote } = this.assets(order.symbol);
    const notional = quantity.times(price);
    const fee = notional.times(liquidity === 'MAKER' ? this.makerRate : this.takerRate);
    const trade: ExchangeTrade = {
      tradeId: `${this.opts.idPrefix}-T${this.nextTrade++}`,
      clientOrderId: order.clientOrderId,
      exchangeOrderId: order.exchangeOrderId,
      symbol: order.symbol,
      side: order.side,
      quantity: str(quantity),
      price: str(price),
      fee: str(fee),
      feeCurrency: quote,
      liquidity,
      at: this.nowIso(),
    };
    order.trades.push(trade);
    const filled = new D(order.filled).plus(quantity);
    order.filled = str(filled);
    const signed = order.side === 'BUY' ? quantity : quantity.neg();
    this.credit(base, signed);
    this.credit(quote, order.side === 'BUY' ? notional.plus(fee).neg() : notional.minus(fee));
    this.positions[order.symbol] = str(new D(this.positions[order.symbol] ?? '0').plus(signed));
    if (filled.gte(order.quantity)) this.close(order, 'filled', null);
    this.emit({ type: 'fill', trade });
    if (order.ocoGroup !== null) this.reduceSiblings(order, quantity);
  }

  /** One-cancels-other: what one order of the set filled, the others can no longer fill. */
  private reduceSiblings(order: SimOrderRecord, quantity: Dec): void {
    for (const sibling of this.open.values()) {
      if (sibling === order || sibling.ocoGroup !== order.ocoGroup) continue;
      const filled = new D(sibling.filled);
      const reduced = D.max(filled, new D(sibling.quantity).minus(quantity));
      sibling.quantity = str(reduced);
      this.emit({ type: 'resized', clientOrderId: sibling.clientOrderId, quantity: sibling.quantity, at: this.nowIso() });
      if (reduced.lte(filled)) this.close(sibling, filled.gt(0) ? 'filled' : 'canceled', 'one-cancels-other');
    }
  }

  // -------------------------------------------------------------------------------------------
  // Bookkeeping
  // -------------------------------------------------------------------------------------------

  private ack(order: SimOrderRecord): void {
    order.acked = true;
    this.emit({ type: 'ack', clientOrderId: order.clientOrderId, exchangeOrderId: order.exchangeOrderId, at: isoAt(order.activeAt) });
  }

  private close(order: SimOrderRecord, status: Exclude<ExchangeOrderStatus, 'open'>, reason: string | null): void {
    order.status = status;
    order.reason = reason;
    this.open.delete(order.exchangeOrderId);
  }

  private assets(symbol: string): { base: string; quote: string } {
    const slash = symbol.indexOf('/');
    if (slash < 0) return { base: symbol, quote: this.opts.feeCurrency };
    const quote = symbol.slice(slash + 1).split(':')[0] ?? '';
    return { base: symbol.slice(0, slash), quote: quote === '' ? this.opts.feeCurrency : quote };
  }

  private balance(currency: string): Dec {
    return new D(this.wallet[currency] ?? '0');
  }

  private credit(currency: string, amount: Dec): void {
    this.wallet[currency] = str(this.balance(currency).plus(amount));
  }

  private positionList(): ExchangePosition[] {
    return Object.keys(this.positions)
      .sort()
      .filter((symbol) => !new D(this.positions[symbol] ?? '0').isZero())
      .map((symbol) => ({ symbol, quantity: this.positions[symbol] ?? '0' }));
  }

  private nowIso(): string {
    return isoAt(this.clock.now());
  }

  // -------------------------------------------------------------------------------------------
  // Reply delivery
  // -------------------------------------------------------------------------------------------

  private emit(reply: ExchangeReply): void {
    this.outbox.push(reply);
  }

  /** Runs `work`, then delivers every queued reply (also when `work` throws). */
  private run<T>(work: () => T): T {
    try {
      return work();
    } finally {
      this.flush();
    }
  }

  private flush(): void {
    if (this.flushing) return; // a listener called back in: the outer loop delivers its replies
    this.flushing = true;
    let failed = false;
    let firstError: unknown;
    try {
      for (let reply = this.outbox.shift(); reply !== undefined; reply = this.outbox.shift()) {
        if (this.dropReply(reply)) continue;
        for (const listener of [...this.listeners]) {
          try {
            listener(reply);
          } catch (error) {
            if (!failed) firstError = error;
            failed = true;
          }
        }
      }
    } finally {
      this.flushing = false;
    }
    if (failed) throw firstError;
  }

  private dropReply(reply: ExchangeReply): boolean {
    const seq = ++this.replySeq;
    let random = false;
    let drop = false;
    if (this.injectedReplyDrops > 0) {
      this.injectedReplyDrops--;
      drop = true;
    } else if (this.opts.faults.rate > 0 && this.opts.faults.kinds.includes('drop_reply')) {
      drop = this.random() < this.opts.faults.rate;
      random = true;
    }
    if (!drop) return false;
    const clientOrderId = reply.type === 'fill' ? reply.trade.clientOrderId : reply.clientOrderId;
    this.faults.push({ seq, op: 'reply', kind: 'drop_reply', clientOrderId, random });
    this.dropped.push(reply);
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

interface FundsView {
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  readonly price: string | null;
  readonly stopPrice: string | null;
  readonly refPrice: string | null;
}

function view(order: SimOrderRecord): ExchangeOrder {
  return {
    clientOrderId: order.clientOrderId,
    exchangeOrderId: order.exchangeOrderId,
    symbol: order.symbol,
    side: order.side,
    orderType: order.orderType,
    status: order.status,
    quantity: order.quantity,
    filled: order.filled,
    price: order.price,
    stopPrice: order.stopPrice,
    trades: order.trades.map((t) => ({ ...t })),
    reason: order.reason,
  };
}

function invalid(message: string): ConnectorError {
  return new ConnectorError('invalid_order', message);
}

function isDecimal(value: unknown): value is string {
  return typeof value === 'string' && DECIMAL_RE.test(value);
}

/** A positive decimal request field, or `invalid_order`. */
function positive(value: unknown, field: string): Dec {
  if (!isDecimal(value) || !new D(value).gt(0)) throw invalid(`${field} must be a positive decimal string, got ${String(value)}`);
  return new D(value);
}

/** Which of price / stopPrice an order type takes: MARKET neither, LIMIT price, STOP stop, STOP_LIMIT both. */
function checkShape(orderType: OrderType, price: string | null, stopPrice: string | null): void {
  const needsPrice = orderType === 'LIMIT' || orderType === 'STOP_LIMIT';
  const needsStop = orderType === 'STOP' || orderType === 'STOP_LIMIT';
  if (needsPrice && (price === null || price === undefined)) throw invalid(`price is required for ${orderType} orders`);
  if (!needsPrice && price !== null && price !== undefined) throw invalid(`price must be null for ${orderType} orders`);
  if (needsStop && (stopPrice === null || stopPrice === undefined)) throw invalid(`stopPrice is required for ${orderType} orders`);
  if (!needsStop && stopPrice !== null && stopPrice !== undefined) throw invalid(`stopPrice must be null for ${orderType} orders`);
  if (needsPrice) positive(price, 'price');
  if (needsStop) positive(stopPrice, 'stopPrice');
}

/** Market data numbers: a bad value is the driver's bug, so a RangeError, not a ConnectorError. */
function decimal(value: unknown, field: string): Dec {
  if (!isDecimal(value)) throw new RangeError(`${field} must be a decimal string, got ${String(value)}`);
  return new D(value);
}

function price(value: unknown, field: string): Dec {
  const d = decimal(value, field);
  if (!d.gt(0)) throw new RangeError(`${field} must be positive, got ${String(value)}`);
  return d;
}

function parseAt(value: number | string, field: string): number {
  const ms = typeof value === 'number' ? value : Date.parse(value);
  if (!Number.isFinite(ms)) throw new RangeError(`${field} must be epoch milliseconds or an ISO-8601 time, got ${String(value)}`);
  return ms;
}

function nextUtcMidnight(ms: number): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
}

function bps(value: string | number | undefined, field: string): string {
  const d = optionDecimal(value ?? 0, field);
  if (d.lt(0)) throw new RangeError(`${field} must not be negative, got ${String(value)}`);
  return str(d);
}

function optionDecimal(value: string | number, field: string): Dec {
  if (typeof value === 'number' ? !Number.isFinite(value) : !DECIMAL_RE.test(value)) {
    throw new RangeError(`${field} must be a finite number or decimal string, got ${String(value)}`);
  }
  return new D(value);
}

function decimalMap(map: Readonly<Record<string, string>> | undefined, field: string, allowZero: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(map ?? {})) {
    const d = optionDecimal(value, `${field}.${key}`);
    if (allowZero ? d.lt(0) : d.lte(0)) throw new RangeError(`${field}.${key} must be ${allowZero ? 'non-negative' : 'positive'}, got ${value}`);
    out[key] = str(d);
  }
  return out;
}

function resolveOptions(o: SimulatedExchangeOptions): ResolvedSimOptions {
  const seed = o.seed ?? 1;
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  const participation = optionDecimal(o.participation ?? 1, 'participation');
  if (participation.lte(0) || participation.gt(1)) throw new RangeError(`participation must be in (0, 1], got ${String(o.participation)}`);
  const latencyMs = o.latencyMs ?? 0;
  if (!Number.isFinite(latencyMs) || latencyMs < 0) throw new RangeError(`latencyMs must be >= 0, got ${latencyMs}`);
  const rate = o.faults?.rate ?? 0;
  if (!(rate >= 0 && rate <= 1)) throw new RangeError(`faults.rate must be in [0, 1], got ${rate}`);
  const kinds = [...(o.faults?.kinds ?? [])];
  for (const kind of kinds) if (!FAULT_KINDS.includes(kind)) throw new RangeError(`unknown fault kind ${String(kind)}`);
  const orderTypes = [...(o.orderTypes ?? ALL_ORDER_TYPES)];
  for (const t of orderTypes) if (!ALL_ORDER_TYPES.includes(t)) throw new RangeError(`unknown order type ${String(t)}`);
  decimalMap(o.balances ?? undefined, 'balances', true);
  return {
    seed,
    name: o.name ?? 'simulated',
    idPrefix: o.idPrefix ?? 'SIM',
    makerBps: bps(o.makerBps, 'makerBps'),
    takerBps: bps(o.takerBps, 'takerBps'),
    slippageBps: bps(o.slippageBps, 'slippageBps'),
    feeCurrency: o.feeCurrency ?? 'USD',
    participation: str(participation),
    quantityStep: decimalMap(o.quantityStep, 'quantityStep', false),
    minQuantity: decimalMap(o.minQuantity, 'minQuantity', true),
    latencyMs,
    checkFunds: o.balances !== undefined && o.balances !== null,
    allowShort: o.allowShort ?? true,
    faults: { rate, kinds },
    modify: o.modify ?? true,
    oco: o.oco ?? true,
    orderTypes,
  };
}
