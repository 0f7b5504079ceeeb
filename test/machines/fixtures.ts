/**
 * Shared builders for the pure machine tests: domain ids, event times and a plain view of the
 * actions XState's pure `transition` returns.
 */
import { expect } from 'vitest';

export const PLAN_ID = 'TPL_20240115_094500_abcde';
export const PLAN_ID_2 = 'TPL_20240115_094500_fghij';
export const GROUP_ID = 'EXG_20240115_094500_abcde';
export const GROUP_ID_2 = 'EXG_20240115_094500_fghij';
export const GROUP_ID_3 = 'EXG_20240115_094500_klmno';
export const UNKNOWN_GROUP_ID = 'EXG_20240115_094500_zzzzz';
export const ORDER_ID = 'ORD_20240115_094500_abcde';
export const ORDER_ID_2 = 'ORD_20240115_094500_fghij';
export const ORDER_ID_3 = 'ORD_20240115_094500_klmno';
export const UNKNOWN_ORDER_ID = 'ORD_20240115_094500_zzzzz';

/** `FIL_20240115_094500_fil01` for n = 1: a valid fill id per number. */
export function fillId(n: number): string {
  return `FIL_20240115_094500_fil${String(n).padStart(2, '0')}`;
}

const T0 = Date.UTC(2024, 0, 15, 9, 45, 0);

/** The event time `n` seconds after 2024-01-15T09:45:00Z. */
export function at(n: number): string {
  return new Date(T0 + n * 1000).toISOString();
}

export interface PlainAction {
  type: string;
  params: unknown;
}

/** The actions of a transition as `{type, params}`, the part the host interprets. */
export function plain(actions: readonly { type: string; params?: unknown }[]): PlainAction[] {
  return actions.map((a) => ({ type: a.type, params: a.params }));
}

/** A refused event: the very same snapshot object and nothing to do. */
export function expectRefused<S>(result: readonly [S, readonly unknown[]], before: S): void {
  expect(result[0]).toBe(before);
  expect(result[1]).toEqual([]);
}
