import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type SnapshotFrom } from 'xstate';
import { executionGroupMachine, type GroupEvent, type GroupInput } from '../../machines/execution-group.js';
import type { GroupStatus, OrderRole, OrderStatus, Side } from '../../src/domain/schemas.js';
import { ExecutionGroupContextSchema } from '../../src/domain/schemas.js';
import {
  GROUP_ID,
  ORDER_ID,
  ORDER_ID_2,
  ORDER_ID_3,
  PLAN_ID,
  UNKNOWN_ORDER_ID,
  at,
  expectRefused,
  fillId,
  plain,
  type PlainAction,
} from './fixtures.js';

type GroupSnapshot = SnapshotFrom<typeof executionGroupMachine>;
type EventType = GroupEvent['type'];
type OrderFilled = Extract<GroupEvent, { type: 'ORDER_FILLED' }>;

// ---------------------------------------------------------------------------------------------
// builders
// ---------------------------------------------------------------------------------------------

function groupInput(overrides: Partial<GroupInput> = {}): GroupInput {
  return { groupId: GROUP_ID, parentPlanId: PLAN_ID, executionStrategy: 'SINGLE', targetQuantity: '10', at: at(0), ...overrides };
}

function start(overrides: Partial<GroupInput> = {}): GroupSnapshot {
  return initialTransition(executionGroupMachine, groupInput(overrides))[0];
}

function send(s: GroupSnapshot, e: GroupEvent) {
  return transition(executionGroupMachine, s, e);
}

/** Applies events one by one; each must be accepted. */
function drive(s: GroupSnapshot, ...events: GroupEvent[]): GroupSnapshot {
  let cur = s;
  for (const e of events) {
    const [next, actions] = send(cur, e);
    if (next === cur && actions.length === 0) throw new Error(`builder: ${e.type} refused in ${String(cur.value)}`);
    cur = next;
  }
  return cur;
}

const added = (orderId: string, t = 1): GroupEvent => ({ type: 'ORDER_ADDED', at: at(t), orderId });
function orderFilled(o: {
  orderId?: string;
  n: number;
  quantity: string;
  price?: string;
  fee?: string;
  role?: OrderRole;
  side?: Side;
}): OrderFilled {
  return {
    type: 'ORDER_FILLED',
    at: at(10 + o.n),
    orderId: o.orderId ?? ORDER_ID,
    fillId: fillId(o.n),
    role: o.role ?? 'ENTRY',
    side: o.side ?? 'BUY',
    quantity: o.quantity,
    price: o.price ?? '150.25',
    fee: o.fee ?? '0',
  };
}
const closed = (orderId: string, status: OrderStatus, reason: string | null = null, t = 30): GroupEvent => ({
  type: 'ORDER_CLOSED',
  at: at(t),
  orderId,
  status,
  reason,
});
const cancel = (t = 40): GroupEvent => ({ type: 'CANCEL', at: at(t) });
const fail = (reason = 'no liquidity', t = 50): GroupEvent => ({ type: 'FAIL', at: at(t), reason });

function eventOf(type: EventType): GroupEvent {
  switch (type) {
    case 'ORDER_ADDED':
      return added(ORDER_ID_3, 60);
    case 'ORDER_FILLED':
      return orderFilled({ n: 90, quantity: '1' });
    case 'ORDER_CLOSED':
      return closed(ORDER_ID, 'FILLED');
    case 'CANCEL':
      return cancel();
    case 'FAIL':
      return fail();
  }
}
const ALL_EVENT_TYPES: EventType[] = ['ORDER_ADDED', 'ORDER_FILLED', 'ORDER_CLOSED', 'CANCEL', 'FAIL'];

/** A fresh group (target 10) driven to `state`. */
function groupIn(state: GroupStatus): GroupSnapshot {
  const s = start();
  switch (state) {
    case 'PENDING':
      return s;
    case 'ACTIVE':
      return drive(s, added(ORDER_ID));
    case 'COMPLETED':
      return drive(s, added(ORDER_ID), orderFilled({ n: 1, quantity: '10' }), closed(ORDER_ID, 'FILLED'));
    case 'PARTIAL':
      return drive(s, added(ORDER_ID), orderFilled({ n: 1, quantity: '4' }), closed(ORDER_ID, 'CANCELED'));
    case 'CANCELLED':
      return drive(s, cancel());
    case 'FAILED':
      return drive(s, fail());
  }
}

function groupClosedAction(status: GroupStatus, closedAt: string): PlainAction {
  return { type: 'notifyParent', params: { to: PLAN_ID, event: { type: 'GROUP_CLOSED', groupId: GROUP_ID, status, at: closedAt } } };
}

function forwardedAction(e: OrderFilled): PlainAction {
  return {
    type: 'notifyParent',
    params: {
      to: PLAN_ID,
      event: {
        type: 'FILLED',
        groupId: GROUP_ID,
        orderId: e.orderId,
        fillId: e.fillId,
        role: e.role,
        side: e.side,
        quantity: e.quantity,
        price: e.price,
        fee: e.fee,
        at: e.at,
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------

describe('executionGroupMachine: initial state', () => {
  it('starts PENDING with no orders and nothing filled, with no actions', () => {
    const [s, actions] = initialTransition(executionGroupMachine, groupInput({ executionStrategy: 'TWAP' }));
    expect(s.value).toBe('PENDING');
    expect(actions).toEqual([]);
    expect(s.context).toEqual({
      groupId: GROUP_ID,
      parentPlanId: PLAN_ID,
      executionStrategy: 'TWAP',
      orderIds: [],
      openOrderIds: [],
      createdAt: at(0),
      updatedAt: at(0),
      targetQuantity: '10',
      filledQuantity: '0',
      cancelledAt: null,
      completedAt: null,
      cancelRequested: false,
      rejectedOrders: 0,
      reason: null,
    });
    expect(ExecutionGroupContextSchema.safeParse(s.context).success).toBe(true);
  });
});

describe('executionGroupMachine: PENDING', () => {
  it('ORDER_ADDED -> ACTIVE with the order open', () => {
    const s = groupIn('PENDING');
    const [next, actions] = send(s, added(ORDER_ID, 3));
    expect(next.value).toBe('ACTIVE');
    expect(next.context).toMatchObject({ orderIds: [ORDER_ID], openOrderIds: [ORDER_ID], updatedAt: at(3) });
    expect(actions).toEqual([]);
  });

  it('CANCEL -> CANCELLED, notifying the plan', () => {
    const s = groupIn('PENDING');
    const [next, actions] = send(s, cancel(40));
    expect(next.value).toBe('CANCELLED');
    expect(next.status).toBe('done');
    expect(next.context).toMatchObject({ cancelRequested: true, cancelledAt: at(40), updatedAt: at(40) });
    expect(plain(actions)).toEqual([groupClosedAction('CANCELLED', at(40))]);
  });

  it('FAIL -> FAILED with the reason, notifying the plan', () => {
    const s = groupIn('PENDING');
    const [next, actions] = send(s, fail('strategy aborted', 50));
    expect(next.value).toBe('FAILED');
    expect(next.context).toMatchObject({ reason: 'strategy aborted', updatedAt: at(50) });
    expect(plain(actions)).toEqual([groupClosedAction('FAILED', at(50))]);
  });

  it.each<EventType>(['ORDER_FILLED', 'ORDER_CLOSED'])('refuses %s', (type) => {
    const s = groupIn('PENDING');
    expectRefused(send(s, eventOf(type)), s);
  });
});

describe('executionGroupMachine: ACTIVE', () => {
  it('ORDER_ADDED of a new order stays ACTIVE and tracks it as open', () => {
    const s = groupIn('ACTIVE');
    const [next, actions] = send(s, added(ORDER_ID_2, 4));
    expect(next.value).toBe('ACTIVE');
    expect(next.context).toMatchObject({ orderIds: [ORDER_ID, ORDER_ID_2], openOrderIds: [ORDER_ID, ORDER_ID_2], updatedAt: at(4) });
    expect(actions).toEqual([]);
  });

  it('ORDER_ADDED of an order already added is refused', () => {
    const s = groupIn('ACTIVE');
    expectRefused(send(s, added(ORDER_ID, 4)), s);
  });

  it('ORDER_FILLED adds to filledQuantity and forwards FILLED to the plan', () => {
    const s = groupIn('ACTIVE');
    const e = orderFilled({ n: 1, quantity: '4', price: '150.25', fee: '0.1', role: 'ENTRY', side: 'BUY' });
    const [next, actions] = send(s, e);
    expect(next.value).toBe('ACTIVE');
    expect(next.context).toMatchObject({ filledQuantity: '4', updatedAt: e.at, openOrderIds: [ORDER_ID] });
    expect(plain(actions)).toEqual([forwardedAction(e)]);
  });

  it('ORDER_FILLED quantities add up as exact decimals', () => {
    const s = drive(groupIn('ACTIVE'), orderFilled({ n: 1, quantity: '0.1' }));
    const e = orderFilled({ n: 2, quantity: '0.2', role: 'STOP_LOSS', side: 'SELL', price: '144.9' });
    const [next, actions] = send(s, e);
    expect(next.context.filledQuantity).toBe('0.3');
    expect(plain(actions)).toEqual([forwardedAction(e)]);
  });

  it('ORDER_FILLED for an unknown order is refused', () => {
    const s = groupIn('ACTIVE');
    expectRefused(send(s, orderFilled({ orderId: UNKNOWN_ORDER_ID, n: 1, quantity: '1' })), s);
  });

  it('last ORDER_CLOSED with filled == target -> COMPLETED, notifying the plan', () => {
    const s = drive(groupIn('ACTIVE'), orderFilled({ n: 1, quantity: '10' }));
    const [next, actions] = send(s, closed(ORDER_ID, 'FILLED', null, 30));
    expect(next.value).toBe('COMPLETED');
    expect(next.status).toBe('done');
    expect(next.context).toMatchObject({ openOrderIds: [], orderIds: [ORDER_ID], completedAt: at(30), updatedAt: at(30), filledQuantity: '10' });
    expect(plain(actions)).toEqual([groupClosedAction('COMPLETED', at(30))]);
  });

  it('last ORDER_CLOSED with filled > target -> COMPLETED, even if the last order was canceled', () => {
    const s = drive(
      groupIn('ACTIVE'),
      added(ORDER_ID_2),
      orderFilled({ n: 1, quantity: '6' }),
      orderFilled({ orderId: ORDER_ID_2, n: 2, quantity: '6' }),
      closed(ORDER_ID, 'FILLED'),
    );
    const [next, actions] = send(s, closed(ORDER_ID_2, 'CANCELED', null, 31));
    expect(next.value).toBe('COMPLETED');
    expect(next.context.filledQuantity).toBe('12');
    expect(plain(actions)).toEqual([groupClosedAction('COMPLETED', at(31))]);
  });

  it('without a target: last order FILLED and no rejection -> COMPLETED', () => {
    const s = drive(start({ targetQuantity: null }), added(ORDER_ID), orderFilled({ n: 1, quantity: '3' }));
    const [next, actions] = send(s, closed(ORDER_ID, 'FILLED'));
    expect(next.value).toBe('COMPLETED');
    expect(plain(actions)).toEqual([groupClosedAction('COMPLETED', at(30))]);
  });

  it('without a target: last order FILLED after another was rejected -> PARTIAL', () => {
    const s = drive(
      start({ targetQuantity: null }),
      added(ORDER_ID),
      added(ORDER_ID_2),
      closed(ORDER_ID, 'REJECTED', 'price band', 20),
      orderFilled({ orderId: ORDER_ID_2, n: 1, quantity: '3' }),
    );
    const [next, actions] = send(s, closed(ORDER_ID_2, 'FILLED'));
    expect(next.value).toBe('PARTIAL');
    expect(plain(actions)).toEqual([groupClosedAction('PARTIAL', at(30))]);
  });

  it('last ORDER_CLOSED with some but not all filled -> PARTIAL, notifying the plan', () => {
    const s = drive(groupIn('ACTIVE'), orderFilled({ n: 1, quantity: '4' }));
    const [next, actions] = send(s, closed(ORDER_ID, 'CANCELED', null, 30));
    expect(next.value).toBe('PARTIAL');
    expect(next.status).toBe('done');
    expect(next.context).toMatchObject({ openOrderIds: [], filledQuantity: '4', completedAt: null });
    expect(plain(actions)).toEqual([groupClosedAction('PARTIAL', at(30))]);
  });

  it('last ORDER_CLOSED EXPIRED with some filled -> PARTIAL', () => {
    const s = drive(groupIn('ACTIVE'), orderFilled({ n: 1, quantity: '9.99' }));
    expect(send(s, closed(ORDER_ID, 'EXPIRED'))[0].value).toBe('PARTIAL');
  });

  it('the only order REJECTED -> FAILED with its reason, notifying the plan', () => {
    const s = groupIn('ACTIVE');
    const [next, actions] = send(s, closed(ORDER_ID, 'REJECTED', 'insufficient margin', 30));
    expect(next.value).toBe('FAILED');
    expect(next.context).toMatchObject({ rejectedOrders: 1, reason: 'insufficient margin', openOrderIds: [] });
    expect(plain(actions)).toEqual([groupClosedAction('FAILED', at(30))]);
  });

  it('every order REJECTED (the last one closing) -> FAILED', () => {
    const s = drive(groupIn('ACTIVE'), added(ORDER_ID_2), closed(ORDER_ID, 'REJECTED', 'first', 20));
    expect(s.value).toBe('ACTIVE');
    const [next, actions] = send(s, closed(ORDER_ID_2, 'REJECTED', 'second', 30));
    expect(next.value).toBe('FAILED');
    expect(next.context).toMatchObject({ rejectedOrders: 2, reason: 'second' });
    expect(plain(actions)).toEqual([groupClosedAction('FAILED', at(30))]);
  });

  it('last order REJECTED but an earlier one was canceled, nothing filled -> CANCELLED (not FAILED)', () => {
    const s = drive(groupIn('ACTIVE'), added(ORDER_ID_2), closed(ORDER_ID, 'CANCELED', null, 20));
    const [next, actions] = send(s, closed(ORDER_ID_2, 'REJECTED', 'late reject', 30));
    expect(next.value).toBe('CANCELLED');
    expect(next.context.rejectedOrders).toBe(1);
    expect(plain(actions)).toEqual([groupClosedAction('CANCELLED', at(30))]);
  });

  it('last ORDER_CLOSED with nothing filled -> CANCELLED, notifying the plan', () => {
    const s = groupIn('ACTIVE');
    const [next, actions] = send(s, closed(ORDER_ID, 'CANCELED', null, 30));
    expect(next.value).toBe('CANCELLED');
    expect(next.context).toMatchObject({ openOrderIds: [], cancelledAt: at(30), filledQuantity: '0' });
    expect(plain(actions)).toEqual([groupClosedAction('CANCELLED', at(30))]);
  });

  it('last ORDER_CLOSED EXPIRED with nothing filled -> CANCELLED', () => {
    const s = groupIn('ACTIVE');
    expect(send(s, closed(ORDER_ID, 'EXPIRED'))[0].value).toBe('CANCELLED');
  });

  it('ORDER_CLOSED of an order that is not the last open one only removes it from openOrderIds', () => {
    const s = drive(groupIn('ACTIVE'), added(ORDER_ID_2), orderFilled({ n: 1, quantity: '10' }));
    const [next, actions] = send(s, closed(ORDER_ID, 'FILLED', null, 30));
    expect(next.value).toBe('ACTIVE');
    expect(next.context).toMatchObject({ orderIds: [ORDER_ID, ORDER_ID_2], openOrderIds: [ORDER_ID_2], updatedAt: at(30), rejectedOrders: 0 });
    expect(actions).toEqual([]);
  });

  it('a not-last REJECTED close counts the rejection and keeps its reason', () => {
    const s = drive(groupIn('ACTIVE'), added(ORDER_ID_2));
    const [next, actions] = send(s, closed(ORDER_ID_2, 'REJECTED', 'post-only would cross'));
    expect(next.value).toBe('ACTIVE');
    expect(next.context).toMatchObject({ openOrderIds: [ORDER_ID], rejectedOrders: 1, reason: 'post-only would cross' });
    expect(actions).toEqual([]);
  });

  it('ORDER_CLOSED for an unknown order is refused', () => {
    const s = groupIn('ACTIVE');
    expectRefused(send(s, closed(UNKNOWN_ORDER_ID, 'CANCELED')), s);
  });

  it('ORDER_CLOSED twice for the same order is refused the second time', () => {
    const s = drive(groupIn('ACTIVE'), added(ORDER_ID_2), closed(ORDER_ID, 'CANCELED'));
    expectRefused(send(s, closed(ORDER_ID, 'CANCELED', null, 31)), s);
  });

  it('CANCEL stays ACTIVE (orders must close first) and records the request', () => {
    const s = groupIn('ACTIVE');
    const [next, actions] = send(s, cancel(40));
    expect(next.value).toBe('ACTIVE');
    expect(next.context).toMatchObject({ cancelRequested: true, cancelledAt: at(40), updatedAt: at(40) });
    expect(actions).toEqual([]);
  });

  it('after CANCEL, the last order closing with nothing filled -> CANCELLED at the request time', () => {
    const s = drive(groupIn('ACTIVE'), cancel(40));
    const [next, actions] = send(s, closed(ORDER_ID, 'CANCELED', null, 45));
    expect(next.value).toBe('CANCELLED');
    expect(next.context.cancelledAt).toBe(at(40));
    expect(plain(actions)).toEqual([groupClosedAction('CANCELLED', at(45))]);
  });

  it('after CANCEL, the last order closing with a partial fill -> PARTIAL', () => {
    const s = drive(groupIn('ACTIVE'), orderFilled({ n: 1, quantity: '2' }), cancel(40));
    expect(send(s, closed(ORDER_ID, 'CANCELED', null, 45))[0].value).toBe('PARTIAL');
  });

  it('FAIL is refused', () => {
    const s = groupIn('ACTIVE');
    expectRefused(send(s, fail()), s);
  });
});

describe('executionGroupMachine: terminal states absorb everything', () => {
  const TERMINAL: GroupStatus[] = ['COMPLETED', 'PARTIAL', 'CANCELLED', 'FAILED'];

  it.each(TERMINAL)('%s is final (status done)', (state) => {
    expect(groupIn(state).status).toBe('done');
  });

  for (const state of TERMINAL) {
    it.each(ALL_EVENT_TYPES)(`${state} refuses %s`, (type) => {
      const s = groupIn(state);
      expectRefused(send(s, eventOf(type)), s);
    });
  }

  it('COMPLETED refuses a late fill of its own order', () => {
    const s = groupIn('COMPLETED');
    expectRefused(send(s, orderFilled({ n: 5, quantity: '1' })), s);
  });

  it('every terminal context still satisfies the group schema', () => {
    for (const state of TERMINAL) {
      const parsed = ExecutionGroupContextSchema.safeParse(groupIn(state).context);
      expect(parsed.success, `${state}: ${parsed.success ? '' : parsed.error.message}`).toBe(true);
    }
  });
});
