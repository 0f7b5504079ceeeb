import type { OhlcvBar } from './ohlcv.js';

export interface SyntheticOptions {
  readonly count: number;
  /** PRNG seed: the same seed gives the same bars. */
  readonly seed?: number;
  /** Open time of the first bar (epoch ms). */
  readonly startAt?: number;
  readonly intervalMs?: number;
  /** First open, in cents. */
  readonly startCents?: number;
  /** Typical move per sub-step, in basis points of price. */
  readonly volatilityBps?: number;
}

/** mulberry32: small, fast, deterministic. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Price units: 1/10000 of the currency (four decimals). */
const UNIT = 10_000;

function units(u: number): string {
  const whole = Math.floor(u / UNIT);
  const frac = u % UNIT;
  return frac === 0 ? String(whole) : `${whole}.${String(frac).padStart(4, '0').replace(/0+$/, '')}`;
}

/**
 * A seeded random walk of OHLCV bars (default one-minute bars). Prices are integers of
 * 1/10000 (exact decimals, four places); each bar is four sub-steps whose extremes are its
 * high and low. Moves are proportional to price with a weak pull back toward the starting
 * price, so a long series neither runs off nor sticks at a floor. For benchmarks and tests,
 * not for judging a strategy.
 */
export function syntheticBars(options: SyntheticOptions): OhlcvBar[] {
  const random = mulberry32(options.seed ?? 1);
  const interval = options.intervalMs ?? 60_000;
  let at = options.startAt ?? Date.UTC(2024, 0, 2, 0, 0);
  const start = Math.max(1, Math.round(options.startCents ?? 10_000)) * (UNIT / 100);
  let price = start;
  const vol = (options.volatilityBps ?? 8) / 10_000;
  const floor = Math.ceil(start / 100);
  const bars: OhlcvBar[] = new Array(options.count);
  for (let i = 0; i < options.count; i++) {
    const open = price;
    let high = open;
    let low = open;
    for (let s = 0; s < 4; s++) {
      // A sum of three uniforms: roughly normal steps (sd ~ vol), plus a pull of 1/20000 of the gap to the start.
      const z = (random() + random() + random() - 1.5) * 2;
      price = Math.max(floor, Math.round(price + price * vol * z + (start - price) / 20_000));
      if (price > high) high = price;
      if (price < low) low = price;
    }
    const volume = 100 + Math.floor(random() * 9900);
    bars[i] = { at, open: units(open), high: units(high), low: units(low), close: units(price), volume: String(volume) };
    at += interval;
  }
  return bars;
}
