/**
 * Backtest throughput: bars per second of the example strategy (ma-crossover) over synthetic
 * one-minute bars (a seeded random walk), every order a persisted actor in a real LevelDB data
 * dir, with the production defaults of platform.yaml (monitors on their simulated-time
 * intervals, protection on the exchange) except that the resume checkpoint is written only at
 * the end (`--checkpoint-every N` to change that).
 *
 *   node --expose-gc --import tsx bench/backtest.ts [--json] [--bars N] [--seed S] [--checkpoint-every N]
 *
 * `benchBacktest()` is the same measurement for bench/run.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fingerprintOf, runBacktest } from '../src/backtest/engine.js';
import { parsePlatformConfig } from '../src/config/load.js';
import { syntheticBars } from '../src/data/synthetic.js';
import { instantiate, maCrossover } from '../src/strategies/registry.js';
import type { StrategyDefinition } from '../src/strategies/registry.js';

export interface BacktestBenchOptions {
  /** Number of one-minute bars (default 500,000). */
  readonly bars?: number;
  readonly seed?: number;
  /** Checkpoint every N bars (default 0: only at the end). */
  readonly checkpointEvery?: number;
  /** Progress lines on stderr. */
  readonly log?: (line: string) => void;
}

export interface BacktestBenchResult {
  readonly bars: number;
  readonly seconds: number;
  readonly bars_per_s: number;
  readonly trades: number;
  readonly directives: number;
  readonly orders: number;
  readonly fills: number;
  readonly net_pnl: string;
  readonly checkpoint_every_bars: number;
  readonly heap_used_mb: number;
}

export async function benchBacktest(options: BacktestBenchOptions = {}): Promise<BacktestBenchResult> {
  const count = options.bars ?? 500_000;
  const log = options.log ?? (() => {});
  const gc = (globalThis as { gc?: () => void }).gc;
  log(`generating ${count} one-minute bars...`);
  const bars = syntheticBars({ count, seed: options.seed ?? 42, intervalMs: 60_000, startCents: 10_000, volatilityBps: 6 });
  const series = { symbol: 'SYN', bars, source: `synthetic random walk (${count} x 1m, seed ${options.seed ?? 42})`, hasVolume: true };
  const config = parsePlatformConfig({ backtest: { checkpoint_every_bars: options.checkpointEvery ?? 0 } });
  const { strategy, params } = instantiate(maCrossover as unknown as StrategyDefinition, {}, 'bench');
  const fingerprint = fingerprintOf(series, { name: strategy.name, instanceId: strategy.instanceId, params }, config);
  const dir = mkdtempSync(join(tmpdir(), 'tradestate-bench-backtest-'));
  try {
    gc?.();
    let lastLog = performance.now();
    const started = performance.now();
    const result = await runBacktest({
      dataDir: dir,
      series,
      strategy,
      config,
      fingerprint,
      resume: false,
      onProgress: (p) => {
        const now = performance.now();
        if (now - lastLog < 5000) return;
        lastLog = now;
        log(`  ${p.done}/${p.total} bars, ${Math.round(p.done / ((now - started) / 1000))} bars/s, ${p.directives} directives`);
      },
    });
    const seconds = result.sessionMs / 1000;
    const s = result.summary;
    return {
      bars: count,
      seconds,
      bars_per_s: count / seconds,
      trades: s.trades.total,
      directives: s.directives.total,
      orders: s.ledger.orders,
      fills: s.ledger.fills,
      net_pnl: s.pnl.net,
      checkpoint_every_bars: config.backtest.checkpoint_every_bars,
      heap_used_mb: process.memoryUsage().heapUsed / 2 ** 20,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      bars: { type: 'string', default: '500000' },
      seed: { type: 'string', default: '42' },
      'checkpoint-every': { type: 'string', default: '0' },
    },
  });
  const result = await benchBacktest({
    bars: Number(values.bars),
    seed: Number(values.seed),
    checkpointEvery: Number(values['checkpoint-every']),
    log: values.json ? undefined : (line) => console.error(line),
  });
  if (values.json) {
    console.log(JSON.stringify(result));
  } else {
    console.log(
      `backtest: ${result.bars} bars in ${result.seconds.toFixed(1)} s = ${Math.round(result.bars_per_s)} bars/s ` +
        `(${result.trades} trades, ${result.directives} directives, ${result.orders} orders, ${result.fills} fills, heap ${result.heap_used_mb.toFixed(0)} MB)`,
    );
  }
}
