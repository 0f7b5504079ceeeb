/**
 * SIGINT mid-run, then `run --resume`: the same summary numbers and the same ledger positions as
 * a run that was never interrupted. Child processes, as a user would do it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';
import { cleanup, cli, json, tempDir, writeCsv } from './helpers.js';

// Each test runs real backtests with synced LevelDB writes (and, here, child processes): on a
// busy machine that takes a while.
vi.setConfig({ testTimeout: 240_000, hookTimeout: 120_000 });

afterAll(cleanup);

interface RunJson {
  status: string;
  resumedFrom: number | null;
  summary: { ledger: { dataDir: string }; trades: { total: number; cancelled: number } } & Record<string, unknown>;
}
interface PlanList {
  actors: { planId: string; status: string; position: Record<string, unknown> }[];
}

it('a run stopped by SIGINT and resumed ends exactly like an uninterrupted run', async () => {
  const work = tempDir();
  const csv = join(work, 'bars.csv');
  const config = join(work, 'platform.yaml');
  writeCsv(csv, 400, 9);
  writeFileSync(config, 'strategy:\n  params: { fast: 5, slow: 15, atr_period: 10 }\n');
  const common = ['--data', csv, '--config', config];

  // Uninterrupted.
  const straightDir = join(work, 'straight');
  const straight = await cli(['run', ...common, '--data-dir', straightDir, '--json']);
  expect(straight.code, straight.stderr).toBe(0);
  const a = json<RunJson>(straight);
  expect(a.summary.trades.total).toBeGreaterThan(2);

  // Interrupted: SIGINT when the 20% progress line appears.
  const dir = join(work, 'interrupted');
  let signalled = false;
  const stopped = await cli(['run', ...common, '--data-dir', dir], {
    onStderr: (text, child) => {
      if (!signalled && /progress: \d+\/400 bars \(20%\)/.test(text)) {
        signalled = true;
        child.kill('SIGINT');
      }
    },
  });
  expect(signalled).toBe(true);
  expect(stopped.code, stopped.stderr).toBe(130);
  expect(stopped.stderr).toContain('SIGINT: stopping after the current bar');
  const at = Number(/stopped after bar (\d+) of 400; continue with: tradestate run --resume --data-dir/.exec(stopped.stderr)?.[1]);
  expect(at).toBeGreaterThanOrEqual(80);
  expect(at).toBeLessThan(400);
  const checkpoint = JSON.parse(readFileSync(join(dir, 'backtest.json'), 'utf8')) as { status: string; nextBar: number };
  expect(checkpoint).toMatchObject({ status: 'stopped', nextBar: at });

  // Without --resume the stopped run is not clobbered.
  const refused = await cli(['run', ...common, '--data-dir', dir]);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain(`holds a backtest stopped after bar ${at} of 400; continue it with --resume, or start over with --fresh`);

  // Resumed.
  const resumed = await cli(['run', ...common, '--data-dir', dir, '--resume', '--json']);
  expect(resumed.code, resumed.stderr).toBe(0);
  const b = json<RunJson>(resumed);
  expect(b.status).toBe('completed');
  expect(b.resumedFrom).toBe(at);
  const numbers = (r: RunJson) => ({ ...r.summary, ledger: { ...r.summary.ledger, dataDir: null } });
  expect(numbers(b)).toEqual(numbers(a));

  // Same ledger: the same plans, in the same states, with the same positions.
  const plans = async (d: string) => json<PlanList>(await cli(['inspect', '--data-dir', d, '--kind', 'plan', '--json', '--limit', '0'])).actors.map((p) => ({ id: p.planId, status: p.status, position: p.position }));
  const pa = await plans(straightDir);
  expect(pa.length).toBe(a.summary.trades.total + a.summary.trades.cancelled);
  expect(await plans(dir)).toEqual(pa);
});
