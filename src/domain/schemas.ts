import { z } from 'zod';
import { DECIMAL_RE } from './decimal.js';
import { idPattern } from './ids.js';

const decimal = z.string().regex(DECIMAL_RE, 'must be a decimal string such as "150.25"');
const positive = decimal.refine((s) => !s.startsWith('-') && /[1-9]/.test(s), 'must be greater than 0');
const nonNegative = decimal.refine((s) => !s.startsWith('-'), 'must not be negative');
const utc = z.iso.datetime({ message: 'must be a UTC ISO-8601 timestamp' });

export const planIdSchema = z.string().regex(idPattern('plan'), 'must match TPL_YYYYMMDD_HHMMSS_hash');
export const groupIdSchema = z.string().regex(idPattern('group'), 'must match EXG_YYYYMMDD_HHMMSS_hash');
export const orderIdSchema = z.string().regex(idPattern('order'), 'must match ORD_YYYYMMDD_HHMMSS_hash');
export const fillIdSchema = z.string().regex(idPattern('fill'), 'must match FIL_YYYYMMDD_HHMMSS_hash');

export const Side = z.enum(['BUY', 'SELL']);
export type Side = z.infer<typeof Side>;
export const OrderType = z.enum(['MARKET', 'LIMIT', 'STOP', 'STOP_LIMIT']);
export type OrderType = z.infer<typeof OrderType>;
export const TimeInForce = z.enum(['GTC', 'IOC', 'FOK', 'DAY']);
export type TimeInForce = z.infer<typeof TimeInForce>;
/** Why an order exists inside its plan; protection orders are STOP_LOSS / TAKE_PROFIT. */
export const OrderRole = z.enum(['ENTRY', 'EXIT', 'STOP_LOSS', 'TAKE_PROFIT']);
export type OrderRole = z.infer<typeof OrderRole>;

export const OrderStatus = z.enum([
  'PENDING', 'SUBMITTED', 'OPEN', 'PARTIALLY_FILLED', 'FILLED',
  'PENDING_CANCEL', 'PENDING_UPDATE', 'CANCELED', 'REJECTED', 'EXPIRED',
]);
export type OrderStatus = z.infer<typeof OrderStatus>;
export const ORDER_TERMINAL: readonly OrderStatus[] = ['FILLED', 'CANCELED', 'REJECTED', 'EXPIRED'];

/** seeds/EXECUTION_GROUP_DESIGN.md §4, after the refactor: no DCA. */
export const ExecutionStrategyType = z.enum(['SINGLE', 'TWAP', 'VWAP', 'ICEBERG', 'LAYERED', 'POV', 'MARKET_MAKER']);
export type ExecutionStrategyType = z.infer<typeof ExecutionStrategyType>;

export const GroupStatus = z.enum(['PENDING', 'ACTIVE', 'COMPLETED', 'CANCELLED', 'FAILED', 'PARTIAL']);
export type GroupStatus = z.infer<typeof GroupStatus>;
export const GROUP_TERMINAL: readonly GroupStatus[] = ['COMPLETED', 'CANCELLED', 'FAILED', 'PARTIAL'];

export const PlanStatus = z.enum(['PENDING', 'ACTIVE', 'CLOSED', 'CANCELLED']);
export type PlanStatus = z.infer<typeof PlanStatus>;
export const PLAN_TERMINAL: readonly PlanStatus[] = ['CLOSED', 'CANCELLED'];

export const ExitReason = z.enum(['STOPPED_OUT', 'PROFIT_TAKEN', 'CLOSED_BY_DIRECTIVE', 'MANUAL_EXIT']);
export type ExitReason = z.infer<typeof ExitReason>;

const modification = z.object({
  price: positive.nullable(),
  stopPrice: positive.nullable(),
  quantity: positive.nullable(),
});

/** Order context: everything but the status, which is the machine's state. */
export const OrderContextSchema = z.object({
  orderId: orderIdSchema,
  parentGroupId: groupIdSchema,
  parentPlanId: planIdSchema,
  clientOrderId: z.string().min(1).max(64),
  symbol: z.string().min(1),
  side: Side,
  orderType: OrderType,
  role: OrderRole,
  quantity: positive,
  price: positive.nullable(),
  stopPrice: positive.nullable(),
  timeInForce: TimeInForce,
  ocoGroup: z.string().nullable(),
  filledQuantity: nonNegative,
  averageFillPrice: positive.nullable(),
  fees: decimal,
  fillIds: z.array(fillIdSchema),
  tradeIds: z.array(z.string()),
  connectorOrderId: z.string().nullable(),
  pendingUpdate: modification.nullable(),
  reason: z.string().nullable(),
  createdAt: utc,
  updatedAt: utc,
  closedAt: utc.nullable(),
});
export type OrderContext = z.infer<typeof OrderContextSchema>;
export const OrderSchema = OrderContextSchema.extend({ status: OrderStatus });
export type Order = z.infer<typeof OrderSchema>;

/** seeds/EXECUTION_GROUP_DESIGN.md §3, plus the ids still open (derived bookkeeping). */
export const ExecutionGroupContextSchema = z.object({
  groupId: groupIdSchema,
  parentPlanId: planIdSchema,
  executionStrategy: ExecutionStrategyType,
  orderIds: z.array(orderIdSchema),
  openOrderIds: z.array(orderIdSchema),
  createdAt: utc,
  updatedAt: utc,
  targetQuantity: positive.nullable(),
  filledQuantity: nonNegative.nullable(),
  cancelledAt: utc.nullable(),
  completedAt: utc.nullable(),
  cancelRequested: z.boolean(),
  rejectedOrders: z.number().int().nonnegative(),
  reason: z.string().nullable(),
});
export type ExecutionGroupContext = z.infer<typeof ExecutionGroupContextSchema>;
export const ExecutionGroupSchema = ExecutionGroupContextSchema.extend({ status: GroupStatus });
export type ExecutionGroup = z.infer<typeof ExecutionGroupSchema>;

/** Position of a plan, maintained from its fills (signed: BUY +, SELL -). */
export const PositionSchema = z.object({
  netQuantity: decimal,
  averageEntryPrice: positive.nullable(),
  /** Entry notional of the open position; average entry = costBasis / |netQuantity|. */
  costBasis: nonNegative,
  realizedPnl: decimal,
  fees: decimal,
  boughtQuantity: nonNegative,
  soldQuantity: nonNegative,
});
export type Position = z.infer<typeof PositionSchema>;

/** Exit levels of a plan: protection orders follow them (stop-loss, take-profit, trailing). */
export const ExitPlanLevelsSchema = z.object({
  stopLossPrice: positive.nullable(),
  takeProfitPrice: positive.nullable(),
  trailingOffset: positive.nullable(),
});
export type ExitPlanLevels = z.infer<typeof ExitPlanLevelsSchema>;

export const TradePlanContextSchema = z.object({
  planId: planIdSchema,
  strategyInstanceId: z.string().min(1),
  symbol: z.string().min(1),
  direction: Side,
  comments: z.string().nullable(),
  groupIds: z.array(groupIdSchema),
  openGroupIds: z.array(groupIdSchema),
  position: PositionSchema,
  exitPlan: ExitPlanLevelsSchema.nullable(),
  /** Last mark from the position monitor. */
  mark: z.object({ price: positive, at: utc }).nullable(),
  /** A position closed outside the runtime, as reconciliation found it (not a fill of ours). */
  externalClose: z.object({ quantity: decimal, price: positive, at: utc }).nullable(),
  exitReason: ExitReason.nullable(),
  createdAt: utc,
  updatedAt: utc,
  closedAt: utc.nullable(),
});
export type TradePlanContext = z.infer<typeof TradePlanContextSchema>;
export const TradePlanSchema = TradePlanContextSchema.extend({ status: PlanStatus });
export type TradePlan = z.infer<typeof TradePlanSchema>;

export const FillSchema = z.object({
  fillId: fillIdSchema,
  parentOrderId: orderIdSchema,
  parentGroupId: groupIdSchema,
  parentPlanId: planIdSchema,
  tradeId: z.string().min(1),
  symbol: z.string().min(1),
  side: Side,
  quantity: positive,
  price: positive,
  fee: nonNegative,
  feeCurrency: z.string().nullable(),
  liquidity: z.enum(['MAKER', 'TAKER']).nullable(),
  at: utc,
});
export type Fill = z.infer<typeof FillSchema>;
