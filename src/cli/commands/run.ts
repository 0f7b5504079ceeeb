import { mkdirSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { fingerprintDiff, fingerprintOf, runBacktest, type BacktestProgress, type BacktestResult } from '../../backtest/engine.js';
import { dataDirState, UnsafeWipeError, wipeDataDir } from '../../backtest/datadir.js';
import { loadPlatformConfig, type LoadedConfig } from '../../config/load.js';
import { loadOhlcvCsv } from '../../data/csv.js';
import { BUNDLED_DATASETS, isBundled, loadBundled } from '../../data/bundled.js';
import { sliceByTime, type OhlcvSeries } from '../../data/ohlcv.js';
import { instantiate, resolveStrategyDefinition } from '../../strategies/registry.js';
import type { Hints, Strategy } from '../../strategies/api.js';
import { CliError, EXIT } from '../errors.js';
import { formatSummary, money } from '../format.js';
import { createRunLogger } from '../logging.js';
import type { Terminal } from '../terminal.js';
import type { CliContext } from './context.js';

export interface RunOptions {
  readonly data?: string;
  readonly symbol?: string;
  readonly strategy?: string;
  readonly config?: string;
  readonly dataDir: string;
  readonly resume?: boolean;
  readonly fresh?: boolean;
  readonly json?: boolean;
  readonly progress: boolean;
}

function loadSeries(loaded: LoadedConfig): OhlcvSeries {
  const b = loaded.config.backtest;
  let series: OhlcvSeries;
  if (b.data !== null) {
    const path = isAbsolute(b.data) ? b.data : resolve(loaded.baseDir, b.data);
    series = loadOhlcvCsv(path, b.symbol === null ? {} : { symbol: b.symbol });
  } else {
    const symbol = b.symbol ?? 'AAPL';
    if (!isBundled(symbol)) {
      throw new CliError(`no bundled data for ${symbol}: pass --data <csv> (bundled: ${Object.keys(BUNDLED_DATASETS).join(', ')})`);
    }
    series = loadBundled(symbol);
  }
  if (b.from !== null || b.to !== null) {
    const from = b.from === null ? null : Date.parse(b.from.length === 10 ? `${b.from}T00:00:00Z` : b.from);
    const to = b.to === null ? null : Date.parse(b.to.length === 10 ? `${b.to}T23:59:59.999Z` : b.to);
    const bars = sliceByTime(series.bars, from, to);
    if (bars.length === 0) throw new CliError(`no bars of ${series.source} fall within backtest.from ${b.from ?? '-'} .. backtest.to ${b.to ?? '-'}`);
    series = { ...series, bars };
  }
  return series;
}

/** Progress: a bar on a terminal, a plain line every 10% otherwise. */
function progressReporter(terminal: Terminal, currency: string, enabled: boolean) {
  let multibar: cliProgress.MultiBar | null = null;
  let bar: cliProgress.SingleBar | null = null;
  let lastDraw = 0;
  let lastDecile = -1;
  const started = performance.now();
  let startDone = 0;
  return {
    start(done: number, total: number) {
      startDone = done;
      lastDecile = Math.floor((done * 10) / total);
      if (!enabled) return;
      if (terminal.interactive) {
        multibar = new cliProgress.MultiBar(
          {
            stream: process.stderr,
            format: ' {bar} {percentage}% | {value}/{total} bars | {date} | equity {equity} | {directives} directives | {rate} bars/s',
            hideCursor: true,
            clearOnComplete: true,
            etaBuffer: 50,
          },
          cliProgress.Presets.shades_classic,
        );
        bar = multibar.create(total, done, { date: '-', equity: '-', directives: 0, rate: 0 });
        const mb = multibar;
        terminal.setOverlay((line) => mb.log(`${line}\n`));
      } else {
        terminal.note(`progress: starting at bar ${done + 1} of ${total}`);
      }
    },
    update(p: BacktestProgress) {
      if (!enabled) return;
      const now = performance.now();
      const rate = Math.round((p.done - startDone) / Math.max(0.001, (now - started) / 1000));
      const date = new Date(p.at).toISOString().slice(0, 10);
      if (bar !== null) {
        if (now - lastDraw < 80 && p.done < p.total) return;
        lastDraw = now;
        bar.update(p.done, { date, equity: `${money(p.equity)} ${currency}`, directives: p.directives, rate });
        return;
      }
      const decile = Math.floor((p.done * 10) / p.total);
      if (decile > lastDecile) {
        lastDecile = decile;
        terminal.note(`progress: ${p.done}/${p.total} bars (${Math.floor((p.done * 100) / p.total)}%), ${date}, equity ${money(p.equity)} ${currency}, ${p.directives} directives, ${rate} bars/s`);
      }
    },
    stop() {
      if (multibar !== null) {
        multibar.stop();
        terminal.setOverlay(null);
        multibar = null;
        bar = null;
      }
    },
  };
}

/** SIGINT / SIGTERM: finish the bar in progress, checkpoint, close. A second signal exits at once. */
function installStopHandlers(terminal: Terminal, onFirst: (signal: NodeJS.Signals) => void): () => void {
  let received: NodeJS.Signals | null = null;
  const handler = (signal: NodeJS.Signals) => {
    if (received !== null) {
      terminal.note(`${signal} again: exiting now without a checkpoint for the bar in progress (resume continues from the last one)`);
      process.exit(signal === 'SIGTERM' ? EXIT.sigterm : EXIT.sigint);
    }
    received = signal;
    onFirst(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

export async function runCommand(options: RunOptions, ctx: CliContext): Promise<number> {
  const { terminal, cwd } = ctx;
  if (options.resume && options.fresh) throw new CliError('--resume and --fresh contradict each other: pick one');
  // 1. Everything is validated before anything is written.
  const loaded = loadPlatformConfig({
    path: options.config,
    cwd,
    overrides: {
      ...(options.data !== undefined ? { data: options.data } : {}),
      ...(options.symbol !== undefined ? { symbol: options.symbol } : {}),
      ...(options.strategy !== undefined ? { strategy: options.strategy } : {}),
    },
  });
  const config = loaded.config;
  const definition = await resolveStrategyDefinition(config.strategy.name, loaded.baseDir);
  const instanceId = config.strategy.instance_id ?? definition.name;
  const { strategy, params } = instantiate(definition, config.strategy.params, instanceId) as { strategy: Strategy<Hints>; params: unknown };
  const series = loadSeries(loaded);
  const fingerprint = fingerprintOf(series, { name: definition.name, instanceId, params }, config);
  const dataDir = resolve(cwd, options.dataDir);

  // 2. What the data dir holds decides between a fresh run, a resume, or a refusal.
  const state = dataDirState(dataDir, config.logging.file);
  let resume = false;
  if (options.fresh) {
    try {
      wipeDataDir(dataDir, cwd, config.logging.file);
    } catch (error) {
      if (error instanceof UnsafeWipeError) throw new CliError(error.message);
      throw error;
    }
  } else if (state.kind === 'foreign') {
    throw new CliError(
      `${dataDir} is not empty and holds no backtest (${state.entries.slice(0, 4).join(', ')}${state.entries.length > 4 ? ', ...' : ''}); choose another --data-dir, or --fresh to clear it`,
    );
  } else if (state.kind === 'backtest') {
    const cp = state.checkpoint;
    const diff = fingerprintDiff(cp.fingerprint, fingerprint);
    if (diff.length > 0) {
      throw new CliError(
        `${dataDir} holds a backtest of other inputs (${diff.join(', ')} differ); use --fresh to replace it, or another --data-dir`,
      );
    }
    if (cp.status === 'completed') {
      resume = true; // prints the stored result
    } else if (options.resume) {
      resume = true;
    } else if (cp.status === 'stopped') {
      throw new CliError(`${dataDir} holds a backtest stopped after bar ${cp.nextBar} of ${cp.totalBars}; continue it with --resume, or start over with --fresh`);
    } else {
      throw new CliError(
        `${dataDir} holds a backtest that did not stop cleanly (last checkpoint after bar ${cp.nextBar} of ${cp.totalBars}); if its process is not running any more, --resume continues from that checkpoint, or --fresh starts over`,
      );
    }
  } else if (options.resume) {
    throw new CliError(`${dataDir} has no backtest to resume`);
  }

  // 3. Run.
  mkdirSync(dataDir, { recursive: true });
  const logs = createRunLogger({ dataDir, file: config.logging.file, level: config.logging.level, terminalLevel: config.logging.terminal_level, terminal });
  const currency = config.connector.simulated.fees.currency;
  const progress = progressReporter(terminal, currency, options.progress && !options.json);
  const stop = { requested: false, signal: null as NodeJS.Signals | null };
  const removeHandlers = installStopHandlers(terminal, (signal) => {
    stop.requested = true;
    stop.signal = signal;
    terminal.note(`${signal}: stopping after the current bar (again to exit at once)`);
  });
  if (!options.json) {
    terminal.note(`tradestate run: ${strategy.description}`);
    terminal.note(`  data ${series.source} (${series.symbol}, ${series.bars.length} bars); ledger ${dataDir}; config ${loaded.path ?? 'defaults (no platform.yaml)'}`);
  }
  let result: BacktestResult;
  try {
    const total = series.bars.length;
    const startAt = state.kind === 'backtest' && !options.fresh ? state.checkpoint.nextBar : 0;
    if (!(state.kind === 'backtest' && state.checkpoint.status === 'completed' && !options.fresh)) progress.start(startAt, total);
    result = await runBacktest({
      dataDir,
      series,
      strategy,
      config,
      fingerprint,
      resume,
      logger: logs.logger,
      onProgress: (p) => progress.update(p),
      stop,
    });
  } finally {
    progress.stop();
    removeHandlers();
    logs.close();
  }

  if (options.json) {
    terminal.out(JSON.stringify({ status: result.status, nextBar: result.nextBar, totalBars: result.totalBars, alreadyComplete: result.alreadyComplete, resumedFrom: resume ? result.startedAt : null, summary: result.summary }));
  } else {
    if (result.alreadyComplete) terminal.note(`(this backtest already completed in ${dataDir}; the stored result follows. --fresh runs it again)`);
    else if (resume) terminal.note(`resumed at bar ${result.startedAt + 1} of ${result.totalBars}${result.resumedUnclean ? ' (from an unclean stop: see the log)' : ''}`);
    const seconds = result.sessionMs / 1000;
    const processedNow = result.nextBar - result.startedAt;
    for (const line of formatSummary(result.summary, {
      logFile: logs.file,
      ...(result.alreadyComplete ? {} : { seconds, barsPerSecond: processedNow / Math.max(seconds, 0.001) }),
    })) {
      terminal.out(line);
    }
  }
  if (result.status === 'stopped') {
    terminal.note(`stopped after bar ${result.nextBar} of ${result.totalBars}; continue with: tradestate run --resume --data-dir ${JSON.stringify(dataDir)}`);
    return stop.signal === 'SIGTERM' ? EXIT.sigterm : EXIT.sigint;
  }
  return EXIT.ok;
}

export function registerRun(program: Command, ctx: CliContext): void {
  program
    .command('run', { isDefault: true })
    .description('backtest a strategy on OHLCV bars (default: ma-crossover on the bundled AAPL daily history)')
    .option('--data <csv>', 'OHLCV CSV to test on (header with date, open, high, low, close[, volume]); default: bundled AAPL daily 2013-2018')
    .option('--symbol <symbol>', 'instrument symbol (default: from the CSV or its file name)')
    .option('--strategy <name|path>', 'registered strategy name (ma-crossover) or a module default-exporting a StrategyDefinition')
    .option('--config <platform.yaml>', 'platform config (default: ./platform.yaml if present, else built-in defaults)')
    .option('--data-dir <dir>', 'where the ledger (LevelDB), checkpoint and log go', 'data')
    .option('--resume', 'continue the stopped backtest in --data-dir')
    .option('--fresh', 'clear --data-dir (only files a backtest writes) and start over')
    .option('--json', 'print the result as one JSON object on stdout')
    .option('--no-progress', 'no progress bar or progress lines')
    .addHelpText(
      'after',
      `
Stopping: Ctrl-C (SIGINT) or SIGTERM finishes the bar in progress, writes the checkpoint and
exits with 130 / 143; \`tradestate run --resume --data-dir DIR\` continues it, with the same final
result as a run that was never stopped. A second signal exits at once.

Exit codes: 0 done, 1 failed, 2 bad input (nothing written), 130/143 stopped (resumable).`,
    )
    .action(async (opts: RunOptions) => {
      ctx.exitCode = await runCommand(opts, ctx);
    });
}
