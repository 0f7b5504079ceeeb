import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { StrategyLedger } from '../../actors/ledger.js';
import { readCheckpoint } from '../../src/backtest/checkpoint.js';
import { BacktestStateError, fingerprintOf, runBacktest, type BacktestResult } from '../../src/backtest/engine.js';
import { parsePlatformConfig } from '../../src/config/load.js';
import type { PlatformConfig } from '../../src/config/schema.js';
import { syntheticBars } from '../../src/data/synthetic.js';
import { PlanStatus } from '../../src/domain/schemas.js';
import { instantiate, maCrossover, type StrategyDefinition } from '../../src/strategies/registry.js';

// Each test runs real backtests with synced LevelDB writes (and, here, child processes): on a
// busy machine that takes a while.
vi.setConfig({ testTimeout: 240_000, hookTimeout: 120_000 });

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tradestate-engine-'));
  dirs.push(d);
  return d;
}

const series = {
  symbol: 'SYN',
  bars: syntheticBars({ count: 260, seed: 11, intervalMs: 86_400_000, startAt: Date.UTC(2020, 0, 1), volatilityBps: 60 }),
  source: 'synthetic daily',
  hasVolume: true,
};
const PARAMS = { fast: 5, slow: 15, atr_period: 10 };

function make(config: PlatformConfig = parsePlatformConfig({})) {
  const { strategy, params } = instantiate(maCrossover as unknown as StrategyDefinition, PARAMS, 'mac');
  return { strategy, config, fingerprint: fingerprintOf(series, { name: strategy.name, instanceId: strategy.instanceId, params }, config) };
}

async function run(dataDir: string, options: { resume?: boolean; stopAfter?: number; config?: PlatformConfig } = {}): Promise<BacktestResult> {
  const { strategy, config, fingerprint } = make(options.config);
  const stop = { requested: false };
  return runBacktest({
    dataDir,
    series,
    strategy,
    config,
    fingerprint,
    resume: options.resume ?? false,
    stop,
    onProgress: (p) => {
      if (options.stopAfter !== undefined && p.done >= options.stopAfter) stop.requested = true;
    },
  });
}

/** Every plan of a data dir: id, status and position. */
async function plans(dataDir: string): Promise<unknown[]> {
  const ledger = await StrategyLedger.open({ dataDir });
  try {
    const out: unknown[] = [];
    for (const status of PlanStatus.options) {
      for (const id of await ledger.idsByStatus('plan', status)) {
        const p = await ledger.position(id);
        out.push({ id, status, position: p });
      }
    }
    return out;
  } finally {
    await ledger.close();
  }
}

const withoutDir = (r: BacktestResult) => ({ ...r.summary, ledger: { ...r.summary.ledger, dataDir: '' } });

describe('runBacktest', () => {
  let straight: BacktestResult;
  let straightDir: string;

  it('trades the example strategy with every order in the ledger and reports the result', async () => {
    straightDir = tempDir();
    straight = await run(straightDir);
    const s = straight.summary;
    expect(straight.status).toBe('completed');
    expect(s.bars).toMatchObject({ total: 260, processed: 260, interval: '1d' });
    expect(s.trades.total).toBeGreaterThanOrEqual(3);
    expect(s.trades.closed).toBe(s.trades.won + s.trades.lost);
    expect(s.directives.newTrade).toBe(s.trades.total + s.trades.cancelled);
    expect(Number(s.fees)).toBeGreaterThan(0);
    expect(s.ledger.fills).toBeGreaterThanOrEqual(2 * s.trades.closed);
    // Money is exact: equity = capital + net P&L, net = gross - fees, to the last digit.
    const { D } = await import('../../src/domain/decimal.js');
    expect(new D(s.finalEquity).minus(s.initialCapital).eq(s.pnl.net)).toBe(true);
    expect(new D(s.pnl.gross).minus(s.fees).eq(s.pnl.net)).toBe(true);
    expect(s.slippage.map((r) => r.executionStrategy)).toEqual(['SINGLE']);
    const cp = readCheckpoint(straightDir)!;
    expect(cp.status).toBe('completed');
    expect(cp.nextBar).toBe(260);
    expect(cp.summary).toEqual(s);
    expect(readdirSync(straightDir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('gives the same ledger and numbers on a second run of the same inputs (seeded ids, bar-driven clock)', async () => {
    const dir = tempDir();
    const again = await run(dir);
    expect(withoutDir(again)).toEqual(withoutDir(straight));
    expect(await plans(dir)).toEqual(await plans(straightDir));
  });

  it('stopped after a bar and resumed, ends exactly where an uninterrupted run does', async () => {
    const dir = tempDir();
    const first = await run(dir, { stopAfter: 97 });
    expect(first.status).toBe('stopped');
    expect(first.nextBar).toBe(97);
    const cp = readCheckpoint(dir)!;
    expect(cp).toMatchObject({ status: 'stopped', nextBar: 97, totalBars: 260 });
    const second = await run(dir, { resume: true });
    expect(second).toMatchObject({ status: 'completed', startedAt: 97, resumedUnclean: false });
    expect(withoutDir(second)).toEqual(withoutDir(straight));
    expect(await plans(dir)).toEqual(await plans(straightDir));
  });

  it('resumes twice in a row, too', async () => {
    const dir = tempDir();
    await run(dir, { stopAfter: 40 });
    await run(dir, { resume: true, stopAfter: 41 });
    expect(readCheckpoint(dir)!.nextBar).toBe(41);
    const last = await run(dir, { resume: true });
    expect(withoutDir(last)).toEqual(withoutDir(straight));
  });

  it('returns the stored result of a completed run without running it again', async () => {
    const r = await run(straightDir, { resume: true });
    expect(r.alreadyComplete).toBe(true);
    expect(r.sessionMs).toBe(0);
    expect(r.summary).toEqual(straight.summary);
  });

  it('refuses to resume with other inputs, naming what changed', async () => {
    const dir = tempDir();
    await run(dir, { stopAfter: 10 });
    const other = parsePlatformConfig({ connector: { simulated: { fees: { taker_bps: 9 } } } });
    await expect(run(dir, { resume: true, config: other })).rejects.toThrow(BacktestStateError);
    await expect(run(dir, { resume: true, config: other })).rejects.toThrow(/the platform config \(orchestration, connector, backtest\) differ/);
    await expect(run(tempDir(), { resume: true })).rejects.toThrow(/has no backtest to resume/);
    // The checkpoint cadence is not an input: changing it does not block a resume.
    const r = await run(dir, { resume: true, config: parsePlatformConfig({ backtest: { checkpoint_every_bars: 0 } }) });
    expect(r.status).toBe('completed');
    expect(existsSync(join(dir, 'backtest.json.tmp'))).toBe(false);
  });
});
