import { D, type Dec } from '../src/domain/decimal.js';
import type { Position, Side } from '../src/domain/schemas.js';

export const FLAT: Position = {
  netQuantity: '0',
  averageEntryPrice: null,
  costBasis: '0',
  realizedPnl: '0',
  fees: '0',
  boughtQuantity: '0',
  soldQuantity: '0',
};

function s(d: Dec): string {
  const out = d.toFixed();
  return out === '-0' ? '0' : out;
}

/** Shown to people; the exact figure is costBasis / |netQuantity|. */
const AVERAGE_DECIMALS = 10;

/**
 * Applies one fill to a signed position (BUY +, SELL -). The open position carries its cost
 * basis (entry notional), not just an average price, so a round trip realizes exactly sold
 * notional minus bought notional. A fill through zero closes the old side and opens the rest at
 * the fill price. Fees accumulate separately: net realized P&L is realizedPnl - fees.
 */
export function applyFillToPosition(p: Position, side: Side, quantity: string, price: string, fee: string): Position {
  const qty = new D(quantity);
  const px = new D(price);
  const net = new D(p.netQuantity);
  const held = net.abs();
  let cost = new D(p.costBasis);
  let realized = new D(p.realizedPnl);
  const signed = side === 'BUY' ? qty : qty.negated();
  const nextNet = net.plus(signed);

  if (net.isZero() || net.isNegative() === signed.isNegative()) {
    cost = cost.plus(px.times(qty));
  } else {
    const closing = D.min(qty, held);
    const costClosed = closing.equals(held) ? cost : cost.times(closing).dividedBy(held);
    const direction = net.isNegative() ? -1 : 1;
    realized = realized.plus(px.times(closing).minus(costClosed).times(direction));
    cost = cost.minus(costClosed);
    if (qty.greaterThan(held)) cost = px.times(qty.minus(held)); // flipped through zero
  }

  return {
    netQuantity: s(nextNet),
    averageEntryPrice: nextNet.isZero() ? null : s(cost.dividedBy(nextNet.abs()).toDecimalPlaces(AVERAGE_DECIMALS)),
    costBasis: s(cost),
    realizedPnl: s(realized),
    fees: s(new D(p.fees).plus(fee)),
    boughtQuantity: side === 'BUY' ? s(new D(p.boughtQuantity).plus(qty)) : p.boughtQuantity,
    soldQuantity: side === 'SELL' ? s(new D(p.soldQuantity).plus(qty)) : p.soldQuantity,
  };
}
