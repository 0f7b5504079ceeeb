import { z } from 'zod';
import { D, DECIMAL_RE, str } from '../domain/decimal.js';

/**
 * A decimal setting written as a YAML number (`5`, `0.25`) or a string (`"0.25"`); stored as a
 * canonical decimal string. YAML numbers are taken as the text the user wrote, never as floats
 * in arithmetic.
 */
export function decimalField(rule: { min?: string; minExclusive?: boolean; max?: string } = {}) {
  return z.preprocess(
    (v) => (typeof v === 'number' && Number.isFinite(v) ? str(new D(v)) : typeof v === 'string' ? v.trim() : v),
    z
      .string({ message: 'must be a number, e.g. 5 or 0.25' })
      .regex(DECIMAL_RE, 'must be a plain decimal number, e.g. 5 or 0.25')
      .transform((s) => str(new D(s)))
      .superRefine((s, ctx) => {
        const d = new D(s);
        if (rule.min !== undefined && (rule.minExclusive ? !d.gt(rule.min) : d.lt(rule.min))) {
          ctx.addIssue({ code: 'custom', message: `must be ${rule.minExclusive ? 'greater than' : 'at least'} ${rule.min}, got ${s}` });
        }
        if (rule.max !== undefined && d.gt(rule.max)) ctx.addIssue({ code: 'custom', message: `must be at most ${rule.max}, got ${s}` });
      }),
  );
}

export const positiveDecimal = () => decimalField({ min: '0', minExclusive: true });
export const nonNegativeDecimal = () => decimalField({ min: '0' });
