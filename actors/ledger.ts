import { Store, prefixEnd, decodeJson } from '../storage/store.js';
import { D, str } from '../src/domain/decimal.js';
import { systemClock, isoAt, type Clock } from '../src/domain/clock.js';
import { NotFoundError, parseOrThrow, ValidationError } from '../src/domain/errors.js';
import { newId, randomIdSource, type IdKind, type IdSource } from '../src/domain/ids.js';
import type { z } from 'zod';
import { OrderEventInputSchema, RegisterOrderSchema, type OrderEventInput, type RegisterOrderRequest } from '../src/domain/requests.js';
import { GROUP_TERMINAL, ORDER_TERMINAL, PLAN_TERMINAL } from '../src/domain/schemas.js';
import type {
  ExecutionGroup,
  Fill,
  GroupStatus,
  Order,
  OrderStatus,
  PlanStatus,
  Position,
  TradePlan,
} from '../src/domain/schemas.js';
import type { OrderEvent } from '../machines/order.js';
import type { AnomalyReport } from '../machines/actions.js';
import type { GroupEvent } from '../machines/execution-group.js';
import { ActorHost, Turn, type Anomaly, type CommittedEffect, type SendOutcome, type TransitionRecord } from './host.js';
import { decodeActorRecord, decodeFill, type ActorKind, type ActorRecord } from './records.js';

/** Deeply readonly: what planners get from the ledger. */
export type ReadonlyDeep<T> = T extends (infer U)[]
  ? readonly ReadonlyDeep<U>[]
  : T extends object
    ? { readonly [K in keyof T]: ReadonlyDeep<T[K]> }
    : T;

export interface PlanPosition extends Position {
  readonly planId: string;
  readonly symbol: string;
  readonly status: PlanStatus;
  /** Realized P&L net of fees. */
  readonly realizedPnlNet: string;
  /** The price the unrealized figures use: the one asked for, else the plan's last mark; null if neither. */
  readonly markPrice: string | null;
  /** (mark - average entry) x net quantity; null without a mark. */
  readonly unrealizedPnl: string | null;
  /** mark x net quantity (negative for a short); null without a mark. */
  readonly marketValue: string | null;
}

export interface OrderRoute {
  readonly orderId: string;
  readonly planId: string;
}
type OrderRouteContext = { clientOrderId: string; orderId: string; parentPlanId: string };

/** A validated registration whose ids are reserved; see `prepareOrder`. */
export interface PreparedOrder {
  readonly req: z.output<typeof RegisterOrderSchema>;
  readonly planId: string | undefined;
  readonly groupId: string | undefined;
  readonly orderId: string;
  readonly clientOrderId: string;
  readonly reserved: readonly string[];
}

export interface RegisteredOrder {
  readonly planId: string;
  readonly groupId: string;
  readonly orderId: string;
  readonly clientOrderId: string;
  readonly createdPlan: boolean;
  readonly createdGroup: boolean;
}

/** Read-only views of the ledger; all a planner may use. */
export interface LedgerView {
  plan(planId: string): Promise<ReadonlyDeep<TradePlan> | undefined>;
  group(groupId: string): Promise<ReadonlyDeep<ExecutionGroup> | undefined>;
  order(orderId: string): Promise<ReadonlyDeep<Order> | undefined>;
  plansByStatus(status: PlanStatus): Promise<ReadonlyDeep<TradePlan>[]>;
  groupsOfPlan(planId: string): Promise<ReadonlyDeep<ExecutionGroup>[]>;
  ordersOfGroup(groupId: string): Promise<ReadonlyDeep<Order>[]>;
  fillsOfOrder(orderId: string): Promise<ReadonlyDeep<Fill>[]>;
  history(actorId: string): Promise<readonly TransitionRecord[]>;
  position(planId: string, markPrice?: string): Promise<PlanPosition | undefined>;
}

export interface OpenLedgerOptions {
  readonly dataDir: string;
  readonly clock?: Clock;
  readonly ids?: IdSource;
  /** Exchange effects, after the turn that asked for them is committed. */
  readonly onEffects?: (effects: readonly CommittedEffect[]) => void;
}

function freeze<T>(value: T): ReadonlyDeep<T> {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) freeze(v);
  }
  return value as ReadonlyDeep<T>;
}

const ENDED: Record<ActorKind, readonly (PlanStatus | GroupStatus | OrderStatus)[]> = { order: ORDER_TERMINAL, group: GROUP_TERMINAL, plan: PLAN_TERMINAL };

function clientKey(clientOrderId: string): string {
  return `client!${clientOrderId}`;
}

function kindOfActor(id: string): ActorKind {
  return id.startsWith('ORD_') ? 'order' : id.startsWith('EXG_') ? 'group' : 'plan';
}

function toView<T>(rec: ActorRecord): ReadonlyDeep<T> {
  return freeze({ ...(rec.context as object), status: rec.value } as T);
}

/**
 * StrategyLedger: the single source of truth for plans, groups, orders and fills. Writes go
 * through actor turns; reads are views that reflect every turn started before the call.
 */
export class StrategyLedger implements LedgerView {
  private readonly reserved = new Set<string>();
  /** clientOrderId -> order and plan, for orders live at open or created since: reply routing without a read. */
  private readonly routes = new Map<string, OrderRoute>();

  private constructor(
    readonly host: ActorHost,
    readonly store: Store,
    readonly clock: Clock,
    private readonly ids: IdSource,
  ) {
    for (const id of host.liveIds('order')) this.remember(host.record(id)!.context as OrderRouteContext);
    host.observe((turn) => {
      for (const { id, rec } of turn.logs) {
        if (rec.seq !== 0 || !id.startsWith('ORD_')) continue;
        this.remember(turn.snapshot(id)!.context as OrderRouteContext);
      }
    });
  }

  private remember(c: OrderRouteContext): void {
    this.routes.set(c.clientOrderId, { orderId: c.orderId, planId: c.parentPlanId });
  }

  /** Where a clientOrderId's replies go, if the order was live at open or created since (no I/O). */
  routeOf(clientOrderId: string): OrderRoute | undefined {
    return this.routes.get(clientOrderId);
  }

  static async open(options: OpenLedgerOptions): Promise<StrategyLedger> {
    const store = await Store.open(options.dataDir);
    try {
      const host = await ActorHost.open(store, options.onEffects ? { onEffects: options.onEffects } : {});
      return new StrategyLedger(host, store, options.clock ?? systemClock, options.ids ?? randomIdSource);
    } catch (error) {
      await store.close();
      throw error;
    }
  }

  /** Stored records that failed to decode on open (each names its key); the rest opened. */
  get corruptRecords() {
    return this.host.corrupt;
  }

  now(): string {
    return isoAt(this.clock.now());
  }

  /** A new id of this kind that no actor or fill has. */
  async newId<K extends IdKind>(kind: K): Promise<ReturnType<typeof newId<K>>> {
    for (;;) {
      const id = newId(kind, this.clock, this.ids);
      if (this.reserved.has(id) || this.host.record(id)) continue;
      const stored = kind === 'fill' ? await this.store.getRaw('fill', id) : (await this.store.getRaw('archive', id)) ?? (await this.store.getRaw('live', id));
      if (stored !== undefined || this.reserved.has(id)) continue;
      this.reserved.add(id);
      return id;
    }
  }

  /**
   * Registers an order, creating its ExecutionGroup and TradePlan bottom-up when they do not
   * exist (seeds/TRADE_LIFECYCLE.md §1.2), and submits it unless `submit: false`. One turn.
   */
  async registerOrder(request: RegisterOrderRequest, within?: (turn: Turn, order: RegisteredOrder) => void): Promise<RegisteredOrder> {
    const prepared = await this.prepareOrder(request);
    try {
      return await this.host.run(this.now(), (turn) => {
        const registered = this.addOrder(turn, prepared);
        within?.(turn, registered);
        return registered;
      });
    } finally {
      this.release(prepared);
    }
  }

  /**
   * First half of a registration: validates the request and reserves its ids (async). The
   * second half, `addOrder`, runs inside a turn, so a worker can register orders in the same
   * turn as other events (cancel-replace). Call `release` once that turn has run.
   */
  async prepareOrder(request: RegisterOrderRequest): Promise<PreparedOrder> {
    const req = parseOrThrow('registerOrder request', RegisterOrderSchema, request);
    if (!req.plan && !('groupId' in req.group)) {
      throw new ValidationError('registerOrder request', [{ field: 'plan', rule: 'is required unless group.groupId names an open group' }]);
    }
    // Fail fast on what is known now; the turn checks again, since a turn may end a parent meanwhile.
    this.openParents(req, (id) => this.host.record(id));
    const createsPlan = req.plan !== undefined && !('planId' in req.plan) && !('groupId' in req.group);
    const createsGroup = !('groupId' in req.group);
    const reserved: string[] = [];
    try {
      const planId = createsPlan ? await this.newId('plan') : undefined;
      if (planId) reserved.push(planId);
      const groupId = createsGroup ? await this.newId('group') : undefined;
      if (groupId) reserved.push(groupId);
      const orderId = await this.newId('order');
      reserved.push(orderId);
      const clientOrderId = req.order.clientOrderId ?? orderId;
      await this.reserveClientOrderId(clientOrderId);
      reserved.push(clientKey(clientOrderId));
      return { req, planId, groupId, orderId, clientOrderId, reserved };
    } catch (error) {
      for (const id of reserved) this.reserved.delete(id);
      throw error;
    }
  }

  /** Second half of a registration, inside a turn: creates plan and group lazily, then the order. */
  addOrder(turn: Turn, prepared: PreparedOrder): RegisteredOrder {
    const { req, orderId, clientOrderId } = prepared;
    const plan = req.plan;
    const group = req.group;
    const at = turn.at;
    const parents = this.openParents(req, (id) => {
      const snap = turn.snapshot(id);
      return snap && { kind: kindOfActor(id), value: snap.value as string, context: snap.context, seq: 0 };
    });
    const planId = parents.planId ?? prepared.planId!;
    const groupId = parents.groupId ?? prepared.groupId!;
    const symbol = parents.symbol ?? (plan && 'symbol' in plan ? plan.symbol : '');
    if (prepared.planId && plan && 'strategyInstanceId' in plan) {
      turn.create('plan', { planId, strategyInstanceId: plan.strategyInstanceId, symbol, direction: plan.direction, comments: plan.comments, exitPlan: plan.exitPlan, at });
    }
    if (prepared.groupId && 'executionStrategy' in group) {
      turn.create('group', { groupId, parentPlanId: planId, executionStrategy: group.executionStrategy, targetQuantity: group.targetQuantity ?? req.order.quantity, at });
      turn.send(planId, { type: 'GROUP_ADDED', groupId, at });
    }
    turn.create('order', {
      orderId,
      parentGroupId: groupId,
      parentPlanId: planId,
      clientOrderId,
      symbol,
      side: req.order.side,
      orderType: req.order.orderType,
      role: req.order.role,
      quantity: req.order.quantity,
      price: req.order.price,
      stopPrice: req.order.stopPrice,
      timeInForce: req.order.timeInForce,
      ocoGroup: req.order.ocoGroup,
      at,
    });
    turn.ops.push({ type: 'put', area: 'index', key: clientKey(clientOrderId), value: orderId });
    turn.send(groupId, { type: 'ORDER_ADDED', orderId, at });
    if (req.submit) turn.send(orderId, { type: 'SUBMIT', at });
    return { planId, groupId, orderId, clientOrderId, createdPlan: prepared.planId !== undefined, createdGroup: prepared.groupId !== undefined };
  }

  release(prepared: PreparedOrder): void {
    for (const id of prepared.reserved) this.reserved.delete(id);
  }

  /**
   * The open plan and group an order request names (undefined where they are to be created),
   * and the plan's symbol. Throws NotFoundError when a named parent is not open.
   */
  private openParents(
    req: z.output<typeof RegisterOrderSchema>,
    read: (id: string) => ActorRecord | undefined,
  ): { planId?: string; groupId?: string; symbol?: string } {
    const group = req.group;
    if ('groupId' in group) {
      const g = read(group.groupId);
      if (!g || g.kind !== 'group' || (g.value !== 'PENDING' && g.value !== 'ACTIVE')) {
        throw new NotFoundError(group.groupId, 'is not an open ExecutionGroup');
      }
      const planId = (g.context as { parentPlanId: string }).parentPlanId;
      if (req.plan && 'planId' in req.plan && req.plan.planId !== planId) {
        throw new ValidationError('registerOrder request', [{ field: 'plan.planId', rule: `must be the group's plan ${planId}` }]);
      }
      const plan = read(planId);
      if (!plan || (plan.value !== 'PENDING' && plan.value !== 'ACTIVE')) throw new NotFoundError(planId, 'is not an open TradePlan');
      return { planId, groupId: group.groupId, symbol: (plan.context as { symbol: string }).symbol };
    }
    if (req.plan && 'planId' in req.plan) {
      const plan = read(req.plan.planId);
      if (!plan || plan.kind !== 'plan' || (plan.value !== 'PENDING' && plan.value !== 'ACTIVE')) {
        throw new NotFoundError(req.plan.planId, 'is not an open TradePlan');
      }
      return { planId: req.plan.planId, symbol: (plan.context as { symbol: string }).symbol };
    }
    return {};
  }

  /** A clientOrderId names one order forever: it is how the exchange is asked about it. */
  private async reserveClientOrderId(clientOrderId: string): Promise<void> {
    const key = clientKey(clientOrderId);
    const taken = () =>
      new ValidationError('registerOrder request', [{ field: 'order.clientOrderId', rule: `${clientOrderId} is already used by another order` }]);
    if (this.reserved.has(key)) throw taken();
    this.reserved.add(key);
    if ((await this.store.getRaw('index', key)) !== undefined) {
      this.reserved.delete(key);
      throw taken();
    }
  }

  /** The order a clientOrderId belongs to (how exchange replies find their order). */
  async orderIdForClientOrderId(clientOrderId: string): Promise<string | undefined> {
    const route = this.routes.get(clientOrderId);
    if (route) return route.orderId;
    await this.host.settled();
    return this.store.getRaw('index', clientKey(clientOrderId));
  }

  /**
   * Applies one order event (an exchange reply or a worker request) in its own turn. A FILL
   * gets a FIL_ id here. Refused events are recorded as anomalies, never thrown.
   */
  async applyToOrder(orderId: string, input: OrderEventInput, settleEffect?: string): Promise<SendOutcome> {
    const [outcome] = await this.applyEventsToOrder(orderId, [input], settleEffect);
    return outcome!;
  }

  /** Several events for one order in one turn (all or nothing), optionally settling an effect. */
  async applyEventsToOrder(orderId: string, inputs: readonly OrderEventInput[], settleEffect?: string): Promise<SendOutcome[]> {
    const parsed = inputs.map((input, i) => {
      const r = OrderEventInputSchema.safeParse(input);
      if (!r.success) throw ValidationError.fromZod(`order event ${i}`, r.error);
      return r.data;
    });
    const now = this.now();
    const events: OrderEvent[] = [];
    const fillIds: string[] = [];
    try {
      for (const p of parsed) {
        const at = p.at ?? now;
        if (p.type === 'FILL') {
          const fillId = p.fillId ?? (await this.newId('fill'));
          fillIds.push(fillId);
          events.push({ ...p, at, fillId });
        } else {
          events.push({ ...p, at } as OrderEvent);
        }
      }
      return await this.host.run(events[0]?.at ?? now, (turn) => {
        if (settleEffect !== undefined) turn.settle(settleEffect);
        return events.map((e) => turn.send(orderId, e));
      });
    } finally {
      for (const id of fillIds) this.reserved.delete(id);
    }
  }

  /** Removes an effect from the outbox whose outcome needed no order event. */
  async recordSettled(effectId: string): Promise<void> {
    await this.host.run(this.now(), (turn) => turn.settle(effectId));
  }

  /** Records an anomaly (e.g. a reply for an order nobody knows) in a turn of its own. */
  async recordAnomaly(report: AnomalyReport, actorId: string | null, event: unknown, settleEffect?: string): Promise<void> {
    await this.host.run(this.now(), (turn) => {
      if (settleEffect !== undefined) turn.settle(settleEffect);
      turn.reportAnomaly(report, actorId, event);
    });
  }

  /** CANCEL (or FAIL, for a group that never got an order) of an ExecutionGroup. */
  async applyToGroup(groupId: string, event: { type: 'CANCEL' } | { type: 'FAIL'; reason: string }): Promise<SendOutcome> {
    const at = this.now();
    const e: GroupEvent = event.type === 'CANCEL' ? { type: 'CANCEL', at } : { type: 'FAIL', at, reason: event.reason };
    return this.host.run(at, (turn) => turn.send(groupId, e));
  }

  // ---- views -------------------------------------------------------------------------------

  private async load(id: string, kind: ActorKind): Promise<ActorRecord | undefined> {
    const mem = this.host.record(id);
    if (mem) return mem.kind === kind ? mem : undefined;
    const raw = await this.store.getRaw('archive', id);
    if (raw === undefined) return undefined;
    const rec = decodeActorRecord('archive', id, raw);
    return rec.kind === kind ? rec : undefined;
  }

  private async loadMany<T>(ids: readonly string[], kind: ActorKind): Promise<ReadonlyDeep<T>[]> {
    const out: ReadonlyDeep<T>[] = [];
    for (const id of ids) {
      const rec = await this.load(id, kind);
      if (rec) out.push(toView<T>(rec));
    }
    return out;
  }

  async plan(planId: string) {
    await this.host.settled();
    const rec = await this.load(planId, 'plan');
    return rec && toView<TradePlan>(rec);
  }

  async group(groupId: string) {
    await this.host.settled();
    const rec = await this.load(groupId, 'group');
    return rec && toView<ExecutionGroup>(rec);
  }

  async order(orderId: string) {
    await this.host.settled();
    const rec = await this.load(orderId, 'order');
    return rec && toView<Order>(rec);
  }

  /**
   * Ids of actors of a kind in a status: live statuses from memory (every live actor is there),
   * ended ones from the status index, which is written once when an actor ends.
   */
  async idsByStatus(kind: ActorKind, status: PlanStatus | GroupStatus | OrderStatus, limit = -1): Promise<string[]> {
    await this.host.settled();
    if (!ENDED[kind].includes(status)) {
      const ids = this.host.liveIds(kind).filter((id) => this.host.record(id)?.value === status).sort();
      return limit < 0 ? ids : ids.slice(0, limit);
    }
    const prefix = `status!${kind}!${status}!`;
    const ids: string[] = [];
    for await (const key of this.store.keys('index', { gte: prefix, lt: prefixEnd(prefix), limit })) ids.push(key.slice(prefix.length));
    return ids;
  }

  /** Every id of a kind, live or ended. */
  async allIds(kind: ActorKind): Promise<string[]> {
    const ids: string[] = [];
    for (const status of ENDED[kind]) ids.push(...(await this.idsByStatus(kind, status)));
    ids.push(...this.host.liveIds(kind));
    return ids.sort();
  }

  async plansByStatus(status: PlanStatus) {
    return this.loadMany<TradePlan>(await this.idsByStatus('plan', status), 'plan');
  }

  async groupsOfPlan(planId: string) {
    const plan = await this.plan(planId);
    return plan ? this.loadMany<ExecutionGroup>(plan.groupIds, 'group') : [];
  }

  async ordersOfGroup(groupId: string) {
    const group = await this.group(groupId);
    return group ? this.loadMany<Order>(group.orderIds, 'order') : [];
  }

  async fillsOfOrder(orderId: string) {
    const order = await this.order(orderId);
    if (!order) return [];
    const raws = await this.store.getManyRaw('fill', order.fillIds);
    return raws.map((raw, i) => {
      const id = order.fillIds[i]!;
      if (raw === undefined) throw new NotFoundError(id, `fill of ${orderId} is missing from the store`);
      return freeze(decodeFill(id, raw));
    });
  }

  async history(actorId: string): Promise<readonly TransitionRecord[]> {
    await this.host.settled();
    const prefix = `${actorId}!`;
    const out: TransitionRecord[] = [];
    for await (const [key, raw] of this.store.entries('log', { gte: prefix, lt: prefixEnd(prefix) })) {
      out.push(decodeJson('log', key, raw) as TransitionRecord);
    }
    return freeze(out);
  }

  async position(planId: string, markPrice?: string): Promise<PlanPosition | undefined> {
    const plan = await this.plan(planId);
    if (!plan) return undefined;
    const p = plan.position;
    const mark = markPrice ?? plan.mark?.price ?? null;
    const net = new D(p.netQuantity);
    // Cost basis is unsigned entry notional: long P&L = value - cost, short P&L = cost - |value|.
    const unrealized = mark === null ? null : str(new D(mark).times(net).minus(net.isNegative() ? new D(p.costBasis).negated() : p.costBasis));
    return freeze({
      planId,
      symbol: plan.symbol,
      status: plan.status,
      ...p,
      realizedPnlNet: str(new D(p.realizedPnl).minus(p.fees)),
      markPrice: mark,
      unrealizedPnl: unrealized,
      marketValue: mark === null ? null : str(new D(mark).times(net)),
    });
  }

  async anomalies(limit = -1): Promise<Anomaly[]> {
    await this.host.settled();
    const out: Anomaly[] = [];
    for await (const [key, raw] of this.store.entries('anomaly', { limit })) out.push(decodeJson('anomaly', key, raw) as Anomaly);
    return out;
  }

  /** Effects committed whose outcome has not been recorded yet (in flight, or unknown after a crash). */
  async outbox(): Promise<CommittedEffect[]> {
    await this.host.settled();
    const out: CommittedEffect[] = [];
    for await (const [key, raw] of this.store.entries('outbox')) out.push(decodeJson('outbox', key, raw) as CommittedEffect);
    return out;
  }

  /** The read-only face of the ledger, for planners. */
  view(): LedgerView {
    const self = this;
    return Object.freeze({
      plan: (id: string) => self.plan(id),
      group: (id: string) => self.group(id),
      order: (id: string) => self.order(id),
      plansByStatus: (s: PlanStatus) => self.plansByStatus(s),
      groupsOfPlan: (id: string) => self.groupsOfPlan(id),
      ordersOfGroup: (id: string) => self.ordersOfGroup(id),
      fillsOfOrder: (id: string) => self.fillsOfOrder(id),
      history: (id: string) => self.history(id),
      position: (id: string, mark?: string) => self.position(id, mark),
    });
  }

  async close(): Promise<void> {
    await this.host.close();
  }
}
