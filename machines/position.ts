import { Decimal } from 'decimal.js';
import type { Position, Side } from '../src/domain/schemas.js';

export const FLAT: Position = {
  netQuantity: '0',
  averageEntryPrice: null,
  realizedPnl: '0',
  fees: '0',
  boughtQuantity: '0',
  soldQuantity: '0',
};

function s(d: Decimal): string {
  const out = d.toFixed();
  return out === '-0' ? '0' : out;
}

/**
 * Applies one fill to a signed position. A fill against the position realizes P&L against the
 * average entry; a fill through zero closes the old side and opens the rest at the fill price.
 * Fees are accumulated separately; net realized P&L is realizedPnl - fees.
 */
export function applyFillToPosition(
  p: Position,
  side: Side,
  quantity: string,
  price: string,
  fee: string,
): Position {
  const qty = new Decimal(quantity);
  const px = new Decimal(price);
  const signed = side === 'BUY' ? qty : qty.negated();
  const net = new Decimal(p.netQuantity);
  const avg = p.averageEntryPrice === null ? null : new Decimal(p.averageEntryPrice);
  let realized = new Decimal(p.realizedPnl);
  let nextAvg: Decimal | null;
  const nextNet = net.plus(signed);

  if (net.isZero() || net.isNegative() === signed.isNegative()) {
    // opening or adding: weighted average entry
    const base = avg ?? px;
    nextAvg = base.times(net.abs()).plus(px.times(qty)).dividedBy(net.abs().plus(qty));
  } else {
    const closing = Decimal.min(qty, net.abs());
    const direction = net.isNegative() ? -1 : 1;
    realized = realized.plus(px.minus(avg ?? px).times(closing).times(direction));
    if (nextNet.isZero()) nextAvg = null;
    else if (nextNet.isNegative() === net.isNegative()) nextAvg = avg;
    else nextAvg = px; // flipped through zero
  }

  return {
    netQuantity: s(nextNet),
    averageEntryPrice: nextAvg === null ? null : s(nextAvg),
    realizedPnl: s(realized),
    fees: s(new Decimal(p.fees).plus(fee)),
    boughtQuantity: side === 'BUY' ? s(new Decimal(p.boughtQuantity).plus(qty)) : p.boughtQuantity,
    soldQuantity: side === 'SELL' ? s(new Decimal(p.soldQuantity).plus(qty)) : p.soldQuantity,
  };
}
