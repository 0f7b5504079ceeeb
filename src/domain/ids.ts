import { randomBytes } from 'node:crypto';
import type { Clock } from './clock.js';

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

export type PlanId = Brand<string, 'PlanId'>;
export type GroupId = Brand<string, 'GroupId'>;
export type OrderId = Brand<string, 'OrderId'>;
export type FillId = Brand<string, 'FillId'>;
export type ActorId = PlanId | GroupId | OrderId;

export const ID_PREFIX = { plan: 'TPL', group: 'EXG', order: 'ORD', fill: 'FIL' } as const;
export type IdKind = keyof typeof ID_PREFIX;
type IdOf<K extends IdKind> = { plan: PlanId; group: GroupId; order: OrderId; fill: FillId }[K];

const ID_RE = {
  plan: /^TPL_\d{8}_\d{6}_[0-9a-z]{5,8}$/,
  group: /^EXG_\d{8}_\d{6}_[0-9a-z]{5,8}$/,
  order: /^ORD_\d{8}_\d{6}_[0-9a-z]{5,8}$/,
  fill: /^FIL_\d{8}_\d{6}_[0-9a-z]{5,8}$/,
} as const;

export function idPattern(kind: IdKind): RegExp {
  return ID_RE[kind];
}

export function isId<K extends IdKind>(kind: K, value: unknown): value is IdOf<K> {
  return typeof value === 'string' && ID_RE[kind].test(value);
}

/** Produces the trailing hash of an id: 5 to 8 characters of [0-9a-z]. */
export type IdSource = () => string;

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** Random 8-character hashes; the default outside tests and backtests. */
export const randomIdSource: IdSource = () => {
  const bytes = randomBytes(8);
  let out = '';
  for (const b of bytes) out += ALPHABET[b % 36];
  return out;
};

/**
 * Deterministic hashes from a seed (xorshift32), so a backtest or test produces the same ids
 * on every run. The ledger still checks each new id against what exists.
 */
export function seededIdSource(seed: number): IdSource {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    let out = '';
    for (let i = 0; i < 8; i++) {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      out += ALPHABET[s % 36];
    }
    return out;
  };
}

function stamp(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2025-12-01T14:30:22.000Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

/** `PFX_YYYYMMDD_HHMMSS_hash` from the injected clock and id source. */
export function newId<K extends IdKind>(kind: K, clock: Clock, source: IdSource): IdOf<K> {
  const id = `${ID_PREFIX[kind]}_${stamp(clock.now())}_${source()}`;
  if (!ID_RE[kind].test(id)) throw new Error(`id source produced an invalid ${kind} id: ${id}`);
  return id as IdOf<K>;
}

export function kindOfId(id: string): 'plan' | 'group' | 'order' | 'fill' | undefined {
  switch (id.slice(0, 4)) {
    case 'TPL_':
      return 'plan';
    case 'EXG_':
      return 'group';
    case 'ORD_':
      return 'order';
    case 'FIL_':
      return 'fill';
    default:
      return undefined;
  }
}
