import type { Fill, OrderType, Side, TimeInForce } from '../src/domain/schemas.js';

/**
 * What the machines ask of the world. Machines never perform these: the host reads them from
 * the actions XState's pure `transition` returns, commits them with the turn, and only then
 * runs the exchange effects.
 */
export interface PlaceOrderEffect {
  readonly kind: 'placeOrder';
  readonly orderId: string;
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  readonly quantity: string;
  readonly price: string | null;
  readonly stopPrice: string | null;
  readonly timeInForce: TimeInForce;
  readonly ocoGroup: string | null;
}

export interface CancelOrderEffect {
  readonly kind: 'cancelOrder';
  readonly orderId: string;
  readonly clientOrderId: string;
  readonly connectorOrderId: string | null;
  readonly symbol: string;
}

export interface ModifyOrderEffect {
  readonly kind: 'modifyOrder';
  readonly orderId: string;
  readonly clientOrderId: string;
  readonly connectorOrderId: string | null;
  readonly symbol: string;
  readonly price: string | null;
  readonly stopPrice: string | null;
  readonly quantity: string | null;
}

export type ExchangeEffect = PlaceOrderEffect | CancelOrderEffect | ModifyOrderEffect;

/** An event for another actor (a parent), delivered by the host within the same turn. */
export interface Notification<E = unknown> {
  readonly to: string;
  readonly event: E;
}

export type AnomalyKind =
  | 'duplicate_fill'
  | 'overfill'
  | 'refused_event'
  | 'unknown_actor'
  | 'unknown_order_reply'
  | 'execution_failed'
  | 'outcome_unknown'
  | 'unknown_exchange_order'
  | 'position_mismatch';

export interface AnomalyReport {
  readonly kind: AnomalyKind;
  readonly detail: string;
  readonly data?: Record<string, string | null>;
}

export type RecordedFill = Fill;
