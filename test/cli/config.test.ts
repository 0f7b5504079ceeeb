import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPlatformConfig, parsePlatformConfig } from '../../src/config/load.js';
import { DEFAULT_PLATFORM_CONFIG } from '../../src/config/schema.js';
import { DEFAULT_PLAN_EXECUTION } from '../../src/domain/config.js';
import { ValidationError } from '../../src/domain/errors.js';
import { MaCrossoverParamsSchema } from '../../src/strategies/ma-crossover.js';
import { instantiate, maCrossover, type StrategyDefinition } from '../../src/strategies/registry.js';

const root = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'tradestate-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function violations(fn: () => unknown): { field: string; rule: string }[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return [...(error as ValidationError).violations];
  }
  throw new Error('expected a ValidationError');
}

describe('platform config', () => {
  it('needs no file: every key has a default, plan_execution is the seed schema', () => {
    const c = parsePlatformConfig({});
    expect(c).toEqual(DEFAULT_PLATFORM_CONFIG);
    expect(c.orchestration.plan_execution).toEqual(DEFAULT_PLAN_EXECUTION);
    expect(c.connector.simulated.fees).toEqual({ maker_bps: '1', taker_bps: '5', currency: 'USD' });
    expect(c.backtest.initial_capital).toBe('100000');
    expect(c.strategy.name).toBe('ma-crossover');
  });

  it('platform.example.yaml documents exactly the defaults', () => {
    const { config, path } = loadPlatformConfig({ path: join(root, 'platform.example.yaml') });
    expect(path).toBe(join(root, 'platform.example.yaml'));
    const { params, ...strategy } = config.strategy;
    const { params: _p, ...defaultStrategy } = DEFAULT_PLATFORM_CONFIG.strategy;
    expect({ ...config, strategy }).toEqual({ ...DEFAULT_PLATFORM_CONFIG, strategy: defaultStrategy });
    expect(MaCrossoverParamsSchema.parse(params)).toEqual(MaCrossoverParamsSchema.parse({}));
  });

  it('names the key path and the allowed values of a bad enum', () => {
    const v = violations(() => parsePlatformConfig({ orchestration: { plan_execution: { retry_policy: { backoff_strategy: 'fibonacci' } } } }));
    expect(v).toEqual([
      { field: 'orchestration.plan_execution.retry_policy.backoff_strategy', rule: '"fibonacci" is not allowed; allowed values: "constant", "linear", "exponential"' },
    ]);
  });

  it('names unknown keys with the allowed ones and a likely meant one', () => {
    const v = violations(() => parsePlatformConfig({ connector: { simulated: { fees: { taker_bsp: 3 } } }, backtst: {} }));
    expect(v).toContainEqual({ field: 'connector.simulated.fees.taker_bsp', rule: 'unknown key (did you mean "taker_bps"?); allowed keys: maker_bps, taker_bps, currency' });
    expect(v).toContainEqual({ field: 'backtst', rule: 'unknown key (did you mean "backtest"?); allowed keys: orchestration, connector, backtest, strategy, logging' });
  });

  it('reports every violation at once, with the value given', () => {
    const v = violations(() =>
      parsePlatformConfig({ connector: { simulated: { slippage_bps: -1, participation: 2, latency_ms: 'fast' } }, backtest: { initial_capital: 'lots' }, logging: { level: 'loud' } }),
    );
    expect(v.map((x) => x.field).sort()).toEqual([
      'backtest.initial_capital',
      'connector.simulated.latency_ms',
      'connector.simulated.participation',
      'connector.simulated.slippage_bps',
      'logging.level',
    ]);
    expect(v.find((x) => x.field === 'connector.simulated.slippage_bps')!.rule).toBe('must be at least 0, got -1');
    expect(v.find((x) => x.field === 'connector.simulated.latency_ms')!.rule).toBe('must be a number, got a string "fast"');
    expect(v.find((x) => x.field === 'logging.level')!.rule).toContain('allowed values: "fatal", "error", "warn", "info", "debug", "trace", "silent"');
  });

  it('takes decimals as YAML numbers or strings and keeps them as exact decimal strings', () => {
    const c = parsePlatformConfig({ connector: { simulated: { fees: { taker_bps: 0.1, maker_bps: '0.05' }, starting_balances: { USD: 250000.5 } } } });
    expect(c.connector.simulated.fees.taker_bps).toBe('0.1');
    expect(c.connector.simulated.fees.maker_bps).toBe('0.05');
    expect(c.connector.simulated.starting_balances).toEqual({ USD: '250000.5' });
  });

  it('reads YAML, names the line of a syntax error, and applies command-line overrides', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'backtest:\n  initial_capital: 5\n   symbol: [unclosed\n');
    const v = violations(() => loadPlatformConfig({ path: bad }));
    expect(v[0]!.field).toMatch(/^line \d+, column \d+$/);
    expect(v[0]!.rule).not.toMatch(/at line/);
    const good = join(dir, 'platform.yaml');
    writeFileSync(good, 'backtest:\n  data: bars.csv\nstrategy:\n  params: { fast: 5, slow: 9 }\n');
    const fromFile = loadPlatformConfig({ path: good });
    expect(fromFile.baseDir).toBe(dir);
    expect(fromFile.config.backtest.data).toBe('bars.csv');
    expect(fromFile.config.strategy.params).toEqual({ fast: 5, slow: 9 });
    // Found in the working directory without --config.
    expect(loadPlatformConfig({ cwd: dir }).path).toBe(good);
    const overridden = loadPlatformConfig({ cwd: dir, overrides: { data: 'other.csv', symbol: 'SPY', strategy: './mine.ts' } });
    expect(overridden.config.backtest.data).toBe(join(dir, 'other.csv'));
    expect(overridden.config.backtest.symbol).toBe('SPY');
    // Another strategy does not inherit ma-crossover's params.
    expect(overridden.config.strategy).toMatchObject({ name: './mine.ts', params: {} });
    expect(violations(() => loadPlatformConfig({ path: join(dir, 'missing.yaml') }))[0]!.rule).toBe('does not exist');
  });

  it("validates the strategy's parameters under strategy.params", () => {
    const def = maCrossover as unknown as StrategyDefinition;
    const v = violations(() => instantiate(def, { fast: 30, slow: 10, stop_atr: 'wide', trail: 2 }, 'x'));
    expect(v).toContainEqual({ field: 'strategy.params.trail', rule: expect.stringMatching(/^unknown key \(did you mean "trail_atr"\?\); allowed keys: fast, slow, atr_period/) });
    expect(v).toContainEqual({ field: 'strategy.params.stop_atr', rule: 'must be a plain decimal number, e.g. 5 or 0.25, got "wide"' });
    const ok = instantiate(def, { fast: 5, slow: 9, take_profit_atr: null }, 'mac-1');
    expect(ok.strategy.instanceId).toBe('mac-1');
    expect(ok.strategy.description).toContain('SMA 5/9');
    expect(ok.strategy.description).toContain('no take-profit');
    expect(violations(() => instantiate(def, { fast: 30, slow: 10 }, 'x'))).toEqual([{ field: 'strategy.params.slow', rule: 'must be greater than fast (30), got 10' }]);
  });
});
