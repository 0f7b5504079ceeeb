import { Decimal } from 'decimal.js';

/**
 * Quantities, prices, fees and P&L are decimal.js values in memory and canonical decimal
 * strings at rest ("150.25", "-53.5"); never binary floats.
 */
export type DecimalString = string;

export const D = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_HALF_EVEN });
export type Dec = InstanceType<typeof D>;

export const DECIMAL_RE = /^-?\d+(\.\d+)?$/;

export function dec(value: Decimal.Value): Dec {
  return new D(value);
}

/** Canonical string form: no exponent, no trailing zeros. */
export function str(value: Dec): DecimalString {
  const s = value.toFixed();
  return s === '-0' ? '0' : s;
}

export function decSum(values: readonly Decimal.Value[]): Dec {
  let total = new D(0);
  for (const v of values) total = total.plus(v);
  return total;
}
