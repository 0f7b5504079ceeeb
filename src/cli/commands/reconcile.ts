import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { TradingRuntime } from '../../../actors/runtime.js';
import { readCheckpoint, writeCheckpoint } from '../../backtest/checkpoint.js';
import { hasLedger } from '../../backtest/datadir.js';
import { countingIdSource } from '../../backtest/ids.js';
import { loadPlatformConfig } from '../../config/load.js';
import { SimulatedExchange } from '../../connectors/simulated-exchange.js';
import { ManualClock } from '../../domain/clock.js';
import { CliError } from '../errors.js';
import type { CliContext } from './context.js';

export interface ReconcileOptions {
  readonly dataDir: string;
  readonly config?: string;
  readonly json?: boolean;
}

/**
 * Opens the runtime on a data dir against the exchange it traded with and prints what
 * reconciliation found: on opening (outbox effects whose outcome had to be established, working
 * orders compared) and in a full pass. For a backtest the exchange is the simulated one saved in
 * its checkpoint; what reconciliation changes (orders, ids drawn, exchange calls) is saved back,
 * so a later `run --resume` continues from the reconciled state.
 */
export async function reconcileCommand(options: ReconcileOptions, ctx: CliContext): Promise<void> {
  const dataDir = resolve(ctx.cwd, options.dataDir);
  if (!existsSync(dataDir) || !hasLedger(dataDir)) throw new CliError(`no tradestate ledger at ${dataDir}`);
  const cp = readCheckpoint(dataDir);
  if (cp === null) {
    throw new CliError(
      `${dataDir} has no backtest checkpoint, so there is no exchange to reconcile with: the simulated exchange's state lives in backtest.json (live connectors are not wired to the CLI yet)`,
    );
  }
  const { config } = loadPlatformConfig({ path: options.config, cwd: ctx.cwd });
  const clock = new ManualClock(cp.clockMs);
  const ids = countingIdSource(config.backtest.id_seed, cp.idDraws);
  const exchange = SimulatedExchange.fromJSON(cp.exchange, clock);
  const runtime = await TradingRuntime.open({
    dataDir,
    connector: exchange,
    clock,
    ids: ids.next,
    config: config.orchestration.plan_execution,
    monitors: {
      orderIntervalMs: config.orchestration.monitors.order_interval_seconds * 1000,
      positionIntervalMs: config.orchestration.monitors.position_interval_seconds * 1000,
    },
    pollEveryMs: null,
  });
  let onOpen;
  let pass;
  let anomalies;
  try {
    onOpen = runtime.recovery;
    pass = await runtime.reconcile();
    await runtime.settled();
    anomalies = (await runtime.strategyLedger.anomalies()).length;
  } finally {
    await runtime.close();
  }
  writeCheckpoint(dataDir, { ...cp, exchange: exchange.toJSON(), idDraws: ids.draws() }, true);
  if (options.json) {
    ctx.terminal.out(JSON.stringify({ dataDir, exchange: 'simulated (backtest checkpoint)', bar: cp.nextBar, totalBars: cp.totalBars, onOpen, reconcile: pass, anomalies }));
    return;
  }
  const o = onOpen;
  ctx.terminal.out(`reconcile ${dataDir} with the simulated exchange of its backtest checkpoint (after bar ${cp.nextBar} of ${cp.totalBars}, ${cp.status})`);
  if (o) ctx.terminal.out(`  on open:   ${o.outboxResolved} outbox effects resolved; ${o.ordersChecked} working orders checked, ${o.ordersChanged} changed, ${o.ordersUnreachable} unreachable`);
  ctx.terminal.out(`  full pass: ${pass.ordersChecked} working orders checked, ${pass.ordersChanged} changed, ${pass.ordersUnreachable} unreachable`);
  ctx.terminal.out(`  anomalies recorded in the ledger: ${anomalies}`);
  ctx.terminal.out(pass.ordersChanged === 0 && (o?.ordersChanged ?? 0) === 0 ? '  the ledger agrees with the exchange' : '  the ledger was brought in line with the exchange (see inspect for the orders)');
}

export function registerReconcile(program: Command, ctx: CliContext): void {
  program
    .command('reconcile')
    .description('open the runtime on a data dir, reconcile the ledger with its exchange, and print the report')
    .option('--data-dir <dir>', 'the data dir', 'data')
    .option('--config <platform.yaml>', 'platform config (default: ./platform.yaml if present, else built-in defaults)')
    .option('--json', 'print JSON')
    .action(async (opts: ReconcileOptions) => {
      await reconcileCommand(opts, ctx);
    });
}
