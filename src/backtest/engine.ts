import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { TradingRuntime } from '../../actors/runtime.js';
import { SimulatedExchange } from '../connectors/simulated-exchange.js';
import { ManualClock } from '../domain/clock.js';
import { D, str, type Dec } from '../domain/decimal.js';
import { NotFoundError } from '../domain/errors.js';
import type { PlatformConfig } from '../config/schema.js';
import { barInterval, describeInterval, type OhlcvBar, type OhlcvSeries } from '../data/ohlcv.js';
import { PlanningPipeline, type Hints, type MarketContext, type Strategy } from '../strategies/api.js';
import { readCheckpoint, writeCheckpoint, type BacktestCheckpoint, type DirectiveCounts, type Fingerprint } from './checkpoint.js';
import { simulatedExchangeOptions } from './exchange.js';
import { countingIdSource } from './ids.js';
import { EquityMetrics } from './metrics.js';
import { computeSummary, type BacktestSummary } from './summary.js';

/** The logging a backtest does (pino's Logger fits). */
export interface BacktestLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

const silent: BacktestLogger = { info: () => {}, warn: () => {}, debug: () => {} };

export interface BacktestProgress {
  /** Bars processed so far (of `total`). */
  readonly done: number;
  readonly total: number;
  /** Open time of the last processed bar. */
  readonly at: number;
  readonly equity: string;
  readonly directives: number;
}

export interface BacktestOptions {
  readonly dataDir: string;
  readonly series: OhlcvSeries;
  readonly strategy: Strategy<Hints>;
  readonly config: PlatformConfig;
  readonly fingerprint: Fingerprint;
  /** Continue from the data dir's checkpoint (which must exist and match `fingerprint`). */
  readonly resume: boolean;
  readonly logger?: BacktestLogger;
  readonly onProgress?: (progress: BacktestProgress) => void;
  /** Checked after every bar: when set, the run stops there (checkpointed, resumable). */
  readonly stop?: { readonly requested: boolean };
}

export interface BacktestResult {
  readonly status: 'completed' | 'stopped';
  /** The checkpoint said the run was already complete: nothing was run, the stored summary is returned. */
  readonly alreadyComplete: boolean;
  readonly summary: BacktestSummary;
  readonly nextBar: number;
  readonly totalBars: number;
  /** The bar this session started at (0 for a fresh run). */
  readonly startedAt: number;
  /** The checkpoint resumed from was not written by a graceful stop. */
  readonly resumedUnclean: boolean;
  /** Wall-clock ms of this session, and of all sessions together. */
  readonly sessionMs: number;
  readonly totalMs: number;
}

/** A resume that cannot be done as asked: names what differs or what is missing. */
export class BacktestStateError extends Error {
  override readonly name = 'BacktestStateError';
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** What makes two runs the same run: the bars, the strategy with its parameters, and the settings that change results. */
export function fingerprintOf(series: OhlcvSeries, strategy: { name: string; instanceId: string; params: unknown }, config: PlatformConfig): Fingerprint {
  const h = createHash('sha256');
  h.update(series.symbol);
  for (const b of series.bars) h.update(`\n${b.at},${b.open},${b.high},${b.low},${b.close},${b.volume}`);
  const { checkpoint_every_bars: _every, data: _data, ...backtest } = config.backtest;
  return {
    data: h.digest('hex'),
    strategy: sha256(JSON.stringify(strategy)),
    config: sha256(JSON.stringify({ orchestration: config.orchestration, connector: config.connector, backtest })),
  };
}

/** Names the parts of two fingerprints that differ. */
export function fingerprintDiff(a: Fingerprint, b: Fingerprint): string[] {
  const out: string[] = [];
  if (a.data !== b.data) out.push('the market data');
  if (a.strategy !== b.strategy) out.push('the strategy or its parameters');
  if (a.config !== b.config) out.push('the platform config (orchestration, connector, backtest)');
  return out;
}

const NO_DIRECTIVES: DirectiveCounts = { newTrade: 0, modify: 0, close: 0, declined: 0, refused: 0, failed: 0 };

/**
 * Runs (or resumes) a backtest of `strategy` on `series` in `dataDir`, every order a persisted
 * actor in the data dir's LevelDB.
 *
 * Each bar, in simulated time: the clock moves to the bar's open and the exchange plays the bar
 * (fills along its path); the runtime settles (replies committed, protection placed); durable
 * monitors that are due run; positions are marked at the close; the clock moves to the end of
 * the bar and the strategy decides; its directives are submitted and the runtime settles again.
 * Only then is the bar done, and the checkpoint (bar cursor, strategy state, exchange state,
 * id-source position, metrics) written atomically. Ids come from a seeded source and time from
 * the bars, so the same inputs give the same ledger, byte for byte; a run stopped gracefully
 * and resumed gives the same result as one that was not stopped.
 */
export async function runBacktest(options: BacktestOptions): Promise<BacktestResult> {
  const { dataDir, series, strategy, config, fingerprint } = options;
  const log = options.logger ?? silent;
  const bars = series.bars;
  const total = bars.length;
  if (total === 0) throw new BacktestStateError(`${series.source} has no bars to test`);
  const interval = barInterval(bars);
  const decisionAt = (i: number) => bars[i]!.at + interval - 1;
  const started = performance.now();

  let cp: BacktestCheckpoint | null = null;
  if (options.resume) {
    cp = readCheckpoint(dataDir);
    if (cp === null) throw new BacktestStateError(`${dataDir} has no backtest to resume`);
    const diff = fingerprintDiff(cp.fingerprint, fingerprint);
    if (diff.length > 0) throw new BacktestStateError(`cannot resume the backtest in ${dataDir}: ${diff.join(' and ')} differ from when it started`);
  }
  const sumInput = (runtimeLedger: TradingRuntime, metrics: EquityMetrics, directives: DirectiveCounts, processed: number) => ({
    ledger: runtimeLedger.strategyLedger,
    dataDir,
    symbol: series.symbol,
    source: series.source,
    strategy: strategy.description,
    instanceId: strategy.instanceId,
    currency: config.connector.simulated.fees.currency,
    initialCapital: config.backtest.initial_capital,
    bars,
    processed,
    interval: describeInterval(interval),
    decisionIndex: new Map(bars.map((b, i) => [b.at + interval - 1, i])),
    barIndex: new Map(bars.map((b, i) => [b.at, i])),
    metrics: metrics.state(),
    directives,
  });
  if (cp !== null && cp.status === 'completed' && cp.summary !== null) {
    return {
      status: 'completed',
      alreadyComplete: true,
      summary: cp.summary,
      nextBar: cp.nextBar,
      totalBars: total,
      startedAt: cp.nextBar,
      resumedUnclean: false,
      sessionMs: 0,
      totalMs: cp.elapsedMs,
    };
  }
  const resumedUnclean = cp !== null && cp.status === 'running';

  const clock = new ManualClock(cp?.clockMs ?? bars[0]!.at);
  const ids = countingIdSource(config.backtest.id_seed, cp?.idDraws ?? 0);
  const exchange = cp !== null ? SimulatedExchange.fromJSON(cp.exchange, clock) : new SimulatedExchange(clock, simulatedExchangeOptions(config));
  if (cp !== null) strategy.planner.restoreState(cp.strategyState);
  const metrics = new EquityMetrics(config.backtest.initial_capital, cp?.engine.metrics);
  const openPlans = new Set<string>(cp?.engine.openPlans ?? []);
  const counts: DirectiveCounts = { ...(cp?.engine.directives ?? NO_DIRECTIVES) };
  const startBar = cp?.nextBar ?? 0;
  let next = startBar;
  const priorMs = cp?.elapsedMs ?? 0;

  const checkpoint = (status: BacktestCheckpoint['status'], durable: boolean, summary: BacktestSummary | null = null) =>
    writeCheckpoint(
      dataDir,
      {
        version: 1,
        status,
        fingerprint,
        symbol: series.symbol,
        source: series.source,
        strategy: { name: strategy.name, instanceId: strategy.instanceId, description: strategy.description },
        totalBars: total,
        nextBar: next,
        barIntervalMs: interval,
        clockMs: clock.now(),
        idDraws: ids.draws(),
        exchange: exchange.toJSON(),
        strategyState: strategy.planner.saveState(),
        engine: { openPlans: [...openPlans], metrics: metrics.state(), directives: { ...counts } },
        elapsedMs: priorMs + (performance.now() - started),
        summary,
      },
      durable,
    );

  mkdirSync(dataDir, { recursive: true });
  // The checkpoint exists before the ledger does: a data dir with a ledger always has one.
  if (cp === null) checkpoint('running', true);

  const pe = config.orchestration.plan_execution;
  const runtime = await TradingRuntime.open({
    dataDir,
    connector: exchange,
    clock,
    ids: ids.next,
    config: pe,
    monitors: {
      orderIntervalMs: config.orchestration.monitors.order_interval_seconds * 1000,
      positionIntervalMs: config.orchestration.monitors.position_interval_seconds * 1000,
    },
    pollEveryMs: null,
  });
  const unsubscribe: (() => void)[] = [];
  try {
    if (cp !== null) {
      log.info({ nextBar: next, totalBars: total, clean: !resumedUnclean, recovery: runtime.recovery }, `resuming at bar ${next + 1} of ${total}`);
      if (resumedUnclean) {
        log.warn(
          { nextBar: next },
          `the previous run did not stop cleanly; resuming from its last checkpoint (bar ${next} of ${total}). Work it committed after that checkpoint is reconciled against the checkpointed exchange, so results can differ from an uninterrupted run`,
        );
      }
    } else {
      log.info({ symbol: series.symbol, bars: total, source: series.source, strategy: strategy.description, dataDir }, 'backtest started');
    }
    unsubscribe.push(
      runtime.on('EXECUTION_FAILED', (e) => {
        counts.failed++;
        log.warn({ directiveId: e.directiveId, planId: e.planId, errorType: e.errorType, error: e.errorMessage }, `directive ${e.directiveId} failed: ${e.errorMessage}`);
      }),
    );
    if (pe.monitoring.log_all_executions) {
      unsubscribe.push(runtime.on('TRADE_EXECUTED', (e) => log.debug({ directiveId: e.directiveId, scope: e.scope, planId: e.planId, orderIds: e.orderIds, at: e.at }, `executed ${e.directiveId}`)));
    }
    /**
     * A background task (reply, protection, monitor) that failed. A NotFoundError there is a
     * follow-up that lost a race with the exchange (its order or group had ended): logged, and
     * the run goes on. Anything else (a halted store, a bug) stops the run.
     */
    const checkBackground = () => {
      const error = runtime.backgroundError;
      if (error === undefined) return;
      if (!(error instanceof NotFoundError)) throw error;
      counts.backgroundWarnings = (counts.backgroundWarnings ?? 0) + 1;
      log.warn({ error: error.message }, `background task refused: ${error.message}`);
      runtime.backgroundError = undefined;
    };
    const pipeline = new PlanningPipeline(strategy);
    const every = config.backtest.checkpoint_every_bars;
    const ledger = runtime.ledger;

    /** Equity at this bar's close: capital, closed plans' realized P&L, open plans marked to the close. */
    const markToMarket = async (bar: OhlcvBar): Promise<Dec> => {
      const close = new D(bar.close);
      let open = new D(0);
      let gross = new D(0);
      for (const planId of [...openPlans]) {
        const p = await ledger.position(planId);
        if (!p || p.status === 'CLOSED' || p.status === 'CANCELLED') {
          openPlans.delete(planId);
          if (p) {
            metrics.closePlan(p.realizedPnlNet);
            if (p.status === 'CLOSED') log.info({ planId, pnl: p.realizedPnlNet, fees: p.fees, at: new Date(bar.at).toISOString() }, `trade ${planId} closed: ${p.realizedPnlNet}`);
          }
          continue;
        }
        const q = new D(p.netQuantity);
        const cost = new D(p.costBasis);
        open = open.plus(p.realizedPnl).minus(p.fees).plus(q.times(close).minus(q.isNegative() ? cost.neg() : cost));
        gross = gross.plus(q.abs().times(close));
      }
      const equity = new D(config.backtest.initial_capital).plus(metrics.realizedClosed).plus(open);
      metrics.observe(bar.at, equity, gross);
      return equity;
    };

    for (let i = next; i < total; i++) {
      const bar = bars[i]!;
      if (clock.now() < bar.at) clock.set(bar.at);
      exchange.onBar(series.symbol, bar);
      await runtime.settled();
      await runtime.poll();
      await runtime.settled();
      checkBackground();
      const equity = await markToMarket(bar);

      if (clock.now() < decisionAt(i)) clock.set(decisionAt(i));
      const market: MarketContext = {
        symbol: series.symbol,
        bar,
        index: i,
        decisionAt: decisionAt(i),
        ledger,
        account: { equity: str(equity), initialCapital: config.backtest.initial_capital, currency: config.connector.simulated.fees.currency },
      };
      for (const sd of await strategy.planner.onBar(market)) {
        const planned = await pipeline.plan(sd, market);
        if (planned.kind === 'declined') {
          counts.declined++;
          log.debug({ strategyDirectiveId: sd.id, reason: planned.reason }, `declined ${sd.id}: ${planned.reason}`);
          strategy.planner.onOutcome?.(sd, planned);
          continue;
        }
        const d = planned.directive;
        if (d.scope === 'NEW_TRADE') counts.newTrade++;
        else if (d.scope === 'MODIFY_EXISTING') counts.modify++;
        else counts.close++;
        try {
          const outcome = await runtime.submit(d);
          if (d.scope === 'NEW_TRADE' && outcome.plan_id !== null) openPlans.add(outcome.plan_id);
          log.info(
            { directiveId: d.directive_id, scope: d.scope, planId: outcome.plan_id, orderIds: outcome.order_ids, exitPlan: d.exit_plan ?? null, size: d.size_plan?.position_size ?? null, rationale: d.rationale },
            `${d.scope} ${d.directive_id}: ${d.rationale ?? ''}`,
          );
          strategy.planner.onOutcome?.(sd, { kind: 'executed', directive: d, outcome });
        } catch (error) {
          if (!(error instanceof NotFoundError)) throw error;
          counts.refused++;
          log.warn({ directiveId: d.directive_id, error: error.message }, `refused ${d.directive_id}: ${error.message}`);
          strategy.planner.onOutcome?.(sd, { kind: 'refused', directive: d, error });
        }
      }
      await runtime.settled();
      checkBackground();
      next = i + 1;
      options.onProgress?.({ done: next, total, at: bar.at, equity: str(equity), directives: counts.newTrade + counts.modify + counts.close });
      // A stop asked for at any time up to here ends the run after this bar.
      const stopping = options.stop?.requested === true;
      if (next < total && (stopping || (every > 0 && next % every === 0))) checkpoint(stopping ? 'stopped' : 'running', stopping);
      if (stopping) break;
    }

    const summary = await computeSummary(sumInput(runtime, metrics, counts, next));
    const status = next >= total ? 'completed' : 'stopped';
    if (status === 'completed') {
      checkpoint('completed', true, summary);
      log.info({ summary }, 'backtest completed');
    } else {
      log.info({ nextBar: next, totalBars: total }, `backtest stopped after bar ${next} of ${total}; resumable`);
    }
    const sessionMs = performance.now() - started;
    return { status, alreadyComplete: false, summary, nextBar: next, totalBars: total, startedAt: startBar, resumedUnclean, sessionMs, totalMs: priorMs + sessionMs };
  } finally {
    for (const u of unsubscribe) u();
    await runtime.close();
  }
}
