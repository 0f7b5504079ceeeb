/**
 * End-to-end directive throughput and latency: NEW_TRADE market entries through the worker,
 * the persisted actors, the effect runner and the simulated exchange, until filled.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TradingRuntime } from '../actors/runtime.js';
import { SimulatedExchange } from '../src/connectors/simulated-exchange.js';
import { ManualClock } from '../src/domain/clock.js';
import { seededIdSource } from '../src/domain/ids.js';

export interface DirectiveBench {
  readonly directives_per_s: number;
  readonly submit_to_placed_p50_ms: number;
  readonly submit_to_placed_p99_ms: number;
  readonly directives: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

export async function benchDirectives(count = 5000, wave = 250): Promise<DirectiveBench> {
  const dir = mkdtempSync(join(tmpdir(), 'tradestate-bench-dir-'));
  const clock = new ManualClock(Date.UTC(2024, 0, 15, 14, 30));
  const exchange = new SimulatedExchange(clock, { seed: 5, takerBps: 10 });
  const runtime = await TradingRuntime.open({ dataDir: dir, connector: exchange, clock, ids: seededIdSource(5) });
  const submittedAt = new Map<string, number>();
  const latencies: number[] = [];
  runtime.on('TRADE_EXECUTED', (e) => {
    const t0 = submittedAt.get(e.directiveId);
    if (t0 !== undefined) latencies.push(performance.now() - t0);
  });
  const directive = (i: number) => ({
    directive_id: `bench-${i}`,
    causality: { origin: { type: 'TICK' as const, id: `tick-${i}`, at: '2024-01-15T14:30:00.000Z' } },
    scope: 'NEW_TRADE' as const,
    entry_plan: { symbol: i % 2 ? 'AAPL' : 'MSFT', direction: 'BUY' as const, order_type: 'MARKET' as const },
    size_plan: { position_size: '1' },
    execution_plan: { action: 'EXECUTE_TRADE' as const },
  });
  try {
    const started = performance.now();
    for (let start = 0; start < count; start += wave) {
      const subs: Promise<unknown>[] = [];
      for (let i = start; i < Math.min(count, start + wave); i++) {
        submittedAt.set(`bench-${i}`, performance.now());
        subs.push(runtime.submit(directive(i)));
      }
      await Promise.all(subs);
      await runtime.settled();
      clock.advance(60_000);
      for (const symbol of ['AAPL', 'MSFT']) exchange.onBar(symbol, { at: clock.now(), open: '100', high: '101', low: '99', close: '100.5', volume: '100000000' });
      await runtime.settled();
    }
    const seconds = (performance.now() - started) / 1000;
    const fills = exchange.allOrders().filter((o) => o.status === 'filled').length;
    if (fills !== count) throw new Error(`expected ${count} filled orders, the exchange has ${fills}`);
    latencies.sort((a, b) => a - b);
    return {
      directives_per_s: count / seconds,
      submit_to_placed_p50_ms: percentile(latencies, 50),
      submit_to_placed_p99_ms: percentile(latencies, 99),
      directives: count,
    };
  } finally {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
