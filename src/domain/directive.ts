import { z } from 'zod';
import { DECIMAL_RE } from './decimal.js';
import { ExecutionStrategyType, groupIdSchema, OrderType, planIdSchema, Side, TimeInForce } from './schemas.js';

const positive = z
  .string({ message: 'must be a decimal string' })
  .regex(DECIMAL_RE, 'must be a decimal string such as "150.25"')
  .refine((s) => !s.startsWith('-') && /[1-9]/.test(s), 'must be greater than 0');
const utc = z.iso.datetime({ message: 'must be a UTC ISO-8601 timestamp' });

/** Why a flow started (seeds/EXECUTION_FLOW.md: Origin DTO). */
export const OriginSchema = z.object({
  type: z.enum(['TICK', 'NEWS', 'SCHEDULE', 'MANUAL']),
  id: z.string().min(1),
  at: utc,
});

/**
 * What a signal detector or risk monitor said, as context for the StrategyJournal (seeds: the
 * Context DTOs the journal writer takes from the StrategyCache). Descriptive only: `data` holds
 * indicator readings and the like, never order or fill state.
 */
export const ContextDescriptionSchema = z.object({
  id: z.string().min(1),
  /** What produced it, e.g. `rsi_oversold` or `max_exposure`. */
  type: z.string().min(1).optional(),
  description: z.string().optional(),
  data: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
});
export type ContextDescription = z.output<typeof ContextDescriptionSchema>;

/**
 * The causality chain every directive carries; the worker appends order and fill ids (the
 * journal keeps each order's chain and extends it as fills arrive). `signals` / `risks` are
 * optional descriptions of the ids in `signal_ids` / `risk_ids`: they travel with the chain
 * into the StrategyCache and are written to the journal as context, never to the ledger.
 */
export const CausalityChainSchema = z.object({
  origin: OriginSchema,
  signal_ids: z.array(z.string().min(1)).default([]),
  risk_ids: z.array(z.string().min(1)).default([]),
  strategy_directive_id: z.string().min(1).nullable().default(null),
  directive_id: z.string().min(1).nullable().default(null),
  order_ids: z.array(z.string()).default([]),
  fill_ids: z.array(z.string()).default([]),
  signals: z.array(ContextDescriptionSchema).optional(),
  risks: z.array(ContextDescriptionSchema).optional(),
});
export type CausalityChain = z.output<typeof CausalityChainSchema>;

/** Every described signal/risk must be one the chain lists (reported as violations of `path`). */
export function describedIdsProblems(c: CausalityChain): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  c.signals?.forEach((s, i) => {
    if (!c.signal_ids.includes(s.id)) out.push({ path: `signals.${i}.id`, message: `${s.id} must be listed in signal_ids` });
  });
  c.risks?.forEach((r, i) => {
    if (!c.risk_ids.includes(r.id)) out.push({ path: `risks.${i}.id`, message: `${r.id} must be listed in risk_ids` });
  });
  return out;
}

export const EntryPlanSchema = z.object({
  symbol: z.string().min(1, 'must not be empty'),
  direction: Side,
  order_type: OrderType.default('MARKET'),
  limit_price: positive.nullable().default(null),
  stop_price: positive.nullable().default(null),
  time_in_force: TimeInForce.default('GTC'),
  /**
   * The market price the planner decided on (e.g. the last close), for MARKET entries and exits:
   * the journal records it as the intended price, so slippage can be measured. Never sent to the exchange.
   */
  reference_price: positive.optional(),
});

export const SizePlanSchema = z.object({
  /** Base-asset quantity of the position (NEW_TRADE) or the new order quantity (MODIFY_ORDERS). */
  position_size: positive,
});

export const ExitPlanSchema = z.object({
  stop_loss_price: positive.nullable().default(null),
  take_profit_price: positive.nullable().default(null),
  trailing_offset: positive.nullable().default(null),
});

export const ExecutionAction = z.enum(['EXECUTE_TRADE', 'CANCEL_GROUP', 'CANCEL_ALL_IN_PLAN', 'MODIFY_ORDERS']);
export type ExecutionAction = z.infer<typeof ExecutionAction>;

export const ExecutionPlanSchema = z.object({
  action: ExecutionAction,
  execution_strategy: ExecutionStrategyType.default('SINGLE'),
  /** Strategy parameters (e.g. TWAP slices); SINGLE takes none. */
  params: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  urgency: z.enum(['LOW', 'NORMAL', 'HIGH']).default('NORMAL'),
});

export const Scope = z.enum(['NEW_TRADE', 'MODIFY_EXISTING', 'CLOSE_EXISTING']);
export type Scope = z.infer<typeof Scope>;

/** What the worker supports today; other strategies are refused by name, not ignored. */
export const SUPPORTED_STRATEGIES: readonly ExecutionStrategyType[] = ['SINGLE'];

const ALLOWED_ACTIONS: Record<Scope, readonly ExecutionAction[]> = {
  NEW_TRADE: ['EXECUTE_TRADE'],
  MODIFY_EXISTING: ['MODIFY_ORDERS', 'CANCEL_GROUP'],
  CLOSE_EXISTING: ['EXECUTE_TRADE', 'CANCEL_ALL_IN_PLAN'],
};

/**
 * ExecutionDirective (seeds/TRADE_LIFECYCLE.md §3, PLATFORM_EXECUTION_ORCHESTRATION.md).
 * Every scope rule is checked and all violations are reported together.
 */
export const ExecutionDirectiveSchema = z
  .object({
    directive_id: z.string().min(1, 'must not be empty').max(64).regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits, _ . : - only'),
    causality: CausalityChainSchema,
    scope: Scope,
    strategy_instance_id: z.string().min(1).default('default'),
    entry_plan: EntryPlanSchema.optional(),
    size_plan: SizePlanSchema.optional(),
    exit_plan: ExitPlanSchema.optional(),
    execution_plan: ExecutionPlanSchema.optional(),
    target_plan_id: planIdSchema.optional(),
    target_group_id: groupIdSchema.optional(),
    rationale: z.string().nullable().default(null),
  })
  .superRefine((d, ctx) => {
    const rule = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: path ? path.split('.') : [], message });
    if (!d.entry_plan && !d.size_plan && !d.exit_plan && !d.execution_plan) rule('', 'at least one of entry_plan, size_plan, exit_plan, execution_plan is required');
    const action = d.execution_plan?.action;
    if (d.execution_plan && !ALLOWED_ACTIONS[d.scope].includes(d.execution_plan.action)) {
      rule('execution_plan.action', `${d.execution_plan.action} is not allowed with scope ${d.scope} (allowed: ${ALLOWED_ACTIONS[d.scope].join(', ')})`);
    }
    if (d.execution_plan && !SUPPORTED_STRATEGIES.includes(d.execution_plan.execution_strategy)) {
      rule('execution_plan.execution_strategy', `${d.execution_plan.execution_strategy} is not supported yet (supported: ${SUPPORTED_STRATEGIES.join(', ')})`);
    }
    switch (d.scope) {
      case 'NEW_TRADE':
        if (!d.entry_plan) rule('entry_plan', 'is required for NEW_TRADE');
        if (!d.size_plan) rule('size_plan', 'is required for NEW_TRADE');
        if (!d.execution_plan) rule('execution_plan', 'is required for NEW_TRADE');
        if (d.target_plan_id || d.target_group_id) rule('target_plan_id', 'must be omitted for NEW_TRADE');
        break;
      case 'MODIFY_EXISTING':
        if (!d.target_plan_id && !d.target_group_id) rule('target_group_id', 'MODIFY_EXISTING requires target_group_id or target_plan_id');
        if (!d.execution_plan) rule('execution_plan', 'is required for MODIFY_EXISTING');
        if ((action === 'CANCEL_GROUP' || action === 'MODIFY_ORDERS') && !d.target_group_id) rule('target_group_id', `is required for ${action}`);
        if (action === 'MODIFY_ORDERS') {
          const e = d.entry_plan;
          const x = d.exit_plan;
          const hasChange = d.size_plan || e?.limit_price || e?.stop_price || x?.stop_loss_price || x?.take_profit_price;
          if (!hasChange) rule('entry_plan', 'MODIFY_ORDERS needs a new price (entry_plan/exit_plan) or quantity (size_plan)');
        }
        break;
      case 'CLOSE_EXISTING':
        if (!d.target_plan_id) rule('target_plan_id', 'is required for CLOSE_EXISTING');
        if (!d.execution_plan) rule('execution_plan', 'is required for CLOSE_EXISTING');
        break;
    }
    const e = d.entry_plan;
    if (e && d.scope === 'NEW_TRADE') {
      const needsLimit = e.order_type === 'LIMIT' || e.order_type === 'STOP_LIMIT';
      const needsStop = e.order_type === 'STOP' || e.order_type === 'STOP_LIMIT';
      if (needsLimit && !e.limit_price) rule('entry_plan.limit_price', `is required for ${e.order_type} entries`);
      if (!needsLimit && e.limit_price) rule('entry_plan.limit_price', `must be omitted for ${e.order_type} entries`);
      if (needsStop && !e.stop_price) rule('entry_plan.stop_price', `is required for ${e.order_type} entries`);
      if (!needsStop && e.stop_price) rule('entry_plan.stop_price', `must be omitted for ${e.order_type} entries`);
    }
    if (d.causality.directive_id !== null && d.causality.directive_id !== d.directive_id) {
      rule('causality.directive_id', 'must equal directive_id when given');
    }
    for (const p of describedIdsProblems(d.causality)) rule(`causality.${p.path}`, p.message);
  });

export type ExecutionDirective = z.output<typeof ExecutionDirectiveSchema>;
export type ExecutionDirectiveInput = z.input<typeof ExecutionDirectiveSchema>;
