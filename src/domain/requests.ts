import { z } from 'zod';
import { DECIMAL_RE } from './decimal.js';
import { ExecutionStrategyType, ExitPlanLevelsSchema, groupIdSchema, OrderRole, OrderType, planIdSchema, Side, TimeInForce } from './schemas.js';

const positive = z
  .string({ message: 'must be a decimal string' })
  .regex(DECIMAL_RE, 'must be a decimal string such as "150.25"')
  .refine((s) => !s.startsWith('-') && /[1-9]/.test(s), 'must be greater than 0');
const utc = z.iso.datetime({ message: 'must be a UTC ISO-8601 timestamp' });

export const OrderSpecSchema = z
  .object({
    side: Side,
    orderType: OrderType,
    role: OrderRole.default('ENTRY'),
    quantity: positive,
    price: positive.nullable().default(null),
    stopPrice: positive.nullable().default(null),
    timeInForce: TimeInForce.default('GTC'),
    /** Links protection orders one-cancels-other (see ConnectorCapabilities.oco). */
    ocoGroup: z.string().min(1).nullable().default(null),
    clientOrderId: z.string().min(1).max(36).regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only').optional(),
  })
  .superRefine((o, ctx) => {
    const needsPrice = o.orderType === 'LIMIT' || o.orderType === 'STOP_LIMIT';
    const needsStop = o.orderType === 'STOP' || o.orderType === 'STOP_LIMIT';
    if (needsPrice && o.price === null) ctx.addIssue({ code: 'custom', path: ['price'], message: `is required for ${o.orderType} orders` });
    if (!needsPrice && o.price !== null) ctx.addIssue({ code: 'custom', path: ['price'], message: `must be omitted for ${o.orderType} orders` });
    if (needsStop && o.stopPrice === null) ctx.addIssue({ code: 'custom', path: ['stopPrice'], message: `is required for ${o.orderType} orders` });
    if (!needsStop && o.stopPrice !== null) ctx.addIssue({ code: 'custom', path: ['stopPrice'], message: `must be omitted for ${o.orderType} orders` });
  });
export type OrderSpec = z.input<typeof OrderSpecSchema>;

/** `registerOrder`: the order, and its group and plan either by id or as specs to create lazily. */
export const RegisterOrderSchema = z.object({
  plan: z.union([
    z.object({ planId: planIdSchema }).strict(),
    z.object({
      strategyInstanceId: z.string().min(1, 'must not be empty'),
      symbol: z.string().min(1, 'must not be empty'),
      direction: Side,
      comments: z.string().nullable().default(null),
      exitPlan: ExitPlanLevelsSchema.nullable().default(null),
    }).strict(),
  ]).optional(),
  group: z.union([
    z.object({ groupId: groupIdSchema }).strict(),
    z.object({
      executionStrategy: ExecutionStrategyType.default('SINGLE'),
      targetQuantity: positive.nullable().default(null),
    }).strict(),
  ]).default({ executionStrategy: 'SINGLE', targetQuantity: null }),
  order: OrderSpecSchema,
  /** Submit to the exchange in the same turn (default), or leave PENDING. */
  submit: z.boolean().default(true),
});
export type RegisterOrderRequest = z.input<typeof RegisterOrderSchema>;

const reason = z.string().nullable().default(null);

/** Order events as they arrive from the worker or the exchange; `at` defaults to the clock. */
export const OrderEventInputSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('SUBMIT'), at: utc.optional() }),
  z.object({ type: z.literal('ACCEPTED'), at: utc.optional(), connectorOrderId: z.string().nullable().default(null) }),
  z.object({
    type: z.literal('FILL'),
    at: utc.optional(),
    fillId: z.string().optional(),
    tradeId: z.string().min(1),
    quantity: positive,
    price: positive,
    fee: z.string().regex(DECIMAL_RE, 'must be a decimal string').refine((s) => !s.startsWith('-'), 'must not be negative').default('0'),
    feeCurrency: z.string().nullable().default(null),
    liquidity: z.enum(['MAKER', 'TAKER']).nullable().default(null),
  }),
  z.object({ type: z.literal('CANCEL'), at: utc.optional(), reason }),
  z.object({ type: z.literal('CANCELED'), at: utc.optional(), reason }),
  z.object({ type: z.literal('CANCEL_REJECTED'), at: utc.optional(), reason: z.string().default('cancel rejected') }),
  z.object({
    type: z.literal('MODIFY'),
    at: utc.optional(),
    price: positive.nullable().default(null),
    stopPrice: positive.nullable().default(null),
    quantity: positive.nullable().default(null),
  }),
  z.object({ type: z.literal('MODIFIED'), at: utc.optional() }),
  z.object({
    type: z.literal('RESIZED'),
    at: utc.optional(),
    quantity: z.string().regex(DECIMAL_RE, 'must be a decimal string').refine((s) => !s.startsWith('-'), 'must not be negative'),
  }),
  z.object({ type: z.literal('MODIFY_REJECTED'), at: utc.optional(), reason: z.string().default('modify rejected') }),
  z.object({ type: z.literal('REJECTED'), at: utc.optional(), reason: z.string().default('rejected') }),
  z.object({ type: z.literal('EXPIRED'), at: utc.optional() }),
]);
export type OrderEventInput = z.input<typeof OrderEventInputSchema>;
