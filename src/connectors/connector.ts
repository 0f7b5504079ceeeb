import type { OrderType, Side, TimeInForce } from '../domain/schemas.js';

/**
 * IExecutionConnector (ARCHITECTURE §6): the one interface between the runtime and an exchange.
 * Worker code is identical for the simulated exchange (backtest, paper) and ccxt (live).
 * Every call carries the order's clientOrderId; it is how an unknown outcome is resolved.
 * Quantities and prices are decimal strings.
 */
export interface IExecutionConnector {
  readonly name: string;
  readonly capabilities: ConnectorCapabilities;
  place(request: PlaceRequest): Promise<PlaceResult>;
  cancel(request: OrderRef): Promise<void>;
  /** Only when `capabilities.modify`; otherwise the worker cancels and replaces. */
  modify(request: ModifyRequest): Promise<void>;
  /** The order as the exchange knows it, or null if it never reached the exchange. */
  fetchOrder(request: OrderRef): Promise<ExchangeOrder | null>;
  fetchOpenOrders(symbol?: string): Promise<ExchangeOrder[]>;
  /** Net position per symbol, as the exchange accounts it (base-asset quantity). */
  fetchPositions(): Promise<ExchangePosition[]>;
  /** The latest price of a symbol, for marking positions; null if the exchange has none yet. */
  fetchPrice(symbol: string): Promise<MarketPrice | null>;
  /** Replies pushed by the exchange (private stream). Returns an unsubscribe function. */
  onReply(listener: (reply: ExchangeReply) => void): () => void;
}

export interface ConnectorCapabilities {
  readonly modify: boolean;
  /**
   * Native one-cancels-other: orders placed with the same `ocoGroup` are linked by the
   * exchange, so a fill on one reduces the others by the same quantity, atomically. Without
   * it the runtime reduces the sibling itself after the fill reply (a race it cannot close).
   */
  readonly oco: boolean;
  readonly orderTypes: readonly OrderType[];
}

export interface PlaceRequest {
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  readonly quantity: string;
  readonly price: string | null;
  readonly stopPrice: string | null;
  readonly timeInForce: TimeInForce;
  /** Link id of a one-cancels-other set (protection orders of one plan); see capabilities.oco. */
  readonly ocoGroup?: string | null;
}

export interface PlaceResult {
  readonly exchangeOrderId: string;
}

export interface OrderRef {
  readonly clientOrderId: string;
  readonly exchangeOrderId: string | null;
  readonly symbol: string;
}

export interface ModifyRequest extends OrderRef {
  readonly price: string | null;
  readonly stopPrice: string | null;
  readonly quantity: string | null;
}

export type ExchangeOrderStatus = 'open' | 'filled' | 'canceled' | 'rejected' | 'expired';

export interface ExchangeTrade {
  readonly tradeId: string;
  readonly clientOrderId: string;
  readonly exchangeOrderId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly quantity: string;
  readonly price: string;
  readonly fee: string;
  readonly feeCurrency: string | null;
  readonly liquidity: 'MAKER' | 'TAKER' | null;
  readonly at: string;
}

export interface ExchangeOrder {
  readonly clientOrderId: string;
  readonly exchangeOrderId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  readonly status: ExchangeOrderStatus;
  readonly quantity: string;
  readonly filled: string;
  readonly price: string | null;
  readonly stopPrice: string | null;
  readonly trades: readonly ExchangeTrade[];
  readonly reason: string | null;
}

export interface MarketPrice {
  readonly last: string;
  readonly bid: string | null;
  readonly ask: string | null;
  readonly at: string;
}

export interface ExchangePosition {
  readonly symbol: string;
  /** Signed base quantity: long +, short -. */
  readonly quantity: string;
}

/** Asynchronous replies; each names the order by clientOrderId. */
export type ExchangeReply =
  | { readonly type: 'ack'; readonly clientOrderId: string; readonly exchangeOrderId: string; readonly at: string }
  | { readonly type: 'fill'; readonly trade: ExchangeTrade }
  | { readonly type: 'reject'; readonly clientOrderId: string; readonly reason: string; readonly at: string }
  | { readonly type: 'canceled'; readonly clientOrderId: string; readonly reason: string | null; readonly at: string }
  | { readonly type: 'modified'; readonly clientOrderId: string; readonly at: string }
  /** The exchange itself changed the order's quantity (one-cancels-other after a sibling filled). */
  | { readonly type: 'resized'; readonly clientOrderId: string; readonly quantity: string; readonly at: string }
  | { readonly type: 'expired'; readonly clientOrderId: string; readonly at: string };

/**
 * What went wrong in a connector call. Retryable kinds may succeed if tried again; for a
 * placement, `timeout` and `network` also mean the outcome is unknown (the exchange may have
 * the order), so the worker looks it up by clientOrderId before sending it again.
 */
export type ConnectorErrorKind =
  | 'network'
  | 'timeout'
  | 'rate_limit'
  | 'exchange_unavailable'
  | 'invalid_order'
  | 'insufficient_funds'
  | 'order_not_found'
  | 'duplicate_client_order_id';

const RETRYABLE: ReadonlySet<ConnectorErrorKind> = new Set(['network', 'timeout', 'rate_limit', 'exchange_unavailable']);

export class ConnectorError extends Error {
  override readonly name = 'ConnectorError';
  constructor(
    readonly kind: ConnectorErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${kind}: ${message}`, options);
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.kind);
  }

  /** The request may or may not have taken effect on the exchange. */
  get outcomeUnknown(): boolean {
    return this.kind === 'timeout' || this.kind === 'network';
  }
}
