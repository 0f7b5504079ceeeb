import { Decimal } from 'decimal.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyFillToPosition, FLAT } from '../../machines/position.js';
import { PositionSchema, type Position, type Side } from '../../src/domain/schemas.js';

type Fill = [side: Side, quantity: string, price: string, fee?: string];

/** Applies fills in order from flat. */
function after(...fills: Fill[]): Position {
  return fills.reduce<Position>((p, [side, qty, px, fee]) => applyFillToPosition(p, side, qty, px, fee ?? '0'), FLAT);
}

describe('applyFillToPosition: longs', () => {
  it('a BUY from flat opens a long at the fill price', () => {
    expect(applyFillToPosition(FLAT, 'BUY', '10', '150.25', '0')).toEqual({
      netQuantity: '10',
      averageEntryPrice: '150.25',
      costBasis: '1502.5',
      realizedPnl: '0',
      fees: '0',
      boughtQuantity: '10',
      soldQuantity: '0',
    });
  });

  it('adding to a long moves the average entry to the quantity-weighted average', () => {
    // (10 * 150.25 + 30 * 151.25) / 40 = 151
    expect(after(['BUY', '10', '150.25'], ['BUY', '30', '151.25'])).toMatchObject({
      netQuantity: '40',
      averageEntryPrice: '151',
      realizedPnl: '0',
      boughtQuantity: '40',
    });
  });

  it('a partial SELL realizes P&L on the sold quantity and keeps the average entry', () => {
    expect(after(['BUY', '10', '150.25'], ['SELL', '4', '152.75'])).toEqual({
      netQuantity: '6',
      averageEntryPrice: '150.25',
      costBasis: '901.5',
      realizedPnl: '10', // (152.75 - 150.25) * 4
      fees: '0',
      boughtQuantity: '10',
      soldQuantity: '4',
    });
  });

  it('worked example: BUY 10 @ 150.25 then SELL 10 @ 144.90 -> flat, realizedPnl -53.5', () => {
    expect(after(['BUY', '10', '150.25'], ['SELL', '10', '144.90'])).toEqual({
      netQuantity: '0',
      averageEntryPrice: null,
      costBasis: '0',
      realizedPnl: '-53.5',
      fees: '0',
      boughtQuantity: '10',
      soldQuantity: '10',
    });
  });

  it('reducing in steps adds up the realized P&L', () => {
    const p = after(['BUY', '10', '100'], ['SELL', '3', '110'], ['SELL', '3', '95'], ['SELL', '4', '100.5']);
    // 3 * 10 + 3 * -5 + 4 * 0.5 = 30 - 15 + 2 = 17
    expect(p).toMatchObject({ netQuantity: '0', averageEntryPrice: null, realizedPnl: '17', soldQuantity: '10' });
  });
});

describe('applyFillToPosition: shorts', () => {
  it('a SELL from flat opens a short: negative net quantity, entry at the fill price', () => {
    expect(applyFillToPosition(FLAT, 'SELL', '5', '100', '0')).toEqual({
      netQuantity: '-5',
      averageEntryPrice: '100',
      costBasis: '500',
      realizedPnl: '0',
      fees: '0',
      boughtQuantity: '0',
      soldQuantity: '5',
    });
  });

  it('adding to a short moves the average entry', () => {
    // (5 * 100 + 15 * 104) / 20 = 103
    expect(after(['SELL', '5', '100'], ['SELL', '15', '104'])).toMatchObject({ netQuantity: '-20', averageEntryPrice: '103', soldQuantity: '20' });
  });

  it('covering a short below the entry is a gain', () => {
    expect(after(['SELL', '5', '100'], ['BUY', '2', '90'])).toMatchObject({
      netQuantity: '-3',
      averageEntryPrice: '100',
      realizedPnl: '20', // (100 - 90) * 2
      boughtQuantity: '2',
    });
  });

  it('covering a short above the entry is a loss, flat clears the entry', () => {
    expect(after(['SELL', '5', '100'], ['BUY', '5', '110'])).toMatchObject({
      netQuantity: '0',
      averageEntryPrice: null,
      realizedPnl: '-50',
    });
  });

  it('covering at the entry price gives 0, never "-0"', () => {
    expect(after(['SELL', '5', '100'], ['BUY', '5', '100'])).toMatchObject({ netQuantity: '0', realizedPnl: '0' });
  });
});

describe('applyFillToPosition: flips through zero', () => {
  it('long -> short: realizes on the closed 10, opens the remaining 5 short at the fill price', () => {
    expect(after(['BUY', '10', '150.25'], ['SELL', '15', '152.25'])).toEqual({
      netQuantity: '-5',
      averageEntryPrice: '152.25',
      costBasis: '761.25',
      realizedPnl: '20', // (152.25 - 150.25) * 10
      fees: '0',
      boughtQuantity: '10',
      soldQuantity: '15',
    });
  });

  it('short -> long: realizes on the covered 5, opens the remaining 3 long at the fill price', () => {
    expect(after(['SELL', '5', '100'], ['BUY', '8', '90'])).toEqual({
      netQuantity: '3',
      averageEntryPrice: '90',
      costBasis: '270',
      realizedPnl: '50', // (100 - 90) * 5
      fees: '0',
      boughtQuantity: '8',
      soldQuantity: '5',
    });
  });

  it('after a flip the new side is averaged and realized from the new entry', () => {
    const p = after(['BUY', '10', '100'], ['SELL', '15', '110'], ['SELL', '5', '120'], ['BUY', '10', '100']);
    // leg 1: +100 ; short 5 @ 110, add 5 @ 120 -> short 10 @ 115 ; cover 10 @ 100: +150
    expect(p).toMatchObject({ netQuantity: '0', averageEntryPrice: null, realizedPnl: '250', boughtQuantity: '20', soldQuantity: '20' });
  });
});

describe('applyFillToPosition: fees, decimals and purity', () => {
  it('fees accumulate separately and never change realizedPnl', () => {
    const p = after(['BUY', '10', '150.25', '1.25'], ['SELL', '10', '144.90', '1.2']);
    expect(p.realizedPnl).toBe('-53.5');
    expect(p.fees).toBe('2.45');
  });

  it('decimal sums are exact (0.1 + 0.2 = 0.3)', () => {
    const p = after(['BUY', '0.1', '150.25', '0.1'], ['BUY', '0.2', '150.25', '0.2']);
    expect(p).toMatchObject({ netQuantity: '0.3', boughtQuantity: '0.3', fees: '0.3', averageEntryPrice: '150.25' });
  });

  it('does not mutate its input (FLAT stays flat)', () => {
    const before = { ...FLAT };
    const long = applyFillToPosition(FLAT, 'BUY', '1', '10', '0.01');
    expect(FLAT).toEqual(before);
    const snapshot = { ...long };
    applyFillToPosition(long, 'SELL', '1', '11', '0.01');
    expect(long).toEqual(snapshot);
  });

  it('a round trip that ends flat realizes exactly sold notional minus bought notional', () => {
    // BUY 1 @ 100 + BUY 2 @ 101 (average 100.666...), SELL 3 @ 101: 303 - 302 = 1 exactly
    const p = after(['BUY', '1', '100'], ['BUY', '2', '101'], ['SELL', '3', '101']);
    expect(p.netQuantity).toBe('0');
    expect(p.realizedPnl).toBe('1');
  });

  it('property: net = bought - sold, fees sum, results satisfy the schema, never "-0"', () => {
    const qty = fc.integer({ min: 1, max: 100_000 }).map((n) => new Decimal(n).dividedBy(100).toFixed());
    const px = fc.integer({ min: 1, max: 1_000_000 }).map((n) => new Decimal(n).dividedBy(100).toFixed());
    const fee = fc.integer({ min: 0, max: 1_000 }).map((n) => new Decimal(n).dividedBy(100).toFixed());
    const fill = fc.tuple(fc.constantFrom<Side>('BUY', 'SELL'), qty, px, fee);
    fc.assert(
      fc.property(fc.array(fill, { minLength: 1, maxLength: 20 }), (fills) => {
        let p = FLAT;
        let fees = new Decimal(0);
        for (const [side, q, price, f] of fills) {
          p = applyFillToPosition(p, side, q, price, f);
          fees = fees.plus(f);
          expect(PositionSchema.safeParse(p).success).toBe(true);
          expect(new Decimal(p.netQuantity).equals(new Decimal(p.boughtQuantity).minus(p.soldQuantity))).toBe(true);
          expect(p.fees).toBe(fees.toFixed());
          expect(p.netQuantity).not.toBe('-0');
          expect(p.realizedPnl).not.toBe('-0');
          expect(p.averageEntryPrice === null).toBe(new Decimal(p.netQuantity).isZero());
        }
      }),
      { seed: 20240115, numRuns: 300 },
    );
  });
});
