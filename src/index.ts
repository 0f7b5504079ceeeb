/**
 * tradestate: the public surface. Everything else is internal and may change.
 */
export { StrategyLedger } from '../actors/ledger.js';
export type { LedgerView, OpenLedgerOptions, PlanPosition, ReadonlyDeep, RegisteredOrder } from '../actors/ledger.js';
export type { Anomaly, CommittedEffect, SendOutcome, TransitionRecord } from '../actors/host.js';
export type { ExchangeEffect, PlaceOrderEffect, CancelOrderEffect, ModifyOrderEffect } from '../machines/actions.js';
export { orderMachine } from '../machines/order.js';
export { executionGroupMachine } from '../machines/execution-group.js';
export { tradePlanMachine } from '../machines/trade-plan.js';
export { ManualClock, systemClock, type Clock } from './domain/clock.js';
export { randomIdSource, seededIdSource, type IdSource, type PlanId, type GroupId, type OrderId, type FillId } from './domain/ids.js';
export { ValidationError, NotFoundError, type Violation } from './domain/errors.js';
export { DataDirInUseError, CorruptRecordError, SchemaVersionError, StoreHaltedError } from '../storage/errors.js';
export type { RegisterOrderRequest, OrderEventInput, OrderSpec } from './domain/requests.js';
export type { TradePlan, ExecutionGroup, Order, Fill, Position, OrderStatus, GroupStatus, PlanStatus } from './domain/schemas.js';
