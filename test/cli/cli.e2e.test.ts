/**
 * `tradestate` end to end, each command in a child process as a user runs it.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cleanup, cli, json, tempDir, writeCsv } from './helpers.js';

// Each test runs real backtests with synced LevelDB writes (and, here, child processes): on a
// busy machine that takes a while.
vi.setConfig({ testTimeout: 240_000, hookTimeout: 120_000 });

const work = tempDir();
const csv = join(work, 'syn.csv');
const config = join(work, 'platform.yaml');
const dataDir = join(work, 'ledger');

interface RunJson {
  status: string;
  nextBar: number;
  totalBars: number;
  alreadyComplete: boolean;
  summary: {
    symbol: string;
    bars: { total: number; processed: number };
    trades: { total: number; closed: number; won: number; lost: number };
    pnl: { net: string };
    fees: string;
    ledger: { dataDir: string; plans: number; orders: number; fills: number };
  };
}

afterAll(cleanup);

beforeAll(() => {
  writeCsv(csv, 220);
  writeFileSync(config, 'strategy:\n  params: { fast: 5, slow: 15, atr_period: 10 }\nlogging:\n  level: debug\n');
});

describe('tradestate run', () => {
  let first: RunJson;

  it('backtests a small CSV into a data dir and reports the result', async () => {
    const r = await cli(['run', '--data', csv, '--config', config, '--data-dir', dataDir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    first = json<RunJson>(r);
    expect(first.status).toBe('completed');
    expect(first.summary.symbol).toBe('SYN');
    expect(first.summary.bars).toMatchObject({ total: 220, processed: 220 });
    expect(first.summary.trades.total).toBeGreaterThan(0);
    expect(first.summary.ledger.dataDir).toBe(dataDir);
    expect(first.summary.ledger.fills).toBeGreaterThan(0);
    // The data dir: LevelDB, the checkpoint, and the structured log.
    const files = readdirSync(dataDir);
    expect(files).toEqual(expect.arrayContaining(['CURRENT', 'backtest.json', 'tradestate.log']));
    const log = readFileSync(join(dataDir, 'tradestate.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: number; msg: string; time: string });
    expect(log[0]!.msg).toBe('backtest started');
    expect(log.at(-1)!.msg).toBe('backtest completed');
    expect(log.some((l) => /^NEW_TRADE /.test(l.msg))).toBe(true);
    expect(log.every((l) => typeof l.time === 'string' && typeof l.level === 'number')).toBe(true);
  });

  it('run again on the same dir prints the stored result, as text with every figure', async () => {
    const r = await cli(['run', '--data', csv, '--config', config, '--data-dir', dataDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('already completed');
    for (const label of ['trades', 'win rate', 'P&L (net)', 'fees', 'max drawdown', 'exposure', 'slippage', 'SINGLE:', 'directives', 'ledger', 'inspect: tradestate inspect --data-dir']) {
      expect(r.stdout).toContain(label);
    }
    expect(r.stdout).toContain(dataDir);
  });

  it('refuses a data dir that holds something else, or other inputs, and writes nothing', async () => {
    const foreign = join(work, 'foreign');
    const note = join(foreign, 'notes.txt');
    await import('node:fs').then((fs) => {
      fs.mkdirSync(foreign);
      fs.writeFileSync(note, 'mine');
    });
    const r = await cli(['run', '--data', csv, '--data-dir', foreign]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('is not empty and holds no backtest (notes.txt)');
    expect(readdirSync(foreign)).toEqual(['notes.txt']);
    const fresh = await cli(['run', '--data', csv, '--data-dir', foreign, '--fresh']);
    expect(fresh.code).toBe(2);
    expect(fresh.stderr).toContain('refusing to wipe');
    // Other parameters than the stored run: refused, pointing at --fresh.
    const other = await cli(['run', '--data', csv, '--data-dir', dataDir]);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('holds a backtest of other inputs (the strategy or its parameters differ)');
  });

  it('a bad config: names the key and the allowed values, exits 2, writes nothing', async () => {
    const bad = join(work, 'bad.yaml');
    writeFileSync(bad, 'orchestration:\n  plan_execution:\n    retry_policy:\n      backoff_strategy: fibonacci\nconnector:\n  simulated:\n    fees: { taker_bsp: 3 }\n');
    const target = join(work, 'never-created');
    const r = await cli(['run', '--config', bad, '--data-dir', target]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('orchestration.plan_execution.retry_policy.backoff_strategy: "fibonacci" is not allowed; allowed values: "constant", "linear", "exponential"');
    expect(r.stderr).toContain('connector.simulated.fees.taker_bsp: unknown key (did you mean "taker_bps"?); allowed keys: maker_bps, taker_bps, currency');
    expect(r.stdout).toBe('');
    expect(existsSync(target)).toBe(false);
  });

  it('a bad CSV row: names the line and column, exits 2, writes nothing', async () => {
    const broken = join(work, 'broken.csv');
    writeFileSync(broken, 'Date,Open,High,Low,Close,Volume\n2020-01-02,10,11,9,10.5,100\n2020-01-03,10,eleven,9,10.5,100\n');
    const target = join(work, 'never-created-2');
    const r = await cli(['run', '--data', broken, '--data-dir', target]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${broken} line 3, column "High": "eleven" is not a number (high price)`);
    expect(existsSync(target)).toBe(false);
    const strategy = await cli(['run', '--strategy', 'no-such', '--data-dir', target]);
    expect(strategy.code).toBe(2);
    expect(strategy.stderr).toContain('unknown strategy "no-such"; known: ma-crossover');
  });
});

describe('tradestate inspect', () => {
  it('shows actors by state, lists them, and one actor with its full transition history', async () => {
    const overview = await cli(['inspect', '--data-dir', dataDir]);
    expect(overview.code, overview.stderr).toBe(0);
    expect(overview.stdout).toMatch(/TradePlan\s+PENDING \d+ {2}ACTIVE \d+ {2}CLOSED \d+ {2}CANCELLED \d+/);
    expect(overview.stdout).toMatch(/Order\s+PENDING \d+ {2}SUBMITTED \d+/);
    const counts = json<{ counts: { plan: Record<string, number>; order: Record<string, number> } }>(await cli(['inspect', '--data-dir', dataDir, '--json']));
    expect(counts.counts.order['FILLED']).toBeGreaterThan(0);

    const list = json<{ actors: { planId: string; status: string; position: { netQuantity: string } }[] }>(await cli(['inspect', '--data-dir', dataDir, '--kind', 'plan', '--json', '--limit', '0']));
    const total = Object.values(counts.counts.plan).reduce((a, b) => a + b, 0);
    expect(list.actors).toHaveLength(total);
    const closed = list.actors.find((p) => p.status === 'CLOSED')!;
    expect(closed.position.netQuantity).toBe('0');

    const one = await cli(['inspect', '--data-dir', dataDir, closed.planId]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toContain(`TradePlan ${closed.planId}`);
    expect(one.stdout).toMatch(/Order ORD_\S+ {2}ENTRY/);
    expect(one.stdout).toMatch(/Fill FIL_\S+ /);
    expect(one.stdout).toMatch(/history of TPL_\S+ \(\d+ transitions\):/);
    expect(one.stdout).toMatch(/#\s+0 \S+\s+xstate\.init\s+- -> PENDING/);
    expect(one.stdout).toMatch(/FILLED\s+PENDING -> ACTIVE/);

    const detail = json<{ history: { to: string }[]; groups: { orders: { order: { orderId: string } }[] }[] }>(await cli(['inspect', '--data-dir', dataDir, closed.planId, '--json']));
    expect(detail.history.at(-1)!.to).toBe('CLOSED');
    const orderId = detail.groups[0]!.orders[0]!.order.orderId;
    const order = await cli(['inspect', '--data-dir', dataDir, orderId]);
    expect(order.stdout).toMatch(/SUBMIT\s+PENDING -> SUBMITTED/);
    expect(order.stdout).toMatch(/ACCEPTED\s+SUBMITTED -> OPEN/);

    const filled = await cli(['inspect', '--data-dir', dataDir, '--status', 'FILLED', '--limit', '2']);
    expect(filled.stdout).toMatch(/^Orders FILLED: 2 \(first 2; --limit 0 for all\)$/m);
    const badStatus = await cli(['inspect', '--data-dir', dataDir, '--kind', 'plan', '--status', 'FILLED']);
    expect(badStatus.code).toBe(2);
    expect(badStatus.stderr).toContain('allowed: PENDING, ACTIVE, CLOSED, CANCELLED');
    const missing = await cli(['inspect', '--data-dir', join(work, 'nothing-here')]);
    expect(missing.code).toBe(2);
    expect(existsSync(join(work, 'nothing-here'))).toBe(false);
  });
});

describe('tradestate story', () => {
  it('prints why a plan and its orders exist and what happened, for a person and as JSON', async () => {
    const list = json<{ actors: { planId: string; status: string }[] }>(await cli(['inspect', '--data-dir', dataDir, '--kind', 'plan', '--json', '--limit', '0']));
    const closed = list.actors.find((p) => p.status === 'CLOSED')!;
    const text = await cli(['story', closed.planId, '--data-dir', dataDir]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^Plan ${closed.planId} - (BUY|SELL) SYN`, 'm'));
    for (const section of ['WHY', 'DIRECTIVES', 'ORDERS', 'P&L']) expect(text.stdout).toMatch(new RegExp(`^${section}$`, 'm'));
    expect(text.stdout).toMatch(/origin\s+TICK /);

    const story = json<{ kind: string; orders: { order_id: string }[] }>(await cli(['story', closed.planId, '--data-dir', dataDir, '--json']));
    expect(story.kind).toBe('plan');
    const orderId = story.orders[0]!.order_id;
    const order = await cli(['story', orderId, '--data-dir', dataDir]);
    expect(order.code, order.stderr).toBe(0);
    expect(order.stdout).toContain(orderId);

    expect((await cli(['story', 'not-an-id', '--data-dir', dataDir])).code).toBe(2);
    expect((await cli(['story', 'ORD_20000101_000000_zzzzz', '--data-dir', dataDir])).code).toBe(1);
  });
});

describe('tradestate reconcile, machines, --help', () => {
  it('reconcile opens the runtime on the data dir and prints the report', async () => {
    const r = await cli(['reconcile', '--data-dir', dataDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/on open: {3}0 outbox effects resolved; \d+ working orders checked, 0 changed, 0 unreachable/);
    expect(r.stdout).toContain('the ledger agrees with the exchange');
  });

  it('machines exports every machine as Stately JSON and Mermaid', async () => {
    const out = join(work, 'machines');
    const r = await cli(['machines', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['execution-group.json', 'execution-group.mmd', 'order.json', 'order.mmd', 'trade-plan.json', 'trade-plan.mmd']);
    const order = JSON.parse(readFileSync(join(out, 'order.json'), 'utf8')) as { id: string; initial: string; states: Record<string, unknown> };
    expect(order.id).toBe('order');
    expect(order.initial).toBe('PENDING');
    expect(Object.keys(order.states)).toEqual(expect.arrayContaining(['PENDING', 'SUBMITTED', 'OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELED', 'REJECTED', 'EXPIRED']));
    const mmd = readFileSync(join(out, 'trade-plan.mmd'), 'utf8');
    expect(mmd.split('\n')[0]).toBe('stateDiagram-v2');
    expect(mmd).toContain('[*] --> PENDING');
    expect(mmd).toContain('PENDING --> ACTIVE : FILLED [knownGroup]');
    expect(mmd).toContain('CLOSED --> [*]');
    const stdout = await cli(['machines', '--machine', 'execution-group']);
    expect(stdout.stdout).toContain('stateDiagram-v2');
  });

  it('--help on each command', async () => {
    for (const args of [['--help'], ['run', '--help'], ['inspect', '--help'], ['story', '--help'], ['machines', '--help'], ['reconcile', '--help']]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: tradestate/);
    }
    const unknown = await cli(['frobnicate', '--nope']);
    expect(unknown.code).toBe(2);
  });
});
