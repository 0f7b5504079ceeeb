import type { ExchangeOrder, ExchangeReply } from '../src/connectors/connector.js';
import { D } from '../src/domain/decimal.js';
import type { OrderEventInput } from '../src/domain/requests.js';
import type { Order } from '../src/domain/schemas.js';
import { ORDER_TERMINAL } from '../src/domain/schemas.js';
import type { ReadonlyDeep } from './ledger.js';

/**
 * The events that bring a ledger order in line with what the exchange reports for it:
 * acknowledgement, every trade the ledger lacks (by trade id), then the final status.
 * Used after a crash, after an unknown outcome, and by the order monitor's resync.
 */
export function eventsToMatchExchange(order: ReadonlyDeep<Order>, exchange: ExchangeOrder, at: string): OrderEventInput[] {
  if (ORDER_TERMINAL.includes(order.status)) return [];
  const events: OrderEventInput[] = [];
  if (order.status === 'PENDING' || order.status === 'SUBMITTED' || order.connectorOrderId === null) {
    events.push({ type: 'ACCEPTED', connectorOrderId: exchange.exchangeOrderId, at });
  }
  for (const t of exchange.trades) {
    if (order.tradeIds.includes(t.tradeId)) continue;
    events.push({ type: 'FILL', tradeId: t.tradeId, quantity: t.quantity, price: t.price, fee: t.fee, feeCurrency: t.feeCurrency, liquidity: t.liquidity, at: t.at });
  }
  // The exchange shrank it itself (one-cancels-other): no trade says so, only the quantity.
  if (order.status !== 'PENDING_UPDATE' && !new D(exchange.quantity).equals(order.quantity)) {
    events.push({ type: 'RESIZED', quantity: exchange.quantity, at });
  }
  if (order.status === 'PENDING_UPDATE' && exchange.status === 'open') {
    const m = order.pendingUpdate;
    const applied = m !== null && (m.price === null || m.price === exchange.price) && (m.stopPrice === null || m.stopPrice === exchange.stopPrice) && (m.quantity === null || m.quantity === exchange.quantity);
    events.push(applied ? { type: 'MODIFIED', at } : { type: 'MODIFY_REJECTED', reason: 'exchange shows the order unchanged', at });
  }
  switch (exchange.status) {
    case 'canceled':
      events.push({ type: 'CANCELED', reason: exchange.reason, at });
      break;
    case 'expired':
      events.push({ type: 'EXPIRED', at });
      break;
    case 'rejected':
      events.push({ type: 'REJECTED', reason: exchange.reason ?? 'rejected by the exchange', at });
      break;
    default:
      break;
  }
  return events;
}

/** An exchange reply as an order event. */
export function eventForReply(reply: ExchangeReply): OrderEventInput {
  switch (reply.type) {
    case 'ack':
      return { type: 'ACCEPTED', connectorOrderId: reply.exchangeOrderId, at: reply.at };
    case 'fill': {
      const t = reply.trade;
      return { type: 'FILL', tradeId: t.tradeId, quantity: t.quantity, price: t.price, fee: t.fee, feeCurrency: t.feeCurrency, liquidity: t.liquidity, at: t.at };
    }
    case 'reject':
      return { type: 'REJECTED', reason: reply.reason, at: reply.at };
    case 'canceled':
      return { type: 'CANCELED', reason: reply.reason, at: reply.at };
    case 'modified':
      return { type: 'MODIFIED', at: reply.at };
    case 'resized':
      return { type: 'RESIZED', quantity: reply.quantity, at: reply.at };
    case 'expired':
      return { type: 'EXPIRED', at: reply.at };
  }
}

export function clientOrderIdOf(reply: ExchangeReply): string {
  return reply.type === 'fill' ? reply.trade.clientOrderId : reply.clientOrderId;
}

/**
 * A reply that only repeats what the ledger already knows: the result of our own call that the
 * effect runner applied first (ack, modified, cancel), or a terminal order hearing its own end.
 * Dropped without an anomaly; anything else goes to the order, which refuses what it must.
 */
export function isRepeat(order: ReadonlyDeep<Order>, reply: ExchangeReply): boolean {
  const terminal = ORDER_TERMINAL.includes(order.status);
  switch (reply.type) {
    case 'ack':
      return terminal || order.connectorOrderId === reply.exchangeOrderId;
    case 'modified':
      return terminal || order.status !== 'PENDING_UPDATE';
    case 'resized':
      return terminal;
    case 'canceled':
      return order.status === 'CANCELED';
    case 'expired':
      return order.status === 'EXPIRED';
    case 'reject':
      return order.status === 'REJECTED';
    case 'fill':
      return terminal && order.tradeIds.includes(reply.trade.tradeId);
  }
}
