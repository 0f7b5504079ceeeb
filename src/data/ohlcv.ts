/**
 * One bar of market data. `at` is the bar's open time in epoch milliseconds (UTC); prices and
 * volume are canonical decimal strings ("150.25"), never binary floats. The shape is what
 * `SimulatedExchange.onBar` takes.
 */
export interface OhlcvBar {
  readonly at: number;
  readonly open: string;
  readonly high: string;
  readonly low: string;
  readonly close: string;
  readonly volume: string;
}

/** A loaded series: the bars in time order, and where they came from. */
export interface OhlcvSeries {
  readonly symbol: string;
  readonly bars: readonly OhlcvBar[];
  /** Human-readable origin: a path, or `package/file` for bundled data. */
  readonly source: string;
  /** Whether the source had a volume column (without one every bar has volume "0"). */
  readonly hasVolume: boolean;
}

const DAY_MS = 86_400_000;

/**
 * The bar interval of a series: the smallest positive gap between consecutive bars (daily data
 * with weekends is still one day; minute data one minute). One day for a single bar.
 */
export function barInterval(bars: readonly OhlcvBar[]): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 1; i < bars.length; i++) {
    const gap = bars[i]!.at - bars[i - 1]!.at;
    if (gap > 0 && gap < best) best = gap;
  }
  return Number.isFinite(best) ? best : DAY_MS;
}

/** "1d", "1m", "4h", "15s": for reports. */
export function describeInterval(ms: number): string {
  const units: [number, string][] = [
    [DAY_MS, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
    [1000, 's'],
  ];
  for (const [size, unit] of units) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** Bars with `from <= at <= to` (either bound optional). */
export function sliceByTime(bars: readonly OhlcvBar[], from: number | null, to: number | null): OhlcvBar[] {
  return bars.filter((b) => (from === null || b.at >= from) && (to === null || b.at <= to));
}
