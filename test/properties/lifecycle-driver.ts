/**
 * A deterministic driver of random lifecycle scenarios through the persisted runtime
 * (StrategyLedger on a temp dir): one plan, 1-3 groups, 1-4 orders, and a sequence of order
 * events. Every input carries an explicit `at`, fill id and trade id, and ids come from a seeded
 * source and a manual clock, so the same scenario always produces the same data dir content.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { StrategyLedger } from '../../actors/ledger.js';
import type { TransitionRecord } from '../../actors/host.js';
import { ManualClock } from '../../src/domain/clock.js';
import { NotFoundError } from '../../src/domain/errors.js';
import { seededIdSource, type IdSource } from '../../src/domain/ids.js';
import { OrderEventInputSchema, type OrderEventInput, type RegisterOrderRequest } from '../../src/domain/requests.js';
import { ORDER_TERMINAL, type ExecutionGroup, type Fill, type Order, type OrderStatus, type TradePlan } from '../../src/domain/schemas.js';

export const T0 = Date.UTC(2025, 2, 3, 14, 0, 0);
export const RUNS = Math.max(1, Number(process.env.PROPERTY_RUNS ?? 30));
/** Per-test timeout that grows with PROPERTY_RUNS. */
export const TIMEOUT = Math.max(60_000, RUNS * 4_000);

// ---- scenario --------------------------------------------------------------------------------

export interface OrderSpec {
  readonly group: number;
  readonly side: 'BUY' | 'SELL';
  readonly limit: boolean;
  readonly quantity: string;
  readonly price: string;
  readonly submit: boolean;
  /** Index of the step before which this order is registered (order 0: always 0). */
  readonly registerAt: number;
}

export type EventSpec =
  | { readonly type: 'SUBMIT' }
  | { readonly type: 'ACCEPTED'; readonly connectorOrderId: string | null }
  | { readonly type: 'FILL'; readonly quantity: string; readonly price: string; readonly fee: string }
  /** A FILL reusing an earlier trade id of the same order (the `pick`-th, modulo). */
  | { readonly type: 'DUPLICATE_FILL'; readonly pick: number; readonly quantity: string; readonly price: string }
  | { readonly type: 'CANCEL' }
  | { readonly type: 'CANCELED' }
  | { readonly type: 'CANCEL_REJECTED' }
  | { readonly type: 'MODIFY'; readonly quantity: string | null; readonly price: string | null }
  | { readonly type: 'MODIFIED' }
  /** The exchange resized the order itself (one-cancels-other); only if the runtime knows RESIZED. */
  | { readonly type: 'RESIZED'; readonly quantity: string }
  | { readonly type: 'MODIFY_REJECTED' }
  | { readonly type: 'REJECTED' }
  | { readonly type: 'EXPIRED' };

export type Step =
  /**
   * `live`: the order is the `order`-th (modulo) of the registered orders that have not ended,
   * if any, so that most events land on orders still in play; otherwise the `order`-th
   * (modulo) order of the scenario, ended or not.
   */
  | { readonly kind: 'order'; readonly order: number; readonly live: boolean; readonly event: EventSpec }
  | { readonly kind: 'cancelGroup'; readonly group: number };

export interface Scenario {
  readonly seed: number;
  /** Where property (6) closes and reopens the data dir (modulo the number of inputs + 1). */
  readonly reopenAt: number;
  readonly direction: 'BUY' | 'SELL';
  readonly orders: readonly OrderSpec[];
  readonly steps: readonly Step[];
}

/** Decimal strings from integer hundredths/tenths: never a binary float. */
const decimal = (min: number, max: number, scale: number) =>
  fc.integer({ min, max }).map((n) => {
    const s = String(n).padStart(scale + 1, '0');
    const int = s.slice(0, s.length - scale);
    const frac = s.slice(s.length - scale).replace(/0+$/, '');
    return frac === '' ? int : `${int}.${frac}`;
  });

/** 0.1 .. 5, often a round lot so that BUYs and SELLs can net out to flat */
export const orderQuantity = fc.oneof(fc.constantFrom('0.5', '1', '2'), decimal(1, 50, 1));
/** 0.01 .. 3: often more than what remains, so overfills happen; often a round lot */
export const fillQuantity = fc.oneof(fc.constantFrom('0.25', '0.5', '1', '2'), decimal(1, 300, 2));
/** 90.0 .. 110.0, e.g. '100.5' */
export const price = decimal(900, 1100, 1);
const fee = decimal(0, 100, 3);

/** Whether the ledger accepts RESIZED order events (added with one-cancels-other support). */
export const RESIZED_SUPPORTED = OrderEventInputSchema.safeParse({ type: 'RESIZED', quantity: '1' }).success;

/** Weighted so that orders live a while: terminal replies are rarer than fills and modifies. */
export const eventSpec: fc.Arbitrary<EventSpec> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ type: 'SUBMIT' } as const) },
  { weight: 6, arbitrary: fc.option(fc.constantFrom('EX-1', 'EX-2'), { nil: null }).map((connectorOrderId) => ({ type: 'ACCEPTED', connectorOrderId }) as const) },
  { weight: 16, arbitrary: fc.record({ type: fc.constant('FILL' as const), quantity: fillQuantity, price, fee }) },
  { weight: 4, arbitrary: fc.record({ type: fc.constant('DUPLICATE_FILL' as const), pick: fc.nat(5), quantity: fillQuantity, price }) },
  { weight: 3, arbitrary: fc.constant({ type: 'CANCEL' } as const) },
  { weight: 2, arbitrary: fc.constant({ type: 'CANCELED' } as const) },
  { weight: 3, arbitrary: fc.constant({ type: 'CANCEL_REJECTED' } as const) },
  {
    weight: 6,
    arbitrary: fc.record({ type: fc.constant('MODIFY' as const), quantity: fc.option(orderQuantity, { nil: null }), price: fc.option(price, { nil: null }) }),
  },
  { weight: 5, arbitrary: fc.constant({ type: 'MODIFIED' } as const) },
  { weight: 2, arbitrary: fc.constant({ type: 'MODIFY_REJECTED' } as const) },
  { weight: 1, arbitrary: fc.constant({ type: 'REJECTED' } as const) },
  { weight: 1, arbitrary: fc.constant({ type: 'EXPIRED' } as const) },
  ...(RESIZED_SUPPORTED
    ? [{ weight: 2, arbitrary: fc.record({ type: fc.constant('RESIZED' as const), quantity: fc.oneof(fc.constant('0'), orderQuantity) }) }]
    : []),
);

/** Longest generated step sequence. */
export const MAX_STEPS = 60;

export const orderSpec = (i: number, groupCount: number): fc.Arbitrary<OrderSpec> =>
  fc.record({
    group: i === 0 ? fc.constant(0) : fc.integer({ min: 0, max: groupCount - 1 }),
    side: fc.constantFrom('BUY' as const, 'SELL' as const),
    limit: fc.boolean(),
    quantity: orderQuantity,
    price,
    submit: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, fc.constant(false)),
    // most orders exist from the start; the others arrive later, possibly after their group ended
    registerAt: i === 0 ? fc.constant(0) : fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: MAX_STEPS }) }),
  });

/**
 * Steps name orders and groups by index; the driver takes them modulo the scenario's counts,
 * so steps shrink independently of the orders.
 */
export const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 30,
    arbitrary: fc.record({ kind: fc.constant('order' as const), order: fc.nat(3), live: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, fc.constant(false)), event: eventSpec }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancelGroup' as const), group: fc.nat(2) }) },
);

export const scenario: fc.Arbitrary<Scenario> = fc
  .record({ groupCount: fc.integer({ min: 1, max: 3 }), orderCount: fc.integer({ min: 1, max: 4 }) })
  .chain(({ groupCount, orderCount }) =>
    fc.record({
      seed: fc.integer({ min: 1, max: 1_000_000 }),
      reopenAt: fc.nat(),
      direction: fc.constantFrom('BUY' as const, 'SELL' as const),
      // mirrored: every odd order offsets the one before it (same quantity, other side), so
      // plans can end flat and CLOSED
      orders: fc
        .tuple(fc.boolean(), fc.tuple(...Array.from({ length: orderCount }, (_, i) => orderSpec(i, groupCount))))
        .map(([mirrored, orders]) =>
          mirrored
            ? orders.map((o, i) => (i % 2 === 1 ? { ...o, quantity: orders[i - 1]!.quantity, side: orders[i - 1]!.side === 'BUY' ? ('SELL' as const) : ('BUY' as const) } : o))
            : orders,
        ),
      steps: fc.array(step, { minLength: 0, maxLength: MAX_STEPS, size: 'max' }),
    }),
  );

// ---- driver ----------------------------------------------------------------------------------

export interface Observation {
  readonly plan: TradePlan | undefined;
  readonly groups: readonly ExecutionGroup[];
  readonly orders: readonly Order[];
  readonly fills: Readonly<Record<string, readonly Fill[]>>;
  readonly history: Readonly<Record<string, readonly TransitionRecord[]>>;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export class Driver {
  ledger!: StrategyLedger;
  readonly clock = new ManualClock(T0);
  private readonly ids: IdSource;
  planId: string | undefined;
  readonly groupIds = new Map<number, string>();
  readonly orderIds = new Map<number, string>();
  private readonly tradeIds = new Map<number, string[]>();
  private stepNo = 0;
  /** What each input did: send outcomes, registration results. Compared across runs. */
  readonly outcomes: string[] = [];

  private constructor(readonly dir: string, readonly sc: Scenario) {
    this.ids = seededIdSource(sc.seed);
  }

  static async start(sc: Scenario): Promise<Driver> {
    const dir = await mkdtemp(join(tmpdir(), 'lifecycle-'));
    const d = new Driver(dir, sc);
    await d.open();
    return d;
  }

  private async open(): Promise<void> {
    this.ledger = await StrategyLedger.open({ dataDir: this.dir, clock: this.clock, ids: this.ids });
  }

  async reopen(): Promise<void> {
    await this.ledger.close();
    await this.open();
  }

  async dispose(): Promise<void> {
    try {
      await this.ledger.close();
    } finally {
      await rm(this.dir, { recursive: true, force: true });
    }
  }

  /** Total inputs: registrations first at each index, then the step. */
  get inputCount(): number {
    return this.sc.orders.length + this.sc.steps.length;
  }

  /** Runs input `i` of the flattened sequence (registrations interleaved by `registerAt`). */
  async runInput(i: number): Promise<void> {
    const input = this.flattened()[i]!;
    if (input.kind === 'register') await this.register(input.order);
    else await this.step(input.step);
  }

  /**
   * Runs every input, firing the order and group events between two registrations without
   * awaiting them (so turns share group-commit batches); registrations are awaited, since
   * they read the store before their turn.
   */
  async runAllConcurrently(): Promise<void> {
    let inFlight: Promise<void>[] = [];
    for (const input of this.flattened()) {
      if (input.kind === 'register') {
        await Promise.all(inFlight);
        inFlight = [];
        await this.register(input.order);
      } else {
        inFlight.push(this.step(input.step));
      }
    }
    await Promise.all(inFlight);
  }

  private flat: ({ kind: 'register'; order: number } | { kind: 'step'; step: Step })[] | undefined;
  flattened() {
    if (this.flat) return this.flat;
    const out: ({ kind: 'register'; order: number } | { kind: 'step'; step: Step })[] = [];
    const n = this.sc.steps.length;
    for (let j = 0; j <= n; j++) {
      this.sc.orders.forEach((o, i) => {
        if (Math.min(o.registerAt, n) === j) out.push({ kind: 'register', order: i });
      });
      if (j < n) out.push({ kind: 'step', step: this.sc.steps[j]! });
    }
    this.flat = out;
    return out;
  }

  private tick(): string {
    this.clock.advance(1000);
    this.stepNo++;
    return iso(this.clock.now());
  }

  private async register(i: number): Promise<void> {
    this.tick();
    const o = this.sc.orders[i]!;
    const order: RegisterOrderRequest['order'] = o.limit
      ? { side: o.side, orderType: 'LIMIT', quantity: o.quantity, price: o.price }
      : { side: o.side, orderType: 'MARKET', quantity: o.quantity };
    const groupId = this.groupIds.get(o.group);
    let req: RegisterOrderRequest;
    if (groupId !== undefined) req = { group: { groupId }, order, submit: o.submit };
    else if (this.planId !== undefined) req = { plan: { planId: this.planId }, group: { executionStrategy: 'SINGLE' }, order, submit: o.submit };
    else {
      req = {
        plan: { strategyInstanceId: 'prop', symbol: 'BTC/USDT', direction: this.sc.direction, comments: null },
        group: { executionStrategy: 'SINGLE' },
        order,
        submit: o.submit,
      };
    }
    try {
      const reg = await this.ledger.registerOrder(req);
      this.planId ??= reg.planId;
      if (!this.groupIds.has(o.group)) this.groupIds.set(o.group, reg.groupId);
      this.orderIds.set(i, reg.orderId);
      this.tradeIds.set(i, []);
      this.outcomes.push(`register ${i}: ${reg.orderId} in ${reg.groupId}`);
    } catch (error) {
      // Registering into a plan or group that has ended is refused; nothing else may throw.
      if (!(error instanceof NotFoundError)) throw error;
      this.outcomes.push(`register ${i}: refused (${error.message})`);
    }
  }

  /** Records an outcome in input order, even when several turns are in flight. */
  private async outcome(label: string, result: Promise<string>): Promise<void> {
    const slot = this.outcomes.length;
    this.outcomes.push(`${label}: pending`);
    this.outcomes[slot] = `${label}: ${await result}`;
  }

  private async step(step: Step): Promise<void> {
    const at = this.tick();
    if (step.kind === 'cancelGroup') {
      const groupId = this.groupIds.get(step.group % 3);
      if (groupId === undefined) return void this.outcomes.push('cancelGroup: no such group');
      return this.outcome(`cancelGroup ${step.group % 3}`, this.ledger.applyToGroup(groupId, { type: 'CANCEL' }));
    }
    const order = this.liveOrderIndex(step) ?? step.order % this.sc.orders.length;
    const orderId = this.orderIds.get(order);
    if (orderId === undefined) return void this.outcomes.push(`order ${order}: not registered`);
    const input = this.toInput(order, step.event, at);
    return this.outcome(`order ${order} ${input.type}`, this.ledger.applyToOrder(orderId, input));
  }

  /**
   * Synchronous, from the host's in-memory records (live or just ended), so that a step picks
   * the same order whether or not earlier turns are committed yet; an actor the host no longer
   * holds in memory has ended and been archived.
   */
  private liveOrderIndex(step: Extract<Step, { kind: 'order' }>): number | undefined {
    if (!step.live) return undefined;
    const live: number[] = [];
    for (const [i, id] of [...this.orderIds].sort(([a], [b]) => a - b)) {
      const rec = this.ledger.host.record(id);
      if (rec && !ORDER_TERMINAL.includes(rec.value as OrderStatus)) live.push(i);
    }
    return live.length === 0 ? undefined : live[step.order % live.length];
  }

  private toInput(order: number, e: EventSpec, at: string): OrderEventInput {
    const used = this.tradeIds.get(order)!;
    const fillId = `FIL_20250303_140000_f${String(this.stepNo).padStart(5, '0')}`;
    switch (e.type) {
      case 'FILL': {
        const tradeId = `tr${this.stepNo}`;
        used.push(tradeId);
        return { type: 'FILL', at, fillId, tradeId, quantity: e.quantity, price: e.price, fee: e.fee, feeCurrency: 'USDT', liquidity: 'TAKER' };
      }
      case 'DUPLICATE_FILL': {
        const tradeId = used.length > 0 ? used[e.pick % used.length]! : `tr${this.stepNo}`;
        if (used.length === 0) used.push(tradeId);
        return { type: 'FILL', at, fillId, tradeId, quantity: e.quantity, price: e.price, fee: '0', feeCurrency: null, liquidity: 'MAKER' };
      }
      case 'ACCEPTED':
        return { type: 'ACCEPTED', at, connectorOrderId: e.connectorOrderId };
      case 'CANCEL':
        return { type: 'CANCEL', at, reason: 'strategy cancel' };
      case 'CANCELED':
        return { type: 'CANCELED', at, reason: 'exchange canceled' };
      case 'CANCEL_REJECTED':
        return { type: 'CANCEL_REJECTED', at, reason: 'unknown order' };
      case 'MODIFY':
        return { type: 'MODIFY', at, quantity: e.quantity, price: e.price, stopPrice: null };
      case 'RESIZED':
        return { type: 'RESIZED', at, quantity: e.quantity } as unknown as OrderEventInput;
      case 'MODIFY_REJECTED':
        return { type: 'MODIFY_REJECTED', at, reason: 'would cross' };
      case 'REJECTED':
        return { type: 'REJECTED', at, reason: 'insufficient margin' };
      default:
        return { type: e.type, at };
    }
  }

  /** Everything the views say about the plan, its groups, orders and fills. */
  async observe(): Promise<Observation> {
    const l = this.ledger;
    if (this.planId === undefined) return { plan: undefined, groups: [], orders: [], fills: {}, history: {} };
    const plan = (await l.plan(this.planId)) as TradePlan | undefined;
    const groups = (await l.groupsOfPlan(this.planId)) as ExecutionGroup[];
    const orders: Order[] = [];
    for (const g of groups) orders.push(...((await l.ordersOfGroup(g.groupId)) as Order[]));
    const fills: Record<string, readonly Fill[]> = {};
    for (const o of orders) fills[o.orderId] = (await l.fillsOfOrder(o.orderId)) as Fill[];
    const history: Record<string, readonly TransitionRecord[]> = {};
    for (const id of [this.planId, ...groups.map((g) => g.groupId), ...orders.map((o) => o.orderId)]) history[id] = await l.history(id);
    return { plan, groups, orders, fills, history };
  }

  /** Observation plus the stores' anomaly log, outbox and position: the whole visible state. */
  async fullState() {
    return {
      outcomes: this.outcomes,
      ...(await this.observe()),
      position: this.planId === undefined ? undefined : await this.ledger.position(this.planId),
      anomalies: await this.ledger.anomalies(),
      outbox: await this.ledger.outbox(),
      statusIndex: await this.statusIndex(),
    };
  }

  /** The `status!<kind>!<status>!<id>` keys of the store's index. */
  async statusIndex(): Promise<string[]> {
    await this.ledger.host.settled();
    const out: string[] = [];
    for await (const key of this.ledger.store.keys('index', { gte: 'status!', lt: 'status!\uffff' })) out.push(key);
    return out;
  }
}

/** Runs `body` against a fresh driver and always removes its data dir. */
export async function withDriver<T>(sc: Scenario, body: (d: Driver) => Promise<T>): Promise<T> {
  const d = await Driver.start(sc);
  try {
    return await body(d);
  } finally {
    await d.dispose();
  }
}
