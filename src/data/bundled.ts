import { createRequire } from 'node:module';
import { loadOhlcvCsv } from './csv.js';
import type { OhlcvSeries } from './ohlcv.js';

/**
 * Real price history that ships as an npm dependency (read from node_modules at run time, not
 * copied into this repository):
 *
 * - `AAPL`: Apple Inc. daily OHLCV, 2013-05-13 to 2018-05-11 (1,260 trading days), from
 *   `@observablehq/sample-datasets/aapl.csv` (ISC licence; source Yahoo! Finance). Prices are
 *   as traded (not split-adjusted: the 7:1 split of June 2014 happened before the series
 *   starts); the file's `Adj Close` column is ignored.
 */
export const BUNDLED_DATASETS = {
  AAPL: {
    specifier: '@observablehq/sample-datasets/aapl.csv',
    description: 'Apple Inc. (AAPL) daily OHLCV 2013-05-13..2018-05-11, Yahoo! Finance via @observablehq/sample-datasets',
  },
} as const;

export type BundledSymbol = keyof typeof BUNDLED_DATASETS;

export function isBundled(symbol: string): symbol is BundledSymbol {
  return Object.hasOwn(BUNDLED_DATASETS, symbol);
}

/** Absolute path of a bundled dataset inside node_modules. */
export function bundledPath(symbol: BundledSymbol): string {
  const require = createRequire(import.meta.url);
  return require.resolve(BUNDLED_DATASETS[symbol].specifier);
}

/** Loads a bundled dataset; `source` in the result is the package path, not the local one. */
export function loadBundled(symbol: BundledSymbol): OhlcvSeries {
  const series = loadOhlcvCsv(bundledPath(symbol), { symbol, source: BUNDLED_DATASETS[symbol].specifier });
  return series;
}
