/**
 * Models of the three machines for @xstate/graph: concrete payload events as a function of
 * the snapshot, and a coarse state serialization so the (otherwise unbounded: quantities,
 * fill ids) state space is finite while still telling apart the situations the guards see.
 */
import { Decimal } from 'decimal.js';
import { getShortestPaths } from '@xstate/graph';
import type { AnyMachineSnapshot, AnyStateMachine } from 'xstate';
import { executionGroupMachine, type GroupEvent, type GroupInput } from '../../machines/execution-group.js';
import { orderMachine, type OrderEvent, type OrderInput } from '../../machines/order.js';
import { tradePlanMachine, type PlanEvent, type PlanInput } from '../../machines/trade-plan.js';
import { OrderEventInputSchema } from '../../src/domain/requests.js';
import type { ExecutionGroupContext, OrderContext, OrderStatus, TradePlanContext } from '../../src/domain/schemas.js';
import { fillIdFor, isoAt, stepAt, T0 } from './harness.js';

const d = (v: string) => new Decimal(v);

/** Event types the machine handles anywhere (the machines grow new ones; offer those too). */
export function knows(machine: AnyStateMachine, type: string): boolean {
  return (machine.events as readonly string[]).includes(type);
}

/** An event of a type that may be newer than this test's view of the machine's event union. */
function loose<E>(e: { type: string; at: string } & Record<string, unknown>): E {
  return e as unknown as E;
}
/** Placeholder `at` during traversal; every path is re-stamped with per-step times. */
const AT = isoAt(T0);

// ---- order ---------------------------------------------------------------------------------

export function orderEvents(s: AnyMachineSnapshot): OrderEvent[] {
  const c = s.context as OrderContext;
  const remaining = d(c.quantity).minus(c.filledQuantity);
  const filled = d(c.filledQuantity);
  const n = c.tradeIds.length;
  const fill = (tag: string, quantity: Decimal, tradeId = `T${n}-${tag}`): OrderEvent => ({
    type: 'FILL',
    at: AT,
    fillId: fillIdFor(0),
    tradeId,
    quantity: quantity.toFixed(),
    price: tag === 'partial' ? '100.5' : '99.25',
    fee: '0.01',
    feeCurrency: 'USDT',
    liquidity: tag === 'partial' ? 'MAKER' : 'TAKER',
  });
  const events: OrderEvent[] = [
    { type: 'SUBMIT', at: AT },
    { type: 'ACCEPTED', at: AT, connectorOrderId: 'EX-1' },
    { type: 'ACCEPTED', at: AT, connectorOrderId: null },
    { type: 'CANCEL', at: AT, reason: 'user cancel' },
    { type: 'CANCELED', at: AT, reason: 'exchange canceled' },
    { type: 'CANCEL_REJECTED', at: AT, reason: 'too late to cancel' },
    // valid: a larger quantity; a smaller one still above the filled quantity; price only
    { type: 'MODIFY', at: AT, price: null, stopPrice: null, quantity: d(c.quantity).plus(5).toFixed() },
    { type: 'MODIFY', at: AT, price: null, stopPrice: null, quantity: filled.plus(remaining.dividedBy(2)).toFixed() },
    { type: 'MODIFY', at: AT, price: '101', stopPrice: null, quantity: null },
    // invalid: nothing to change; a quantity not above what is filled
    { type: 'MODIFY', at: AT, price: null, stopPrice: null, quantity: null },
    { type: 'MODIFIED', at: AT },
    { type: 'MODIFY_REJECTED', at: AT, reason: 'modify rejected' },
    { type: 'REJECTED', at: AT, reason: 'insufficient balance' },
    { type: 'EXPIRED', at: AT },
  ];
  if (filled.greaterThan(0)) events.push({ type: 'MODIFY', at: AT, price: null, stopPrice: null, quantity: filled.toFixed() });
  if (remaining.greaterThan(0)) {
    events.push(fill('partial', remaining.times('0.4')));
    events.push(fill('complete', remaining));
    events.push(fill('overfill', remaining.plus(1)));
  }
  // a fill racing a pending quantity change, up to the requested (smaller) quantity
  const wanted = c.pendingUpdate?.quantity;
  if (wanted != null && d(wanted).greaterThan(filled) && d(wanted).lessThan(c.quantity)) {
    events.push(fill('to-pending-quantity', d(wanted).minus(filled)));
    // ... and past it, still short of the current quantity
    events.push(fill('past-pending-quantity', d(wanted).plus(c.quantity).dividedBy(2).minus(filled)));
  }
  const last = c.tradeIds[c.tradeIds.length - 1];
  if (last !== undefined) events.push(fill('duplicate', d('1'), last));
  if (ORDER_RESIZED) {
    // the exchange shrinks the order: to nothing, to what is filled, to half of what remains, or grows it
    const sizes = new Set(['0', filled.toFixed(), filled.plus(remaining.dividedBy(2)).toFixed(), d(c.quantity).plus(1).toFixed()]);
    for (const quantity of sizes) events.push(loose<OrderEvent>({ type: 'RESIZED', at: AT, quantity }));
  }
  return events;
}

/** RESIZED exists in the machine and in the ledger's event input schema. */
export const ORDER_RESIZED =
  knows(orderMachine as AnyStateMachine, 'RESIZED') && OrderEventInputSchema.safeParse({ type: 'RESIZED', quantity: '1' }).success;

export function orderKey(s: AnyMachineSnapshot): string {
  const c = s.context as OrderContext;
  const filled = d(c.filledQuantity);
  const u = c.pendingUpdate;
  // pending change: price only, a larger quantity, a smaller one, or one already filled
  const upd =
    u === null
      ? '-'
      : u.quantity === null
        ? 'p'
        : filled.greaterThan(u.quantity)
          ? 'q<filled'
          : filled.equals(u.quantity)
            ? 'q=filled'
          : d(u.quantity).greaterThan(c.quantity)
            ? 'q+'
            : 'q-';
  return `${String(s.value)}|filled:${filled.greaterThan(0)}|upd:${upd}`;
}

// ---- execution group -----------------------------------------------------------------------

export const orderIdN = (i: number) => `ORD_20250101_000000_ord${String(i).padStart(2, '0')}`;
export const groupIdN = (i: number) => `EXG_20250101_000000_grp${String(i).padStart(2, '0')}`;

export function groupEvents(s: AnyMachineSnapshot): GroupEvent[] {
  const c = s.context as ExecutionGroupContext;
  const filled = d(c.filledQuantity ?? '0');
  const target = d(c.targetQuantity ?? '10');
  const events: GroupEvent[] = [];
  if (c.orderIds.length < 2) events.push({ type: 'ORDER_ADDED', at: AT, orderId: orderIdN(c.orderIds.length + 1) });
  if (c.orderIds.length > 0) events.push({ type: 'ORDER_ADDED', at: AT, orderId: c.orderIds[0]! });
  const orderFilled = (orderId: string, quantity: Decimal): GroupEvent => ({
    type: 'ORDER_FILLED',
    at: AT,
    orderId,
    fillId: fillIdFor(0),
    role: 'ENTRY',
    side: 'BUY',
    quantity: quantity.toFixed(),
    price: '100.5',
    fee: '0.02',
  });
  for (const orderId of c.openOrderIds) {
    events.push(orderFilled(orderId, d('4')));
    if (target.greaterThan(filled)) events.push(orderFilled(orderId, target.minus(filled)));
    for (const status of ['FILLED', 'CANCELED', 'REJECTED', 'EXPIRED'] as OrderStatus[]) {
      events.push({ type: 'ORDER_CLOSED', at: AT, orderId, status, reason: status === 'REJECTED' ? 'price out of band' : null });
    }
  }
  events.push(orderFilled('ORD_20250101_000000_zzz99', d('1')));
  events.push({ type: 'ORDER_CLOSED', at: AT, orderId: 'ORD_20250101_000000_zzz99', status: 'CANCELED', reason: null });
  events.push({ type: 'CANCEL', at: AT });
  events.push({ type: 'FAIL', at: AT, reason: 'no liquidity' });
  return events;
}

export function groupKey(s: AnyMachineSnapshot): string {
  const c = s.context as ExecutionGroupContext;
  const filled = d(c.filledQuantity ?? '0');
  const target = c.targetQuantity;
  const f = filled.isZero() ? 'none' : target !== null && filled.greaterThanOrEqualTo(target) ? 'target' : 'some';
  return `${String(s.value)}|orders:${c.orderIds.length}|open:${c.openOrderIds.length}|filled:${f}|rejected:${c.rejectedOrders}`;
}

// ---- trade plan ----------------------------------------------------------------------------

export function planEvents(s: AnyMachineSnapshot): PlanEvent[] {
  const c = s.context as TradePlanContext;
  const net = d(c.position.netQuantity);
  const events: PlanEvent[] = [];
  if (c.groupIds.length < 2) events.push({ type: 'GROUP_ADDED', at: AT, groupId: groupIdN(c.groupIds.length + 1) });
  if (c.groupIds.length > 0) events.push({ type: 'GROUP_ADDED', at: AT, groupId: c.groupIds[0]! });
  const filled = (groupId: string, side: 'BUY' | 'SELL', quantity: Decimal, price: string, role: 'ENTRY' | 'STOP_LOSS' | 'TAKE_PROFIT'): PlanEvent => ({
    type: 'FILLED',
    at: AT,
    groupId,
    orderId: orderIdN(1),
    fillId: fillIdFor(0),
    role,
    side,
    quantity: quantity.toFixed(),
    price,
    fee: '0.05',
  });
  // The plan's guards look at which group a fill or close comes from (known? open? last
  // open?), not at the group's status: every variant from the latest group, fewer from the rest.
  c.groupIds.forEach((groupId, i) => {
    const latest = i === c.groupIds.length - 1;
    if (latest) events.push(filled(groupId, 'BUY', d('2'), '100', 'ENTRY'));
    if (latest) events.push(filled(groupId, 'SELL', d('0.5'), '110.5', 'TAKE_PROFIT'));
    if (!net.isZero()) events.push(filled(groupId, net.isPositive() ? 'SELL' : 'BUY', net.abs(), '95.25', 'STOP_LOSS'));
  });
  c.openGroupIds.forEach((groupId, i) => {
    events.push({ type: 'GROUP_CLOSED', at: AT, groupId, status: i === 0 ? 'COMPLETED' : 'CANCELLED' });
  });
  events.push(filled('EXG_20250101_000000_zzz99', 'BUY', d('1'), '100', 'ENTRY'));
  events.push({ type: 'GROUP_CLOSED', at: AT, groupId: 'EXG_20250101_000000_zzz99', status: 'COMPLETED' });
  const plan = tradePlanMachine as AnyStateMachine;
  if (knows(plan, 'MARK')) events.push(loose<PlanEvent>({ type: 'MARK', at: AT, price: '101.5' }));
  if (knows(plan, 'EXIT_PLAN_SET')) {
    events.push(loose<PlanEvent>({ type: 'EXIT_PLAN_SET', at: AT, exitPlan: { stopLossPrice: '95', takeProfitPrice: '120', trailingOffset: null } }));
  }
  if (knows(plan, 'EXTERNAL_CLOSE')) events.push(loose<PlanEvent>({ type: 'EXTERNAL_CLOSE', at: AT, price: '97.5' }));
  return events;
}

export function planKey(s: AnyMachineSnapshot): string {
  const c = s.context as TradePlanContext;
  const net = d(c.position.netQuantity);
  const traded = d(c.position.boughtQuantity).plus(c.position.soldQuantity).greaterThan(0);
  const external = (c as { externalClose?: unknown }).externalClose != null;
  return `${String(s.value)}|groups:${c.groupIds.length}|open:${c.openGroupIds.length}|net:${net.isZero() ? 0 : net.isPositive() ? '+' : '-'}|traded:${traded}${external ? '|external-close' : ''}`;
}

// ---- paths ---------------------------------------------------------------------------------

export interface ModelPath<E> {
  /** Serialized (coarse) target state. */
  readonly key: string;
  readonly value: string;
  /** Concrete events, re-stamped: `at` per step, fresh fill ids. */
  readonly events: readonly E[];
}

/** Per-step `at` and fill ids, so every step is distinct and the runtime stores every fill. */
export function restamp<E extends { type: string; at: string }>(events: readonly E[]): E[] {
  return events.map((e, i) => {
    const out = { ...e, at: stepAt(i) } as E & { fillId?: string };
    if ('fillId' in e) out.fillId = fillIdFor(i);
    return out;
  });
}

export interface Model<E> {
  readonly name: string;
  readonly machine: AnyStateMachine;
  readonly input: { at: string };
  readonly key: (s: AnyMachineSnapshot) => string;
  readonly events: (s: AnyMachineSnapshot) => E[];
}

export function shortestPaths<E extends { type: string; at: string }>(m: Model<E>): ModelPath<E>[] {
  const paths = getShortestPaths(m.machine, {
    input: m.input,
    events: (s: AnyMachineSnapshot) => m.events(s) as never[],
    serializeState: (s: AnyMachineSnapshot) => m.key(s),
  } as never) as unknown as { state: AnyMachineSnapshot; steps: { event: E }[] }[];
  return paths.map((p) => ({
    key: m.key(p.state),
    value: String(p.state.value),
    // alterPath() puts an `xstate.init` step first; the rest are the events taken
    events: restamp(p.steps.map((st) => st.event).filter((e) => e.type !== 'xstate.init')),
  }));
}

/**
 * Every transition: the shortest path to each non-final state, extended by each event the
 * model offers there. Distinct (state, event type + payload) pairs only.
 */
export function edgePaths<E extends { type: string; at: string }>(
  m: Model<E>,
  fold: (events: readonly E[]) => AnyMachineSnapshot,
): { from: string; event: E; events: E[] }[] {
  const out: { from: string; event: E; events: E[] }[] = [];
  for (const p of shortestPaths(m)) {
    const end = fold(p.events);
    if (end.status !== 'active') continue;
    const seen = new Set<string>();
    for (const e of m.events(end)) {
      const sig = JSON.stringify({ ...e, at: undefined, fillId: undefined });
      if (seen.has(sig)) continue;
      seen.add(sig);
      out.push({ from: p.key, event: e, events: restamp([...p.events, e]) });
    }
  }
  return out;
}

export const ORDER_MACHINE = orderMachine as AnyStateMachine;
export const GROUP_MACHINE = executionGroupMachine as AnyStateMachine;
export const PLAN_MACHINE = tradePlanMachine as AnyStateMachine;
export type { GroupInput, OrderInput, PlanInput };
