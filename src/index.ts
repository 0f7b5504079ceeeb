/**
 * tradestate: the public surface. Everything else is internal and may change.
 */

// The runtime: open on a data dir with a connector and a clock, submit directives, subscribe, read, close.
export { TradingRuntime, type OpenRuntimeOptions, type ReconcileReport } from '../actors/runtime.js';
export type { DirectiveOutcome } from '../actors/worker.js';
export type { RuntimeEvent, RuntimeEventType, FlowMetrics } from '../actors/flows.js';

// The ledger: the single source of truth, and its read-only views for planners.
export { StrategyLedger } from '../actors/ledger.js';
export type { LedgerView, OpenLedgerOptions, PlanPosition, ReadonlyDeep, RegisteredOrder } from '../actors/ledger.js';
export type { Anomaly, CommittedEffect, SendOutcome, TransitionRecord } from '../actors/host.js';

// The StrategyJournal: causality joined with ledger reality.
export { StrategyJournal, aggregate, type OrderStory, type PlanStory, type Story, type JournalAggregates } from './journal/index.js';
export type { JournalEntry, OpportunityRejectionInput } from './journal/index.js';

// Directives and configuration.
export { ExecutionDirectiveSchema, CausalityChainSchema, type ExecutionDirective, type ExecutionDirectiveInput, type CausalityChain } from './domain/directive.js';
export { PlanExecutionConfigSchema, DEFAULT_PLAN_EXECUTION, type PlanExecutionConfig, type PlanExecutionConfigInput } from './domain/config.js';

// Connectors.
export { ConnectorError, type IExecutionConnector, type ConnectorErrorKind, type ExchangeOrder, type ExchangeReply, type ExchangeTrade, type PlaceRequest } from './connectors/connector.js';
export { SimulatedExchange, type SimulatedExchangeOptions, type SimBar, type SimQuote } from './connectors/simulated-exchange.js';
export { CcxtConnector, type CcxtExchangeLike } from './connectors/ccxt-connector.js';

// Strategies, data and backtests.
export {
  PlanningPipeline,
  TradePlanner,
  EntryPlanner,
  SizePlanner,
  ExitPlanner,
  ExecutionPlanner,
  directiveId,
  type Strategy,
  type StrategyPlanner,
  type StrategyDirective,
  type MarketContext,
  type PlanningContext,
} from './strategies/api.js';
export { createMaCrossover, MaCrossoverParamsSchema, type MaCrossoverParams } from './strategies/ma-crossover.js';
export { runBacktest, type BacktestOptions, type BacktestResult } from './backtest/engine.js';
export { loadBundled } from './data/bundled.js';
export { loadOhlcvCsv, parseOhlcvCsv, OhlcvCsvError } from './data/csv.js';
export { parsePlatformConfig, loadPlatformConfig } from './config/load.js';

// Machines (pure; paste into the Stately visualizer).
export type { ExchangeEffect, PlaceOrderEffect, CancelOrderEffect, ModifyOrderEffect } from '../machines/actions.js';
export { orderMachine } from '../machines/order.js';
export { executionGroupMachine } from '../machines/execution-group.js';
export { tradePlanMachine } from '../machines/trade-plan.js';

// Domain.
export { ManualClock, systemClock, type Clock } from './domain/clock.js';
export { randomIdSource, seededIdSource, type IdSource, type PlanId, type GroupId, type OrderId, type FillId } from './domain/ids.js';
export { ValidationError, NotFoundError, type Violation } from './domain/errors.js';
export { DataDirInUseError, CorruptRecordError, SchemaVersionError, StoreHaltedError } from '../storage/errors.js';
export type { RegisterOrderRequest, OrderEventInput, OrderSpec } from './domain/requests.js';
export type { TradePlan, ExecutionGroup, Order, Fill, Position, OrderStatus, GroupStatus, PlanStatus } from './domain/schemas.js';
