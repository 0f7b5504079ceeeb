import { z } from 'zod';
import { decodeJson, pad, prefixEnd, type Store, type StoreOp } from '../storage/store.js';
import {
  CausalityChainSchema,
  ContextDescriptionSchema,
  describedIdsProblems,
  type CausalityChain,
  type ContextDescription,
  type ExecutionAction,
  type ExecutionDirective,
  type Scope,
} from '../src/domain/directive.js';
import { parseOrThrow } from '../src/domain/errors.js';
import type { OrderRole, OrderType } from '../src/domain/schemas.js';
import type { Turn } from './host.js';
import type { StrategyLedger } from './ledger.js';
import { chainIds, withFill, withOrder, type ChainIds, type FlowContext, type StrategyCache } from './strategy-cache.js';

/*
 * StrategyJournal: causality, never trade state (seeds/EXECUTION_FLOW.md, "SRP Separation").
 *
 * The line between the two stores:
 * - The ledger (areas live, archive, log, fill, index, outbox, directive) holds REALITY: what
 *   orders and fills are and were — statuses, quantities, prices, fees, times, reasons.
 * - The journal (area `journal`) holds CAUSALITY: why each order exists and what each fill
 *   answers — origin, signal and risk ids with their descriptions, the directive and its intent
 *   (its plans verbatim: intended limit/stop/reference prices and size are decisions, not
 *   reality), and the ids that join it to the ledger (order_id, fill_id, plan_id, group_id).
 *   No journal entry has an order's or a fill's status, quantity, price, fee or reason: a story
 *   reads those from the ledger by id. An entry's `kind` names the event it explains (a fill,
 *   an order that ended rejected/canceled/expired), never a state to be kept in step.
 *
 * Entries are written by a turn observer into the same LevelDB batch as the ledger change they
 * explain, so after a crash both or neither are on disk.
 *
 * Key layout of the `journal` area (index keys have empty values and end in the entry's seq):
 *   entry!<seq:12>                          the entry (JSON), chronological
 *   order!<orderId>!<seq:12>                entries about an order (recorded, fills, requests, end)
 *   plan!<planId>!<seq:12>                  entries about a plan (its directives and orders)
 *   directive!<directiveId>!<seq:12>        entries a directive caused (and its rejections)
 *   origin!<TYPE>!<originId>!<seq:12>       directive and rejection entries by origin
 *   signal!<signalId>!<seq:12>              directive and rejection entries by signal
 *   risk!<riskId>!<seq:12>                  directive and rejection entries by risk
 *   rejected!<seq:12>                       rejected opportunities
 *   head!<orderId | planId>                 current chain of a live order or plan (restart point)
 *   seq                                     last entry seq
 * Free-form ids (origin, signal, risk, strategy directive) are escaped (`%` and `!`).
 */

export type Attribution = 'DIRECTIVE' | 'PLAN' | 'UNATTRIBUTED';
export type IntentSource =
  | 'entry_plan.limit_price'
  | 'entry_plan.stop_price'
  | 'entry_plan.reference_price'
  | 'exit_plan.stop_loss_price'
  | 'exit_plan.take_profit_price';

/** The directive's plans as decided (intent is causality); verbatim from the directive. */
export interface DirectiveIntent {
  readonly strategy_instance_id: string;
  readonly entry_plan: ExecutionDirective['entry_plan'] | null;
  readonly size_plan: ExecutionDirective['size_plan'] | null;
  readonly exit_plan: ExecutionDirective['exit_plan'] | null;
  readonly execution_plan: ExecutionDirective['execution_plan'] | null;
  readonly target_plan_id: string | null;
  readonly target_group_id: string | null;
  readonly rationale: string | null;
}

interface Base {
  readonly seq: number;
  readonly at: string;
}

/** One turn of a directive: what it decided and which orders it created or asked to change. */
export interface DirectiveEntry extends Base {
  readonly kind: 'DIRECTIVE';
  readonly directive_id: string;
  readonly scope: Scope;
  readonly action: ExecutionAction | null;
  readonly plan_id: string | null;
  readonly created_order_ids: readonly string[];
  readonly affected_order_ids: readonly string[];
  /** The flow's chain after this turn (its orders appended). */
  readonly causality: ChainIds;
  readonly context: FlowContext | null;
  readonly intent: DirectiveIntent;
}

/** An order came to exist (sync flow): why. */
export interface OrderRecordedEntry extends Base {
  readonly kind: 'ORDER_RECORDED';
  readonly order_id: string;
  readonly plan_id: string;
  readonly group_id: string;
  readonly directive_id: string | null;
  /** DIRECTIVE: created by a directive; PLAN: by the runtime for a plan (protection), inheriting its chain. */
  readonly cause: Attribution;
  readonly causality: ChainIds | null;
  /** What the directive meant the order to trade at (intent), and which field said so. */
  readonly intended_price: string | null;
  readonly intended_price_source: IntentSource | null;
}

/** A fill arrived (async flow): the order's chain with the fill appended. */
export interface FillEntry extends Base {
  readonly kind: 'FILL';
  readonly order_id: string;
  readonly fill_id: string;
  readonly plan_id: string;
  readonly directive_id: string | null;
  readonly cause: Attribution;
  readonly causality: ChainIds | null;
}

/** An order ended without (completely) filling (async flow): the failed attempt's story. */
export interface OrderEndedEntry extends Base {
  readonly kind: 'ORDER_REJECTED' | 'ORDER_CANCELED' | 'ORDER_EXPIRED';
  readonly order_id: string;
  readonly plan_id: string;
  readonly directive_id: string | null;
  readonly cause: Attribution;
  readonly causality: ChainIds | null;
}

/** A directive asked to cancel or change an existing order: the request's causality. */
export interface OrderRequestEntry extends Base {
  readonly kind: 'CANCEL_REQUESTED' | 'MODIFY_REQUESTED';
  readonly order_id: string;
  readonly plan_id: string;
  readonly directive_id: string;
  readonly causality: ChainIds;
}

export interface RejectionContext {
  readonly signals: readonly ContextDescription[];
  readonly risks: readonly ContextDescription[];
  readonly notes: string | null;
  readonly data: Readonly<Record<string, string | number | boolean | null>> | null;
}

/** An opportunity a strategy rejected (e.g. a risk veto): nothing reached the ledger. */
export interface OpportunityRejectedEntry extends Base {
  readonly kind: 'OPPORTUNITY_REJECTED';
  readonly causality: ChainIds;
  readonly reasons: readonly string[];
  readonly context: RejectionContext;
}

export type JournalEntry = DirectiveEntry | OrderRecordedEntry | FillEntry | OrderEndedEntry | OrderRequestEntry | OpportunityRejectedEntry;
export type JournalEntryKind = JournalEntry['kind'];
type Unsequenced<E> = E extends JournalEntry ? Omit<E, 'seq' | 'at'> : never;

/** `runtime.recordRejection(...)`: an opportunity rejected before any directive executed. */
export const OpportunityRejectionSchema = z
  .object({
    causality: CausalityChainSchema,
    reasons: z.array(z.string().min(1, 'must not be empty')).min(1, 'at least one reason is required'),
    context: z
      .object({
        signals: z.array(ContextDescriptionSchema).optional(),
        risks: z.array(ContextDescriptionSchema).optional(),
        notes: z.string().optional(),
        data: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
      })
      .strict()
      .optional(),
  })
  .superRefine((r, ctx) => {
    for (const p of describedIdsProblems(r.causality)) ctx.addIssue({ code: 'custom', path: ['causality', ...p.path.split('.')], message: p.message });
  });
export type OpportunityRejectionInput = z.input<typeof OpportunityRejectionSchema>;

// ---- keys ---------------------------------------------------------------------------------------

/** Escapes a free-form id for use inside a key (`!` separates key parts). */
export function keyPart(id: string): string {
  return id.replace(/%/g, '%25').replace(/!/g, '%21');
}

export const JournalKeys = {
  entry: (seq: number) => `entry!${pad(seq, 12)}`,
  seqOf: (indexKey: string) => Number(indexKey.slice(indexKey.lastIndexOf('!') + 1)),
  order: (orderId: string) => `order!${orderId}!`,
  plan: (planId: string) => `plan!${planId}!`,
  directive: (directiveId: string) => `directive!${keyPart(directiveId)}!`,
  origin: (type: string, id?: string) => (id === undefined ? `origin!${type}!` : `origin!${type}!${keyPart(id)}!`),
  signal: (signalId: string) => `signal!${keyPart(signalId)}!`,
  risk: (riskId: string) => `risk!${keyPart(riskId)}!`,
  rejected: () => 'rejected!',
  head: (actorId: string) => `head!${actorId}`,
  seq: 'seq',
} as const;

function indexKeysOf(e: JournalEntry): string[] {
  const s = pad(e.seq, 12);
  const keys: string[] = [];
  if ('order_id' in e) keys.push(JournalKeys.order(e.order_id) + s);
  if ('plan_id' in e && e.plan_id) keys.push(JournalKeys.plan(e.plan_id) + s);
  const directiveId = 'directive_id' in e ? e.directive_id : e.causality.directive_id;
  if (directiveId) keys.push(JournalKeys.directive(directiveId) + s);
  if (e.kind === 'DIRECTIVE' || e.kind === 'OPPORTUNITY_REJECTED') {
    const c = e.causality;
    keys.push(JournalKeys.origin(c.origin.type, c.origin.id) + s);
    for (const id of new Set(c.signal_ids)) keys.push(JournalKeys.signal(id) + s);
    for (const id of new Set(c.risk_ids)) keys.push(JournalKeys.risk(id) + s);
  }
  if (e.kind === 'OPPORTUNITY_REJECTED') keys.push(JournalKeys.rejected() + s);
  return keys;
}

export function decodeEntry(key: string, raw: string): JournalEntry {
  return decodeJson('journal', key, raw) as JournalEntry;
}

// ---- heads --------------------------------------------------------------------------------------

/** Where a live order's or plan's story stands: the chain the next entry continues. */
export interface Head {
  readonly causality: ChainIds | null;
  readonly directive_id: string | null;
  readonly cause: Attribution;
  readonly intended_price?: string | null;
  readonly intended_price_source?: IntentSource | null;
}

interface OrderInit {
  readonly parentPlanId: string;
  readonly parentGroupId: string;
  readonly orderType: OrderType;
  readonly role: OrderRole;
}

const ENDED = new Map<string, OrderEndedEntry['kind']>([
  ['CANCELED', 'ORDER_CANCELED'],
  ['REJECTED', 'ORDER_REJECTED'],
  ['EXPIRED', 'ORDER_EXPIRED'],
]);

function intentOf(d: ExecutionDirective): DirectiveIntent {
  return {
    strategy_instance_id: d.strategy_instance_id,
    entry_plan: d.entry_plan ?? null,
    size_plan: d.size_plan ?? null,
    exit_plan: d.exit_plan ?? null,
    execution_plan: d.execution_plan ?? null,
    target_plan_id: d.target_plan_id ?? null,
    target_group_id: d.target_group_id ?? null,
    rationale: d.rationale,
  };
}

/**
 * The price the directive meant an order of this role and type to trade at: LIMIT -> limit
 * price; STOP and STOP_LIMIT -> stop (trigger) price; MARKET -> the reference price the
 * directive carried, if any; protection -> the exit plan's level.
 */
export function intendedPrice(d: ExecutionDirective, o: { orderType: OrderType; role: OrderRole }): { price: string; source: IntentSource } | null {
  const e = d.entry_plan;
  const x = d.exit_plan;
  switch (o.role) {
    case 'ENTRY':
    case 'EXIT':
      if (!e) return null;
      if (o.orderType === 'LIMIT') return e.limit_price ? { price: e.limit_price, source: 'entry_plan.limit_price' } : null;
      if (o.orderType === 'STOP' || o.orderType === 'STOP_LIMIT') return e.stop_price ? { price: e.stop_price, source: 'entry_plan.stop_price' } : null;
      return e.reference_price ? { price: e.reference_price, source: 'entry_plan.reference_price' } : null;
    case 'STOP_LOSS':
      return x?.stop_loss_price ? { price: x.stop_loss_price, source: 'exit_plan.stop_loss_price' } : null;
    case 'TAKE_PROFIT':
      return x?.take_profit_price ? { price: x.take_profit_price, source: 'exit_plan.take_profit_price' } : null;
  }
}

function descriptions(c: CausalityChain): FlowContext | null {
  const signals = c.signals ?? [];
  const risks = c.risks ?? [];
  return signals.length === 0 && risks.length === 0 ? null : { signals, risks };
}

export type JournalFailurePolicy = 'continue' | 'alert_admin' | 'fail_execution';

/** What one turn adds to the journal, staged until the whole turn is worked out. */
interface Staged {
  readonly entries: Unsequenced<JournalEntry>[];
  readonly heads: Map<string, Head | null>;
  readonly after: (() => void)[];
}

/**
 * StrategyJournalWriter. Observes every turn of the actor host and, in the same batch, writes
 * the causality of what the turn did:
 * - sync flow (a directive's turn): a DIRECTIVE entry, an ORDER_RECORDED entry per order created
 *   (chain from the StrategyCache, else the directive; the order id appended), a
 *   CANCEL/MODIFY_REQUESTED entry per existing order the directive asked to change;
 * - async flow (replies, reconciliation): a FILL entry per fill (the order's chain, taken from
 *   the journal's own head of that order, with the fill id appended), and an ORDER_REJECTED /
 *   CANCELED / EXPIRED entry when an order ends so;
 * - orders the runtime creates for a plan (protection) inherit the plan's chain (cause PLAN).
 * Opportunities rejected before any directive are written by `recordRejection`, in a turn of
 * their own. Failures follow `error_handling.on_journal_failure`: `fail_execution` fails the turn
 * (nothing is committed), the others let it commit without its journal entries.
 */
export class JournalWriter {
  private seq = 0;
  /** Heads of live orders and plans (the journal's own memory; restored by `load`). */
  private readonly heads = new Map<string, Head>();
  failures = 0;
  lastFailure: unknown;

  constructor(
    private readonly ledger: StrategyLedger,
    private readonly cache: StrategyCache | null,
    private readonly onFailure: JournalFailurePolicy = 'continue',
  ) {
    ledger.host.observe((turn) => this.observe(turn));
  }

  private get store(): Store {
    return this.ledger.store;
  }

  /** Restores the sequence and the heads of live orders and plans. Call before any turn runs. */
  async load(): Promise<void> {
    const raw = await this.store.getRaw('journal', JournalKeys.seq);
    this.seq = raw === undefined ? 0 : Number(raw);
    const ids = [...this.ledger.host.liveIds('order'), ...this.ledger.host.liveIds('plan')];
    const raws = await this.store.getManyRaw('journal', ids.map(JournalKeys.head));
    raws.forEach((r, i) => {
      if (r === undefined) return;
      try {
        this.heads.set(ids[i]!, decodeJson('journal', JournalKeys.head(ids[i]!), r) as Head);
      } catch (error) {
        // The journal is not a source of truth for trading: the runtime opens, the order's next entries are unattributed.
        this.failures++;
        this.lastFailure = error;
      }
    });
  }

  /** The chain of a directive as its latest journal entry has it, with its descriptions (for a close resumed after a restart). */
  async directiveCausality(directiveId: string): Promise<CausalityChain | undefined> {
    try {
      return await this.latestDirectiveChain(directiveId);
    } catch (error) {
      this.failures++;
      this.lastFailure = error;
      return undefined;
    }
  }

  private async latestDirectiveChain(directiveId: string): Promise<CausalityChain | undefined> {
    await this.ledger.host.settled();
    const prefix = JournalKeys.directive(directiveId);
    for await (const [key] of this.store.entries('journal', { gte: prefix, lt: prefixEnd(prefix), reverse: true })) {
      const raw = await this.store.getRaw('journal', JournalKeys.entry(JournalKeys.seqOf(key)));
      if (raw === undefined) continue;
      const e = decodeEntry(key, raw);
      if (e.kind !== 'DIRECTIVE') continue;
      return {
        ...e.causality,
        origin: { ...e.causality.origin },
        signal_ids: [...e.causality.signal_ids],
        risk_ids: [...e.causality.risk_ids],
        order_ids: [...e.causality.order_ids],
        fill_ids: [...e.causality.fill_ids],
        ...(e.context && e.context.signals.length > 0 ? { signals: [...e.context.signals] } : {}),
        ...(e.context && e.context.risks.length > 0 ? { risks: [...e.context.risks] } : {}),
      };
    }
    return undefined;
  }

  /**
   * Records a rejected opportunity (a strategy's risk veto, a declined signal) in a turn of its
   * own. Throws ValidationError on malformed input; nothing is written then.
   */
  recordRejection(input: unknown): Promise<OpportunityRejectedEntry> {
    const r = parseOrThrow('opportunity rejection', OpportunityRejectionSchema, input);
    const c = r.context;
    const entry: Unsequenced<OpportunityRejectedEntry> = {
      kind: 'OPPORTUNITY_REJECTED',
      causality: chainIds(r.causality),
      reasons: r.reasons,
      context: {
        signals: [...(r.causality.signals ?? []), ...(c?.signals ?? [])],
        risks: [...(r.causality.risks ?? []), ...(c?.risks ?? [])],
        notes: c?.notes ?? null,
        data: c?.data ?? null,
      },
    };
    return this.ledger.host.run(this.ledger.now(), (turn) => {
      const [written] = this.apply(turn, { entries: [entry], heads: new Map(), after: [] });
      return written as OpportunityRejectedEntry;
    });
  }

  private observe(turn: Turn): void {
    try {
      const staged = this.build(turn);
      if (staged) this.apply(turn, staged);
    } catch (error) {
      this.failures++;
      this.lastFailure = error;
      if (this.onFailure === 'fail_execution') throw error;
      if (this.onFailure === 'alert_admin') process.emitWarning(`journal writer failed; the turn commits without its entries: ${(error as Error).message}`);
    }
  }

  private head(staged: Staged, id: string): Head | undefined {
    const s = staged.heads.get(id);
    if (s === null) return undefined;
    return s ?? this.heads.get(id);
  }

  /** Works out a turn's entries and head changes without touching anything. */
  private build(turn: Turn): Staged | null {
    const d = turn.meta.directive as ExecutionDirective | undefined;
    if (!d && turn.fills.length === 0 && !turn.logs.some((l) => l.id.startsWith('ORD_') && (l.rec.event.type === 'xstate.init' || ENDED.has(l.rec.to)))) {
      return null;
    }
    const staged: Staged = { entries: [], heads: new Map(), after: [] };
    const cached = d ? this.cache?.snapshot(d.directive_id) : undefined;
    let flow: ChainIds | null = d ? (cached?.causality ?? chainIds(d.causality, d.directive_id)) : null;
    const created = new Set<string>();
    const recorded: Unsequenced<OrderRecordedEntry>[] = [];
    const requests: { orderId: string; kind: OrderRequestEntry['kind'] }[] = [];
    const ended: { orderId: string; kind: OrderEndedEntry['kind'] }[] = [];

    // Orders a directive turn cancels, by group and role: a replacement created beside one
    // inherits its intended price when the directive names none.
    const cancelledBy = new Map<string, string>();
    if (d) {
      for (const { id, rec } of turn.logs) {
        if (!id.startsWith('ORD_') || rec.event.type !== 'CANCEL') continue;
        const c = turn.snapshot(id)?.context as { parentGroupId?: string; role?: string } | undefined;
        if (c?.parentGroupId && c.role) cancelledBy.set(`${c.parentGroupId}!${c.role}`, id);
      }
    }

    for (const { id, rec } of turn.logs) {
      if (!id.startsWith('ORD_')) continue;
      const type = rec.event.type;
      if (type === 'xstate.init') {
        const init = rec.event.input as unknown as OrderInit;
        created.add(id);
        let head: Head;
        if (d && flow) {
          flow = withOrder(flow, id);
          const own = intendedPrice(d, init);
          const replaced = cancelledBy.get(`${init.parentGroupId}!${init.role}`);
          const inherited = own ? null : replaced ? this.head(staged, replaced) : undefined;
          head = {
            causality: flow,
            directive_id: d.directive_id,
            cause: 'DIRECTIVE',
            intended_price: own?.price ?? inherited?.intended_price ?? null,
            intended_price_source: own?.source ?? inherited?.intended_price_source ?? null,
          };
          const orderId = id;
          const chain = flow;
          staged.after.push(() => this.cache?.recordOrder(d.directive_id, orderId, { causality: chain, planId: init.parentPlanId, groupId: init.parentGroupId }));
        } else {
          const plan = this.head(staged, init.parentPlanId);
          head = plan?.causality
            ? { causality: withOrder(plan.causality, id), directive_id: plan.directive_id, cause: 'PLAN', intended_price: null, intended_price_source: null }
            : { causality: null, directive_id: null, cause: 'UNATTRIBUTED', intended_price: null, intended_price_source: null };
        }
        staged.heads.set(id, head);
        recorded.push({
          kind: 'ORDER_RECORDED',
          order_id: id,
          plan_id: init.parentPlanId,
          group_id: init.parentGroupId,
          directive_id: head.directive_id,
          cause: head.cause,
          causality: head.causality,
          intended_price: head.intended_price ?? null,
          intended_price_source: head.intended_price_source ?? null,
        });
        continue;
      }
      if (d && !created.has(id) && (type === 'CANCEL' || type === 'MODIFY')) {
        requests.push({ orderId: id, kind: type === 'CANCEL' ? 'CANCEL_REQUESTED' : 'MODIFY_REQUESTED' });
      }
      const end = ENDED.get(rec.to);
      if (end && rec.from !== rec.to) ended.push({ orderId: id, kind: end });
    }

    const planOf = (orderId: string): string => {
      const c = turn.snapshot(orderId)?.context as { parentPlanId?: string } | undefined;
      return c?.parentPlanId ?? '';
    };

    // The directive first: it is the cause of everything else in its turn. Later turns of a
    // running flow that create or change no order (e.g. sending held replacements) add nothing.
    const firstTurn = d !== undefined && (!cached || !this.cache?.isRunning(d.directive_id));
    if (d && flow && (firstTurn || created.size > 0 || requests.length > 0)) {
      let planId = d.target_plan_id ?? null;
      if (!planId && d.target_group_id) planId = (turn.snapshot(d.target_group_id)?.context as { parentPlanId?: string } | undefined)?.parentPlanId ?? null;
      if (!planId) planId = recorded[0]?.plan_id ?? (requests[0] ? planOf(requests[0].orderId) || null : null);
      staged.entries.push({
        kind: 'DIRECTIVE',
        directive_id: d.directive_id,
        scope: d.scope,
        action: d.execution_plan?.action ?? null,
        plan_id: planId,
        created_order_ids: [...created],
        affected_order_ids: requests.map((r) => r.orderId),
        causality: flow,
        context: cached ? (cached.context.signals.length + cached.context.risks.length > 0 ? cached.context : null) : descriptions(d.causality),
        intent: intentOf(d),
      });
      if (planId) {
        const chain = flow;
        staged.heads.set(planId, { causality: chain, directive_id: d.directive_id, cause: 'DIRECTIVE' });
      }
      const id = d.directive_id;
      staged.after.push(() => this.cache?.running(id));
    }
    staged.entries.push(...recorded);
    for (const r of requests) {
      staged.entries.push({ kind: r.kind, order_id: r.orderId, plan_id: planOf(r.orderId), directive_id: d!.directive_id, causality: flow! });
    }

    for (const fill of turn.fills) {
      const order = this.head(staged, fill.parentOrderId);
      const causality = order?.causality ? withFill(order.causality, fill.fillId) : null;
      if (order) staged.heads.set(fill.parentOrderId, { ...order, causality });
      const plan = this.head(staged, fill.parentPlanId);
      if (plan?.causality) staged.heads.set(fill.parentPlanId, { ...plan, causality: withFill(plan.causality, fill.fillId) });
      staged.entries.push({
        kind: 'FILL',
        order_id: fill.parentOrderId,
        fill_id: fill.fillId,
        plan_id: fill.parentPlanId,
        directive_id: order?.directive_id ?? null,
        cause: order?.cause ?? 'UNATTRIBUTED',
        causality,
      });
      const { parentOrderId: orderId, fillId } = fill;
      staged.after.push(() => this.cache?.recordFill(orderId, fillId));
    }

    for (const e of ended) {
      const order = this.head(staged, e.orderId);
      staged.entries.push({
        kind: e.kind,
        order_id: e.orderId,
        plan_id: planOf(e.orderId),
        directive_id: order?.directive_id ?? null,
        cause: order?.cause ?? 'UNATTRIBUTED',
        causality: order?.causality ?? null,
      });
    }

    // Terminal orders and plans have no next entry: their heads go.
    for (const [id, dirty] of turn.dirty) {
      if (dirty.snapshot.status !== 'active' && (id.startsWith('ORD_') || id.startsWith('TPL_'))) staged.heads.set(id, null);
    }
    return staged;
  }

  /** Numbers the staged entries, adds their operations to the turn and updates memory. */
  private apply(turn: Turn, staged: Staged): JournalEntry[] {
    const ops: StoreOp[] = [];
    const written: JournalEntry[] = [];
    for (const u of staged.entries) {
      const e = { seq: ++this.seq, at: turn.at, ...u } as JournalEntry;
      written.push(e);
      ops.push({ type: 'put', area: 'journal', key: JournalKeys.entry(e.seq), value: JSON.stringify(e) });
      for (const key of indexKeysOf(e)) ops.push({ type: 'put', area: 'journal', key, value: '' });
    }
    if (written.length > 0) ops.push({ type: 'put', area: 'journal', key: JournalKeys.seq, value: String(this.seq) });
    for (const [id, head] of staged.heads) {
      if (head === null) {
        this.heads.delete(id);
        ops.push({ type: 'del', area: 'journal', key: JournalKeys.head(id) });
      } else {
        this.heads.set(id, head);
        ops.push({ type: 'put', area: 'journal', key: JournalKeys.head(id), value: JSON.stringify(head) });
      }
    }
    turn.ops.push(...ops);
    // The cache follows the journal, never the other way round: a failure here loses nothing.
    for (const f of staged.after) {
      try {
        f();
      } catch {
        /* the StrategyCache is not a source of truth */
      }
    }
    return written;
  }
}
