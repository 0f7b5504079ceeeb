/**
 * The deterministic inputs of the exactly-once crash test, shared by the parent and the child:
 * the symbols and their bar path (fed by the parent), and the stream of ExecutionDirectives
 * (submitted by the child). Directive `i` of seed `s` is a pure function of (s, i) and of the
 * stored outcomes of earlier directives (which plan or group it targets), so a restarted child
 * resumes the same stream and can re-submit what it may have sent before it was killed.
 */
import type { ConnectorCapabilities } from '../../src/connectors/connector.js';
import { mulberry32 } from '../../src/data/synthetic.js';

export { mulberry32 };

/** What the parent tells a child (argv[2], JSON). */
export interface ChildConfig {
  readonly dataDir: string;
  readonly seed: number;
  /** First directive index not known to have been submitted. */
  readonly start: number;
  /** How many directives before `start` to submit again. */
  readonly resubmit: number;
  /** Exclusive end of the stream (the child idles after it). */
  readonly stop: number;
  readonly paceMs: number;
  readonly capabilities: ConnectorCapabilities;
}

/** The exchange's participation (share of a bar's volume one order may take); see `barFor`. */
export const PARTICIPATION = '0.25';

/** The runtime configuration of every child (and of the parent's final runtime). */
export const RUNTIME_CONFIG = { timeout_seconds: 2, retry_policy: { max_retries: 5 } };
export const fastSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.min(ms, 5)));

export const SYMBOLS = [
  { symbol: 'AAPL', base: 180, phase: 0 },
  { symbol: 'MSFT', base: 400, phase: 2.1 },
  { symbol: 'TSLA', base: 250, phase: 4.2 },
] as const;

export type SymbolName = (typeof SYMBOLS)[number]['symbol'];

function spec(symbol: string): (typeof SYMBOLS)[number] {
  const s = SYMBOLS.find((x) => x.symbol === symbol);
  if (!s) throw new RangeError(`unknown symbol ${symbol}`);
  return s;
}

/** The price of `symbol` at the close of bar n: oscillates about +-2% around its base. */
function mid(symbol: string, n: number): number {
  const { base, phase } = spec(symbol);
  return base * (1 + 0.015 * Math.sin(n / 12 + phase) + 0.005 * Math.sin(n * 1.7 + phase * 3));
}

/**
 * Bar n of `symbol` (without its time): opens at the previous close. The volume is small on
 * purpose: with the exchange's participation of 0.25 an order fills at most 1-4 per bar, so most
 * orders fill in parts over several bars (partial fills racing cancels and closes).
 */
export function barFor(symbol: string, n: number): { open: string; high: string; low: string; close: string; volume: string } {
  const o = mid(symbol, n - 1);
  const c = mid(symbol, n);
  return {
    open: o.toFixed(2),
    high: (Math.max(o, c) * 1.002).toFixed(2),
    low: (Math.min(o, c) * 0.998).toFixed(2),
    close: c.toFixed(2),
    volume: String(6 + 2 * (n % 7)),
  };
}

export type DirectiveKind = 'market' | 'limit' | 'close' | 'cancel';

/** The part of a stored DirectiveOutcome the stream needs to target earlier directives. */
export interface KnownOutcome {
  readonly scope: string;
  readonly plan_id: string | null;
  readonly group_ids: readonly string[];
}

export type OutcomeLookup = (directiveId: string) => Promise<KnownOutcome | undefined>;

export function directiveId(seed: number, i: number): string {
  return `eo${seed}-${i}`;
}

function rngAt(seed: number, i: number): () => number {
  return mulberry32((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0);
}

/** The kind directive i was drawn as (before any fallback for a missing target). */
export function kindAt(seed: number, i: number): DirectiveKind {
  const r = rngAt(seed, i)();
  return r < 0.4 ? 'market' : r < 0.7 ? 'limit' : r < 0.88 ? 'close' : 'cancel';
}

const T0 = Date.UTC(2024, 0, 15, 14, 30, 0);

/**
 * Directive i: NEW_TRADE market or limit entries on the symbols, CLOSE_EXISTING of the plan of a
 * recent entry, CANCEL_GROUP of the group of a recent limit entry. A close or cancel whose target
 * never got an outcome becomes an entry instead.
 */
export async function directiveAt(seed: number, i: number, outcomeOf: OutcomeLookup): Promise<{ kind: DirectiveKind; directive: Record<string, unknown> }> {
  const r = rngAt(seed, i);
  const drawn = (() => {
    const x = r();
    return x < 0.4 ? 'market' : x < 0.7 ? 'limit' : x < 0.88 ? 'close' : 'cancel';
  })() as DirectiveKind;
  const base = {
    directive_id: directiveId(seed, i),
    causality: { origin: { type: 'TICK', id: `t${i}`, at: new Date(T0 + i * 1000).toISOString() } },
  };
  const entry = (kind: 'market' | 'limit') => {
    const s = SYMBOLS[Math.min(SYMBOLS.length - 1, Math.floor(r() * SYMBOLS.length))]!;
    const direction = r() < 0.55 ? 'BUY' : 'SELL';
    const size = String(1 + Math.floor(r() * 10));
    const x = r();
    const limit = (s.base * (direction === 'BUY' ? 0.98 + 0.03 * x : 1.02 - 0.03 * x)).toFixed(2);
    return {
      kind,
      directive: {
        ...base,
        scope: 'NEW_TRADE',
        entry_plan:
          kind === 'market'
            ? { symbol: s.symbol, direction, order_type: 'MARKET' }
            : { symbol: s.symbol, direction, order_type: 'LIMIT', limit_price: limit, time_in_force: 'GTC' },
        size_plan: { position_size: size },
        execution_plan: { action: 'EXECUTE_TRADE' },
      },
    };
  };
  if (drawn === 'market' || drawn === 'limit') return entry(drawn);
  if (drawn === 'close') {
    const from = i - 1 - Math.floor(r() * 12);
    for (let j = from; j >= Math.max(0, from - 6); j--) {
      const k = kindAt(seed, j);
      if (k !== 'market' && k !== 'limit') continue;
      const o = await outcomeOf(directiveId(seed, j));
      if (o?.scope !== 'NEW_TRADE' || !o.plan_id) continue;
      return {
        kind: 'close',
        directive: { ...base, scope: 'CLOSE_EXISTING', target_plan_id: o.plan_id, execution_plan: { action: 'EXECUTE_TRADE' } },
      };
    }
    return entry('market');
  }
  for (let j = i - 1; j >= Math.max(0, i - 15); j--) {
    if (kindAt(seed, j) !== 'limit') continue;
    const o = await outcomeOf(directiveId(seed, j));
    const groupId = o?.scope === 'NEW_TRADE' ? o.group_ids[0] : undefined;
    if (!groupId) continue;
    return {
      kind: 'cancel',
      directive: { ...base, scope: 'MODIFY_EXISTING', target_group_id: groupId, execution_plan: { action: 'CANCEL_GROUP' } },
    };
  }
  return entry('limit');
}
