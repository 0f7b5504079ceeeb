import type { IExecutionConnector } from '../src/connectors/connector.js';
import { systemClock, type Clock } from '../src/domain/clock.js';
import { DurableTimers } from './timers.js';
import { PositionMonitor, type PositionReport } from './position-monitor.js';
import { Protection, protectedPlansOf } from './protection.js';
import { PlanExecutionConfigSchema, type PlanExecutionConfig, type PlanExecutionConfigInput } from '../src/domain/config.js';
import { parseOrThrow } from '../src/domain/errors.js';
import type { IdSource } from '../src/domain/ids.js';
import type { Order } from '../src/domain/schemas.js';
import { EffectRunner } from './effect-runner.js';
import { FlowTerminationHandler, RuntimeEvents, type FlowMetrics, type RuntimeEvent, type RuntimeEventType } from './flows.js';
import { Lanes, laneOf } from './lanes.js';
import { StrategyLedger, type LedgerView } from './ledger.js';
import { ReplyRouter } from './reply-router.js';
import { realSleep, type Sleep } from './retry.js';
import { ExecutionWorker, type DirectiveOutcome } from './worker.js';
// StrategyJournal wiring (actors/journal-writer.ts, actors/strategy-cache.ts).
import { JournalWriter, type OpportunityRejectedEntry, type OpportunityRejectionInput } from './journal-writer.js';
import { StrategyCache } from './strategy-cache.js';

export interface OpenRuntimeOptions {
  readonly dataDir: string;
  readonly connector: IExecutionConnector;
  readonly clock?: Clock;
  readonly ids?: IdSource;
  /** `orchestration.plan_execution` of platform.yaml; defaults apply to what is left out. */
  readonly config?: PlanExecutionConfigInput;
  /** How retries wait (tests may pass a no-op). */
  readonly sleep?: Sleep;
  /** Durable monitor intervals (defaults: orders every 5 minutes, positions every 10, as in the seeds). */
  readonly monitors?: { readonly orderIntervalMs?: number; readonly positionIntervalMs?: number };
  /**
   * Check the durable timers on this wall-clock period. Defaults to 1000 ms with the system
   * clock and to off with an injected clock, whose owner calls `poll()` after moving it.
   */
  readonly pollEveryMs?: number | null;
}

export interface ReconcileReport {
  /** Outbox effects found on opening, whose outcome had to be established. */
  readonly outboxResolved: number;
  /** Non-terminal orders compared with the exchange. */
  readonly ordersChecked: number;
  /** Orders whose ledger state changed to match the exchange. */
  readonly ordersChanged: number;
  /** Orders the exchange could not be asked about (left as they were). */
  readonly ordersUnreachable: number;
}

const SYNCABLE: readonly Order['status'][] = ['SUBMITTED', 'OPEN', 'PARTIALLY_FILLED', 'PENDING_CANCEL', 'PENDING_UPDATE'];

/**
 * The embeddable runtime: a StrategyLedger on a data dir, an ExecutionWorker for directives,
 * exchange effects run after commit, and exchange replies routed back as order events.
 * Opening it reconciles with the exchange before anything new is sent.
 */
export class TradingRuntime {
  private readonly events = new RuntimeEvents();
  private readonly lanes = new Lanes();
  private readonly flowsEnded: FlowTerminationHandler;
  /** StrategyJournal: per-flow context, and the writer that commits causality with every turn. */
  readonly strategyCache: StrategyCache;
  private readonly journalWriter: JournalWriter;
  private readonly worker: ExecutionWorker;
  private readonly effects: EffectRunner;
  private readonly router: ReplyRouter;
  private readonly protection: Protection;
  private readonly positions: PositionMonitor;
  private readonly timers: DurableTimers;
  private unsubscribe: (() => void) | undefined;
  /** The first error that escaped a background task (a halted store, a bug). */
  backgroundError: unknown;

  private constructor(
    private readonly ledgerImpl: StrategyLedger,
    private readonly connector: IExecutionConnector,
    readonly config: PlanExecutionConfig,
    sleep: Sleep,
    clock: Clock,
  ) {
    const onError = (e: unknown) => (this.backgroundError ??= e);
    this.flowsEnded = new FlowTerminationHandler(this.events, config.monitoring.alert_on_slow_execution_ms);
    this.worker = new ExecutionWorker(ledgerImpl, connector.capabilities, config, this.events);
    // StrategyJournal: the cache lives from submit to FLOW_STOPPED; the writer observes every turn.
    this.strategyCache = new StrategyCache(this.flowsEnded);
    this.journalWriter = new JournalWriter(ledgerImpl, this.strategyCache, config.error_handling.on_journal_failure);
    this.worker.flowHooks = {
      started: (d) => void this.strategyCache.start(d),
      settled: (id, running) => {
        if (!running) this.strategyCache.abandon(id);
      },
    };
    this.worker.causalityOf = (id) => this.journalWriter.directiveCausality(id);
    this.effects = new EffectRunner(ledgerImpl, connector, config, this.lanes, sleep, this.worker.onEffectResult);
    this.router = new ReplyRouter(ledgerImpl, this.lanes, onError);
    this.protection = new Protection(ledgerImpl, connector.capabilities, this.lanes, onError, async (ids) => {
      for (const id of ids) await this.syncOrderNow(id);
    });
    this.positions = new PositionMonitor(ledgerImpl, connector, () => this.reconcile());
    this.timers = new DurableTimers(ledgerImpl, clock);
    // Protection follows every turn that touched a plan with exit levels.
    ledgerImpl.host.observe((turn) => {
      for (const planId of protectedPlansOf(turn)) {
        const plan = turn.snapshot(planId);
        if (plan && (plan.context as { exitPlan: unknown }).exitPlan) this.protection.schedule(planId);
      }
    });
  }

  static async open(options: OpenRuntimeOptions): Promise<TradingRuntime> {
    const config = parseOrThrow('plan_execution config', PlanExecutionConfigSchema, options.config ?? {});
    const ledger = await StrategyLedger.open({
      dataDir: options.dataDir,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.ids ? { ids: options.ids } : {}),
    });
    const clock = options.clock ?? systemClock;
    const runtime = new TradingRuntime(ledger, options.connector, config, options.sleep ?? realSleep, clock);
    try {
      await runtime.journalWriter.load(); // journal heads of live orders/plans, before any turn
      await runtime.recover();
      const orderEvery = options.monitors?.orderIntervalMs ?? 5 * 60_000;
      const positionEvery = options.monitors?.positionIntervalMs ?? 10 * 60_000;
      await runtime.timers.arm('order_monitor', orderEvery, () => runtime.monitorOrders().then(() => undefined));
      await runtime.timers.arm('position_monitor', positionEvery, () => runtime.monitorPositions().then(() => undefined));
      const pollEvery = options.pollEveryMs === undefined ? (options.clock ? null : 1000) : options.pollEveryMs;
      if (pollEvery !== null) runtime.timers.start(pollEvery, (e) => (runtime.backgroundError ??= e));
    } catch (error) {
      await ledger.close();
      throw error;
    }
    return runtime;
  }

  /** What recovery found when this runtime opened. */
  recovery: ReconcileReport | undefined;

  private async recover(): Promise<void> {
    // Replies may arrive while we look: they queue behind the lookups of their order.
    this.unsubscribe = this.connector.onReply(this.router.accept);
    const outbox = await this.ledgerImpl.outbox();
    const covered = new Set(outbox.map((e) => e.effect.orderId));
    // From here on, new effects (e.g. protection re-placed by a resync) run as they commit.
    this.ledgerImpl.host.onEffects = (effects) => this.effects.enqueue(effects);
    // Effects committed before a crash: each resolves by asking the exchange first.
    this.effects.enqueue(outbox, true);
    const report = await this.syncOrders((order) => !covered.has(order.orderId));
    await this.lanes.idle();
    this.recovery = { ...report, outboxResolved: outbox.length };
    await this.worker.resumeClosing();
    for (const planId of this.ledgerImpl.host.liveIds('plan')) this.protection.schedule(planId);
  }

  /** Fires the durable monitor timers that are due by the clock. Call after moving a simulated clock. */
  poll(): Promise<void> {
    return this.timers.poll();
  }

  /** order_monitor: resync working orders from the exchange (a stream alone is not trusted), then protection. */
  async monitorOrders(): Promise<ReconcileReport> {
    const report = await this.reconcile();
    for (const planId of this.ledgerImpl.host.liveIds('plan')) this.protection.schedule(planId);
    await this.lanes.idle();
    return report;
  }

  /** position_monitor: marks, trailing stops, and reconciliation of positions with the exchange. */
  async monitorPositions(): Promise<PositionReport> {
    const report = await this.positions.tick();
    await this.lanes.idle();
    return report;
  }

  private async syncOrders(include: (order: Order) => boolean): Promise<Omit<ReconcileReport, 'outboxResolved'>> {
    let ordersChecked = 0;
    let ordersChanged = 0;
    let ordersUnreachable = 0;
    const tasks: Promise<void>[] = [];
    for (const id of this.ledgerImpl.host.liveIds('order')) {
      const record = this.ledgerImpl.host.record(id);
      if (!record) continue;
      const order = { ...(record.context as Order), status: record.value as Order['status'] };
      if (!SYNCABLE.includes(order.status) || !include(order)) continue;
      ordersChecked++;
      tasks.push(
        this.lanes.run(laneOf(this.ledgerImpl, order.clientOrderId), async () => {
          const result = await this.syncOrderNow(id);
          if (result === 'unreachable') ordersUnreachable++;
          if (result === 'changed') ordersChanged++;
        }),
      );
    }
    await Promise.all(tasks);
    return { ordersChecked, ordersChanged, ordersUnreachable };
  }

  /**
   * Asks the exchange about one order and records what the ledger lacks. Runs in the caller's
   * lane: callers are the resync (which queues it in the order's lane) and Protection (already
   * in it).
   */
  private async syncOrderNow(id: string): Promise<'unchanged' | 'changed' | 'unreachable'> {
    const record = this.ledgerImpl.host.record(id);
    if (!record || !SYNCABLE.includes(record.value as Order['status'])) return 'unchanged';
    // An effect of it still to run (queued behind the caller in this lane) answers for it.
    if (this.effects.inFlight(id)) return 'unchanged';
    const order = record.context as Order;
    let found;
    try {
      found = await this.connector.fetchOrder({ clientOrderId: order.clientOrderId, exchangeOrderId: order.connectorOrderId, symbol: order.symbol });
    } catch {
      return 'unreachable';
    }
    const before = record.seq;
    // A placement left in the outbox (its outcome was unknown) is settled by this answer.
    const placements = (await this.ledgerImpl.outbox()).filter((e) => e.effect.orderId === id && e.effect.kind === 'placeOrder');
    const [first, ...rest] = placements.map((e) => e.effectId);
    if (found === null) {
      // The exchange never got it, and no send of it is queued or running.
      await this.ledgerImpl.applyToOrder(id, { type: 'REJECTED', reason: 'not found on the exchange during reconciliation' }, first);
    } else {
      await this.effects.syncWith(id, found, first);
    }
    for (const effectId of rest) await this.ledgerImpl.recordSettled(effectId);
    return this.ledgerImpl.host.record(id)?.seq === before ? 'unchanged' : 'changed';
  }

  /**
   * Submits an ExecutionDirective. Resolves after its turn is committed, with the outcome; the
   * same directive_id submitted again (also after a restart) returns the first outcome.
   * Throws ValidationError (every violated rule) or NotFoundError; nothing is written then.
   */
  submit(directive: unknown): Promise<DirectiveOutcome> {
    return this.worker.submit(directive);
  }

  /**
   * StrategyJournal: records an opportunity the strategy rejected (e.g. a risk veto) with its
   * causality and reasons, in a turn of its own. Throws ValidationError on malformed input
   * (nothing is written then).
   */
  recordRejection(rejection: OpportunityRejectionInput): Promise<OpportunityRejectedEntry> {
    return this.journalWriter.recordRejection(rejection);
  }

  on<T extends RuntimeEventType>(type: T, listener: (event: Extract<RuntimeEvent, { type: T }>) => void): () => void {
    return this.events.on(type, listener);
  }

  /** Read-only ledger views for planners and reports. */
  get ledger(): LedgerView {
    return this.ledgerImpl.view();
  }

  /** The writable ledger, for platform code and tests; planners use `ledger`. */
  get strategyLedger(): StrategyLedger {
    return this.ledgerImpl;
  }

  metrics(): FlowMetrics & { readonly repeatedReplies: number; readonly openFlows: number } {
    return { ...this.flowsEnded.metrics(), repeatedReplies: this.router.repeated, openFlows: this.worker.openFlows };
  }

  /** Compares every working order with the exchange and records what the ledger missed. */
  async reconcile(): Promise<ReconcileReport> {
    const report = await this.syncOrders(() => true);
    return { ...report, outboxResolved: 0 };
  }

  /** Resolves when every effect, reply and flow started so far has finished. */
  async settled(): Promise<void> {
    for (;;) {
      await this.lanes.idle();
      await this.ledgerImpl.host.settled();
      if (this.worker.openFlows === 0) {
        await this.lanes.idle();
        return;
      }
      // Flows end as their effects report; a close may also be waiting for its cancels.
      await Promise.race([this.worker.idle(), this.ledgerImpl.host.nextCommit(), new Promise((r) => setTimeout(r, 100))]);
    }
  }

  async close(): Promise<void> {
    this.timers.stop();
    this.unsubscribe?.();
    await this.lanes.idle();
    await this.ledgerImpl.close();
  }
}
