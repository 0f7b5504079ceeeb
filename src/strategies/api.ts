/**
 * The strategy API (seeds/TRADE_LIFECYCLE.md §2-5).
 *
 * A bar closes. The **StrategyPlanner** reads market data and the ledger (read-only) and decides
 * WHAT to do: zero or more StrategyDirectives, each with a scope (NEW_TRADE, MODIFY_EXISTING,
 * CLOSE_EXISTING), the plan or group it targets, the signals that caused it and hints for the
 * specialists. Four **TradePlanners** then decide HOW, each producing one part of the
 * ExecutionDirective: EntryPlanner (entry_plan), SizePlanner (size_plan), ExitPlanner
 * (exit_plan), ExecutionPlanner (execution_plan). Their base class routes by scope to
 * `onNewTrade` (required), `onModifyTrade` and `onCloseTrade` (defaults as the seed says).
 * The **PlanningPipeline** (the seeds' PlanningAggregator) assembles the ExecutionDirective with
 * its causality chain and validates it; the runtime's ExecutionWorker executes it.
 *
 * Planners never write: all they get is a `LedgerView` (frozen read-only views). Writes happen
 * only in the ExecutionWorker, from directives.
 */
import type { z } from 'zod';
import type { LedgerView } from '../../actors/ledger.js';
import type { DirectiveOutcome } from '../../actors/worker.js';
import { D, str } from '../domain/decimal.js';
import {
  EntryPlanSchema,
  ExecutionDirectiveSchema,
  ExecutionPlanSchema,
  ExitPlanSchema,
  SizePlanSchema,
  type ExecutionDirective,
  type Scope,
} from '../domain/directive.js';
import { ValidationError } from '../domain/errors.js';
import type { Side } from '../domain/schemas.js';
import type { OhlcvBar } from '../data/ohlcv.js';

export type EntryPlan = z.input<typeof EntryPlanSchema>;
export type SizePlan = z.input<typeof SizePlanSchema>;
export type ExitPlan = z.input<typeof ExitPlanSchema>;
export type ExecutionPlan = z.input<typeof ExecutionPlanSchema>;
export type MaybePromise<T> = T | Promise<T>;

/** JSON-serializable values (strategy state must survive a checkpoint). */
export type Json = string | number | boolean | null | readonly Json[] | { readonly [key: string]: Json };

/** What a strategy knows about its account when a bar closes (decimal strings). */
export interface AccountView {
  /** Starting capital plus realized and unrealized P&L net of fees, marked at this bar's close. */
  readonly equity: string;
  readonly initialCapital: string;
  readonly currency: string;
}

/** Everything a planner may look at when a bar has closed. */
export interface MarketContext {
  readonly symbol: string;
  /** The bar that just closed. */
  readonly bar: OhlcvBar;
  /** Its index in the series (0-based). */
  readonly index: number;
  /** Epoch ms at which decisions on this bar are stamped: the end of the bar. */
  readonly decisionAt: number;
  /** Read-only ledger views. */
  readonly ledger: LedgerView;
  readonly account: AccountView;
}

/** Hints a StrategyPlanner passes to its TradePlanners: facts, not orders. */
export type Hints = Readonly<Record<string, string | number | boolean | null>>;

/** The StrategyPlanner's command (seeds: StrategyDirective): WHAT to do, for the planners to work out HOW. */
export interface StrategyDirective<H extends Hints = Hints> {
  /** Unique and deterministic (the same bar gives the same id); becomes the ExecutionDirective's id. */
  readonly id: string;
  readonly scope: Scope;
  readonly symbol: string;
  /** NEW_TRADE: the side of the new position. */
  readonly direction?: Side;
  /** MODIFY_EXISTING / CLOSE_EXISTING: the plan. */
  readonly targetPlanId?: string;
  /** MODIFY_EXISTING: the group whose orders change. */
  readonly targetGroupId?: string;
  /** Ids of the signals that led here (causality). */
  readonly signalIds: readonly string[];
  readonly rationale: string;
  readonly hints: H;
}

export interface PlanningContext<H extends Hints = Hints> {
  readonly market: MarketContext;
  readonly ledger: LedgerView;
  readonly directive: StrategyDirective<H>;
}

/**
 * Base of the four TradePlanners: routes a StrategyDirective by scope. Subclasses implement
 * `onNewTrade`; `onModifyTrade` defaults to "no change" (null) and `onCloseTrade` to what each
 * specialist does when closing (see the subclasses). Returning null means "nothing from me".
 */
export abstract class TradePlanner<P, H extends Hints = Hints> {
  abstract readonly name: string;

  plan(ctx: PlanningContext<H>): MaybePromise<P | null> {
    switch (ctx.directive.scope) {
      case 'NEW_TRADE':
        return this.onNewTrade(ctx);
      case 'MODIFY_EXISTING':
        return this.onModifyTrade(ctx);
      case 'CLOSE_EXISTING':
        return this.onCloseTrade(ctx);
    }
  }

  protected abstract onNewTrade(ctx: PlanningContext<H>): MaybePromise<P | null>;

  protected onModifyTrade(_ctx: PlanningContext<H>): MaybePromise<P | null> {
    return null;
  }

  protected onCloseTrade(_ctx: PlanningContext<H>): MaybePromise<P | null> {
    return null;
  }
}

function opposite(side: Side): Side {
  return side === 'BUY' ? 'SELL' : 'BUY';
}

/** entry_plan. Closing: a MARKET order against the plan's direction (read from the ledger). */
export abstract class EntryPlanner<H extends Hints = Hints> extends TradePlanner<EntryPlan, H> {
  protected override async onCloseTrade(ctx: PlanningContext<H>): Promise<EntryPlan | null> {
    const planId = ctx.directive.targetPlanId;
    const plan = planId === undefined ? undefined : await ctx.ledger.plan(planId);
    if (!plan) return null;
    return { symbol: plan.symbol, direction: opposite(plan.direction), order_type: 'MARKET' };
  }
}

/** size_plan. Closing: the full open size of the plan (read from the ledger). */
export abstract class SizePlanner<H extends Hints = Hints> extends TradePlanner<SizePlan, H> {
  protected override async onCloseTrade(ctx: PlanningContext<H>): Promise<SizePlan | null> {
    const planId = ctx.directive.targetPlanId;
    const position = planId === undefined ? undefined : await ctx.ledger.position(planId);
    if (!position) return null;
    const size = new D(position.netQuantity).abs();
    return size.isZero() ? null : { position_size: str(size) };
  }
}

/** exit_plan. Closing: none (the close cancels the plan's open stop-loss / take-profit orders). */
export abstract class ExitPlanner<H extends Hints = Hints> extends TradePlanner<ExitPlan, H> {}

/**
 * execution_plan. Modifying: MODIFY_ORDERS, normal urgency. Closing: EXECUTE_TRADE (cancel
 * what is open, then a market order for the rest), high urgency.
 */
export abstract class ExecutionPlanner<H extends Hints = Hints> extends TradePlanner<ExecutionPlan, H> {
  protected override onModifyTrade(_ctx: PlanningContext<H>): MaybePromise<ExecutionPlan | null> {
    return { action: 'MODIFY_ORDERS', execution_strategy: 'SINGLE', urgency: 'NORMAL' };
  }

  protected override onCloseTrade(_ctx: PlanningContext<H>): MaybePromise<ExecutionPlan | null> {
    return { action: 'EXECUTE_TRADE', execution_strategy: 'SINGLE', urgency: 'HIGH' };
  }
}

/** Decides WHAT to do when a bar closes. Stateful; its state must round-trip through JSON. */
export interface StrategyPlanner<H extends Hints = Hints> {
  onBar(market: MarketContext): MaybePromise<readonly StrategyDirective<H>[]>;
  /**
   * What became of a directive: the ExecutionDirective the pipeline built (null when a planner
   * declined) and the runtime's outcome (or the error that refused it).
   */
  onOutcome?(sd: StrategyDirective<H>, result: DirectiveResult): void;
  /** State for a checkpoint (JSON). */
  saveState(): Json;
  /** Continues from a state `saveState` returned. */
  restoreState(state: Json): void;
}

export type DirectiveResult =
  | { readonly kind: 'executed'; readonly directive: ExecutionDirective; readonly outcome: DirectiveOutcome }
  | { readonly kind: 'declined'; readonly reason: string }
  | { readonly kind: 'refused'; readonly directive: ExecutionDirective; readonly error: Error };

/** A complete strategy: one StrategyPlanner and its four TradePlanners. */
export interface Strategy<H extends Hints = Hints> {
  /** Registry name, e.g. `ma-crossover`. */
  readonly name: string;
  /** strategy_instance_id of its plans. */
  readonly instanceId: string;
  /** One line for reports, with parameters. */
  readonly description: string;
  readonly planner: StrategyPlanner<H>;
  readonly entry: EntryPlanner<H>;
  readonly size: SizePlanner<H>;
  readonly exit: ExitPlanner<H>;
  readonly execution: ExecutionPlanner<H>;
}

/** The pipeline's answer for one StrategyDirective. */
export type PlannedDirective = { readonly kind: 'directive'; readonly directive: ExecutionDirective } | { readonly kind: 'declined'; readonly reason: string };

/**
 * PlanningAggregator: runs the four TradePlanners on a StrategyDirective and assembles the
 * ExecutionDirective with its causality chain. A NEW_TRADE without entry or size, or any
 * directive without an execution plan, is declined (e.g. a size planner that found the trade
 * too small). A directive that fails ExecutionDirectiveSchema is a planner bug: ValidationError.
 */
export class PlanningPipeline<H extends Hints = Hints> {
  constructor(private readonly strategy: Strategy<H>) {}

  async plan(sd: StrategyDirective<H>, market: MarketContext): Promise<PlannedDirective> {
    const ctx: PlanningContext<H> = { market, ledger: market.ledger, directive: sd };
    const s = this.strategy;
    const [entry, size, exit, execution] = await Promise.all([s.entry.plan(ctx), s.size.plan(ctx), s.exit.plan(ctx), s.execution.plan(ctx)]);
    if (execution === null) return { kind: 'declined', reason: `${s.execution.name} gave no execution plan` };
    if (sd.scope === 'NEW_TRADE') {
      if (entry === null) return { kind: 'declined', reason: `${s.entry.name} gave no entry plan` };
      if (size === null) return { kind: 'declined', reason: `${s.size.name} gave no size (position too small for the risk budget)` };
    }
    if (sd.scope === 'MODIFY_EXISTING' && execution.action === 'MODIFY_ORDERS' && exit === null && size === null && entry === null) {
      return { kind: 'declined', reason: 'nothing to modify' };
    }
    const at = new Date(market.decisionAt).toISOString();
    const input = {
      directive_id: sd.id,
      causality: {
        origin: { type: 'TICK', id: `${market.symbol}@${new Date(market.bar.at).toISOString()}`, at },
        signal_ids: [...sd.signalIds],
        strategy_directive_id: sd.id,
        directive_id: sd.id,
      },
      scope: sd.scope,
      strategy_instance_id: s.instanceId,
      ...(entry !== null ? { entry_plan: entry } : {}),
      ...(size !== null ? { size_plan: size } : {}),
      ...(exit !== null ? { exit_plan: exit } : {}),
      execution_plan: execution,
      ...(sd.targetPlanId !== undefined ? { target_plan_id: sd.targetPlanId } : {}),
      ...(sd.targetGroupId !== undefined ? { target_group_id: sd.targetGroupId } : {}),
      rationale: sd.rationale,
    };
    const parsed = ExecutionDirectiveSchema.safeParse(input);
    if (!parsed.success) throw ValidationError.fromZod(`ExecutionDirective from strategy ${s.name}`, parsed.error);
    return { kind: 'directive', directive: parsed.data };
  }
}

/** A directive id from parts: letters, digits and `_ . : -` only, at most 64 characters. */
export function directiveId(...parts: readonly (string | number)[]): string {
  const id = parts.map((p) => String(p).replace(/[^A-Za-z0-9_.:-]/g, '_')).join('-');
  return id.length <= 64 ? id : `${id.slice(0, 40)}~${id.slice(-23)}`;
}
