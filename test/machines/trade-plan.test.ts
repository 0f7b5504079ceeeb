import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type SnapshotFrom } from 'xstate';
import { tradePlanMachine, type PlanEvent, type PlanInput } from '../../machines/trade-plan.js';
import type { ExitReason, GroupStatus, OrderRole, PlanStatus, Side } from '../../src/domain/schemas.js';
import { TradePlanContextSchema } from '../../src/domain/schemas.js';
import {
  GROUP_ID,
  GROUP_ID_2,
  GROUP_ID_3,
  ORDER_ID,
  PLAN_ID,
  UNKNOWN_GROUP_ID,
  at,
  expectRefused,
  fillId,
} from './fixtures.js';

type PlanSnapshot = SnapshotFrom<typeof tradePlanMachine>;
type EventType = PlanEvent['type'];

// ---------------------------------------------------------------------------------------------
// builders
// ---------------------------------------------------------------------------------------------

function planInput(overrides: Partial<PlanInput> = {}): PlanInput {
  return {
    planId: PLAN_ID,
    strategyInstanceId: 'momentum-1',
    symbol: 'AAPL',
    direction: 'BUY',
    comments: null,
    exitPlan: null,
    at: at(0),
    ...overrides,
  };
}

function start(overrides: Partial<PlanInput> = {}): PlanSnapshot {
  return initialTransition(tradePlanMachine, planInput(overrides))[0];
}

function send(s: PlanSnapshot, e: PlanEvent) {
  return transition(tradePlanMachine, s, e);
}

/** Applies events one by one; each must be accepted. */
function drive(s: PlanSnapshot, ...events: PlanEvent[]): PlanSnapshot {
  let cur = s;
  for (const e of events) {
    const [next, actions] = send(cur, e);
    if (next === cur && actions.length === 0) throw new Error(`builder: ${e.type} refused in ${String(cur.value)}`);
    cur = next;
  }
  return cur;
}

const groupAdded = (groupId: string, t = 1): PlanEvent => ({ type: 'GROUP_ADDED', at: at(t), groupId });
const groupClosed = (groupId: string, status: GroupStatus = 'COMPLETED', t = 40): PlanEvent => ({
  type: 'GROUP_CLOSED',
  at: at(t),
  groupId,
  status,
});
function filled(o: {
  n: number;
  side: Side;
  quantity: string;
  price: string;
  role?: OrderRole;
  fee?: string;
  groupId?: string;
}): PlanEvent {
  return {
    type: 'FILLED',
    at: at(10 + o.n),
    groupId: o.groupId ?? GROUP_ID,
    orderId: ORDER_ID,
    fillId: fillId(o.n),
    role: o.role ?? 'ENTRY',
    side: o.side,
    quantity: o.quantity,
    price: o.price,
    fee: o.fee ?? '0',
  };
}
const buy = (n: number, quantity: string, price: string, more: Partial<Parameters<typeof filled>[0]> = {}) =>
  filled({ n, side: 'BUY', quantity, price, ...more });
const sell = (n: number, quantity: string, price: string, more: Partial<Parameters<typeof filled>[0]> = {}) =>
  filled({ n, side: 'SELL', quantity, price, ...more });

function eventOf(type: EventType): PlanEvent {
  switch (type) {
    case 'GROUP_ADDED':
      return groupAdded(GROUP_ID_3, 70);
    case 'FILLED':
      return buy(90, '1', '150');
    case 'GROUP_CLOSED':
      return groupClosed(GROUP_ID);
    case 'EXIT_PLAN_SET':
      return { type: 'EXIT_PLAN_SET', at: at(71), exitPlan: { stopLossPrice: '140', takeProfitPrice: null, trailingOffset: null } };
    case 'MARK':
      return { type: 'MARK', at: at(72), price: '151' };
    case 'EXTERNAL_CLOSE':
      return { type: 'EXTERNAL_CLOSE', at: at(73), price: '149' };
  }
}
const ALL_EVENT_TYPES: EventType[] = ['GROUP_ADDED', 'FILLED', 'GROUP_CLOSED', 'EXIT_PLAN_SET', 'MARK', 'EXTERNAL_CLOSE'];

/**
 * A fresh plan driven to `state`. ACTIVE: long 10 @ 150.25 with the entry group (GROUP_ID) and a
 * protection group (GROUP_ID_2) open.
 */
function planIn(state: PlanStatus): PlanSnapshot {
  const s = start();
  switch (state) {
    case 'PENDING':
      return drive(s, groupAdded(GROUP_ID));
    case 'ACTIVE':
      return drive(s, groupAdded(GROUP_ID), groupAdded(GROUP_ID_2, 2), buy(1, '10', '150.25'));
    case 'CLOSED':
      return drive(
        planIn('ACTIVE'),
        groupClosed(GROUP_ID, 'COMPLETED', 20),
        sell(2, '10', '144.90', { role: 'STOP_LOSS', groupId: GROUP_ID_2 }),
        groupClosed(GROUP_ID_2, 'COMPLETED', 40),
      );
    case 'CANCELLED':
      return drive(s, groupAdded(GROUP_ID), groupClosed(GROUP_ID, 'CANCELLED'));
  }
}

// ---------------------------------------------------------------------------------------------

describe('tradePlanMachine: initial state', () => {
  it('starts PENDING, flat, with no groups and no actions', () => {
    const [s, actions] = initialTransition(tradePlanMachine, planInput({ comments: 'breakout' }));
    expect(s.value).toBe('PENDING');
    expect(actions).toEqual([]);
    expect(s.context).toEqual({
      planId: PLAN_ID,
      strategyInstanceId: 'momentum-1',
      symbol: 'AAPL',
      direction: 'BUY',
      comments: 'breakout',
      exitPlan: null,
      mark: null,
      externalClose: null,
      groupIds: [],
      openGroupIds: [],
      position: { netQuantity: '0', averageEntryPrice: null, costBasis: '0', realizedPnl: '0', fees: '0', boughtQuantity: '0', soldQuantity: '0' },
      exitReason: null,
      createdAt: at(0),
      updatedAt: at(0),
      closedAt: null,
    });
    expect(TradePlanContextSchema.safeParse(s.context).success).toBe(true);
  });
});

describe('tradePlanMachine: PENDING', () => {
  it('GROUP_ADDED stays PENDING and tracks the group as open', () => {
    const s = start();
    const [next, actions] = send(s, groupAdded(GROUP_ID, 1));
    expect(next.value).toBe('PENDING');
    expect(next.context).toMatchObject({ groupIds: [GROUP_ID], openGroupIds: [GROUP_ID], updatedAt: at(1) });
    expect(actions).toEqual([]);
    const [second] = send(next, groupAdded(GROUP_ID_2, 2));
    expect(second.context).toMatchObject({ groupIds: [GROUP_ID, GROUP_ID_2], openGroupIds: [GROUP_ID, GROUP_ID_2] });
  });

  it('GROUP_ADDED of a known group is refused', () => {
    const s = planIn('PENDING');
    expectRefused(send(s, groupAdded(GROUP_ID, 3)), s);
  });

  it('first FILLED -> ACTIVE with the position opened', () => {
    const s = planIn('PENDING');
    const e = buy(1, '10', '150.25', { fee: '1.5' });
    const [next, actions] = send(s, e);
    expect(next.value).toBe('ACTIVE');
    expect(next.context.position).toEqual({
      netQuantity: '10',
      averageEntryPrice: '150.25',
      costBasis: '1502.5',
      realizedPnl: '0',
      fees: '1.5',
      boughtQuantity: '10',
      soldQuantity: '0',
    });
    expect(next.context.exitReason).toBeNull();
    expect(next.context.updatedAt).toBe(e.at);
    expect(actions).toEqual([]);
  });

  it('first FILLED of a SELL plan opens a short (negative net quantity)', () => {
    const s = drive(start({ direction: 'SELL' }), groupAdded(GROUP_ID));
    const [next] = send(s, sell(1, '5', '100'));
    expect(next.value).toBe('ACTIVE');
    expect(next.context.position).toMatchObject({ netQuantity: '-5', averageEntryPrice: '100', soldQuantity: '5', boughtQuantity: '0' });
  });

  it('FILLED from an unknown group is refused', () => {
    const s = planIn('PENDING');
    expectRefused(send(s, buy(1, '10', '150', { groupId: UNKNOWN_GROUP_ID })), s);
  });

  it('FILLED before any group is refused', () => {
    const s = start();
    expectRefused(send(s, buy(1, '10', '150')), s);
  });

  it('last GROUP_CLOSED without any fill -> CANCELLED', () => {
    const s = planIn('PENDING');
    const [next, actions] = send(s, groupClosed(GROUP_ID, 'CANCELLED', 40));
    expect(next.value).toBe('CANCELLED');
    expect(next.status).toBe('done');
    expect(next.context).toMatchObject({ openGroupIds: [], groupIds: [GROUP_ID], closedAt: at(40), updatedAt: at(40), exitReason: null });
    expect(actions).toEqual([]);
  });

  it('last GROUP_CLOSED FAILED without any fill -> CANCELLED too', () => {
    const s = planIn('PENDING');
    expect(send(s, groupClosed(GROUP_ID, 'FAILED'))[0].value).toBe('CANCELLED');
  });

  it('a not-last GROUP_CLOSED only removes the group from openGroupIds', () => {
    const s = drive(planIn('PENDING'), groupAdded(GROUP_ID_2, 2));
    const [next, actions] = send(s, groupClosed(GROUP_ID, 'CANCELLED', 40));
    expect(next.value).toBe('PENDING');
    expect(next.context).toMatchObject({ groupIds: [GROUP_ID, GROUP_ID_2], openGroupIds: [GROUP_ID_2], updatedAt: at(40) });
    expect(actions).toEqual([]);
  });

  it('GROUP_CLOSED for an unknown group is refused', () => {
    const s = planIn('PENDING');
    expectRefused(send(s, groupClosed(UNKNOWN_GROUP_ID)), s);
  });

  it('GROUP_CLOSED before any group is refused', () => {
    const s = start();
    expectRefused(send(s, groupClosed(GROUP_ID)), s);
  });
});

describe('tradePlanMachine: ACTIVE', () => {
  it('GROUP_ADDED of a new group stays ACTIVE', () => {
    const s = planIn('ACTIVE');
    const [next, actions] = send(s, groupAdded(GROUP_ID_3, 25));
    expect(next.value).toBe('ACTIVE');
    expect(next.context).toMatchObject({ groupIds: [GROUP_ID, GROUP_ID_2, GROUP_ID_3], openGroupIds: [GROUP_ID, GROUP_ID_2, GROUP_ID_3] });
    expect(actions).toEqual([]);
  });

  it('GROUP_ADDED of a known group is refused', () => {
    const s = planIn('ACTIVE');
    expectRefused(send(s, groupAdded(GROUP_ID_2, 25)), s);
  });

  it('an adding FILLED moves the weighted average entry and leaves exitReason alone', () => {
    const s = planIn('ACTIVE'); // long 10 @ 150.25
    const [next, actions] = send(s, buy(2, '10', '151.75', { fee: '0.5' }));
    expect(next.value).toBe('ACTIVE');
    // (10 * 150.25 + 10 * 151.75) / 20 = 151
    expect(next.context.position).toMatchObject({ netQuantity: '20', averageEntryPrice: '151', realizedPnl: '0', fees: '0.5', boughtQuantity: '20' });
    expect(next.context.exitReason).toBeNull();
    expect(actions).toEqual([]);
  });

  it('a reducing FILLED realizes P&L against the average entry, keeps the average, sets exitReason', () => {
    const s = planIn('ACTIVE'); // long 10 @ 150.25
    const [next] = send(s, sell(2, '4', '155.25', { role: 'TAKE_PROFIT', groupId: GROUP_ID_2, fee: '0.2' }));
    expect(next.value).toBe('ACTIVE');
    // (155.25 - 150.25) * 4 = 20
    expect(next.context.position).toEqual({
      netQuantity: '6',
      averageEntryPrice: '150.25',
      costBasis: '901.5',
      realizedPnl: '20',
      fees: '0.2',
      boughtQuantity: '10',
      soldQuantity: '4',
    });
    expect(next.context.exitReason).toBe('PROFIT_TAKEN');
  });

  it('a FILLED that flattens while a group is still open stays ACTIVE', () => {
    const s = planIn('ACTIVE');
    const [next, actions] = send(s, sell(2, '10', '150.25', { role: 'EXIT', groupId: GROUP_ID_2 }));
    expect(next.value).toBe('ACTIVE');
    expect(next.context.position).toMatchObject({ netQuantity: '0', averageEntryPrice: null, realizedPnl: '0' });
    expect(next.context.exitReason).toBe('CLOSED_BY_DIRECTIVE');
    expect(actions).toEqual([]);
  });

  it('a FILLED through zero flips the position: closes the old side, opens the rest at the fill price', () => {
    const s = planIn('ACTIVE'); // long 10 @ 150.25
    const [next] = send(s, sell(2, '15', '152.25', { role: 'EXIT', groupId: GROUP_ID_2 }));
    expect(next.value).toBe('ACTIVE');
    // closes 10: (152.25 - 150.25) * 10 = 20 ; opens short 5 @ 152.25
    expect(next.context.position).toMatchObject({ netQuantity: '-5', averageEntryPrice: '152.25', realizedPnl: '20', boughtQuantity: '10', soldQuantity: '15' });
  });

  it('FILLED from an unknown group (while groups are open) is refused', () => {
    const s = planIn('ACTIVE');
    expectRefused(send(s, sell(2, '10', '150', { groupId: UNKNOWN_GROUP_ID })), s);
  });

  it('FILLED from an unknown group is refused even when no group is open', () => {
    // long 10, every known group ended: a stray fill from a group the plan never had must not count
    const s = drive(planIn('ACTIVE'), groupClosed(GROUP_ID, 'COMPLETED', 20), groupClosed(GROUP_ID_2, 'CANCELLED', 21));
    expect(s.value).toBe('ACTIVE');
    expect(s.context.openGroupIds).toEqual([]);
    expectRefused(send(s, sell(2, '10', '150', { groupId: UNKNOWN_GROUP_ID })), s);
  });

  it('FILLED from an unknown group that does not flatten is refused when no group is open', () => {
    const s = drive(planIn('ACTIVE'), groupClosed(GROUP_ID, 'COMPLETED', 20), groupClosed(GROUP_ID_2, 'CANCELLED', 21));
    expectRefused(send(s, sell(2, '3', '150', { groupId: UNKNOWN_GROUP_ID })), s);
  });

  it('a known group\'s FILLED that flattens with no group open -> CLOSED', () => {
    const s = drive(planIn('ACTIVE'), groupClosed(GROUP_ID, 'COMPLETED', 20), groupClosed(GROUP_ID_2, 'CANCELLED', 21));
    const e = sell(2, '10', '160.25', { role: 'TAKE_PROFIT', groupId: GROUP_ID_2 });
    const [next, actions] = send(s, e);
    expect(next.value).toBe('CLOSED');
    expect(next.context.position).toMatchObject({ netQuantity: '0', realizedPnl: '100' });
    expect(next.context.exitReason).toBe('PROFIT_TAKEN');
    expect(next.context.closedAt).toBe(e.at);
    expect(actions).toEqual([]);
  });

  it('last GROUP_CLOSED when flat and traded -> CLOSED', () => {
    const s = drive(planIn('ACTIVE'), groupClosed(GROUP_ID, 'COMPLETED', 20), sell(2, '10', '150.25', { role: 'EXIT', groupId: GROUP_ID_2 }));
    const [next, actions] = send(s, groupClosed(GROUP_ID_2, 'COMPLETED', 40));
    expect(next.value).toBe('CLOSED');
    expect(next.status).toBe('done');
    expect(next.context).toMatchObject({ openGroupIds: [], closedAt: at(40), updatedAt: at(40), exitReason: 'CLOSED_BY_DIRECTIVE' });
    expect(actions).toEqual([]);
  });

  it.each<[OrderRole, ExitReason]>([
    ['STOP_LOSS', 'STOPPED_OUT'],
    ['TAKE_PROFIT', 'PROFIT_TAKEN'],
    ['EXIT', 'CLOSED_BY_DIRECTIVE'],
  ])('CLOSED after a %s fill flattened the position: exitReason %s', (role, reason) => {
    const s = drive(planIn('ACTIVE'), groupClosed(GROUP_ID, 'COMPLETED', 20), sell(2, '10', '149', { role, groupId: GROUP_ID_2 }));
    const [next] = send(s, groupClosed(GROUP_ID_2, 'COMPLETED', 40));
    expect(next.value).toBe('CLOSED');
    expect(next.context.exitReason).toBe(reason);
  });

  it('exitReason comes from the last reducing fill (take profit partly, stop loss for the rest)', () => {
    const s = drive(
      planIn('ACTIVE'),
      groupAdded(GROUP_ID_3, 3),
      groupClosed(GROUP_ID, 'COMPLETED', 20),
      sell(2, '4', '160', { role: 'TAKE_PROFIT', groupId: GROUP_ID_3 }),
      groupClosed(GROUP_ID_3, 'PARTIAL', 22),
      sell(3, '6', '145', { role: 'STOP_LOSS', groupId: GROUP_ID_2 }),
    );
    const [next] = send(s, groupClosed(GROUP_ID_2, 'COMPLETED', 40));
    expect(next.value).toBe('CLOSED');
    expect(next.context.exitReason).toBe('STOPPED_OUT');
    // (160 - 150.25) * 4 + (145 - 150.25) * 6 = 39 - 31.5 = 7.5
    expect(next.context.position.realizedPnl).toBe('7.5');
  });

  it('last GROUP_CLOSED when not flat stays ACTIVE with no open group', () => {
    const s = drive(planIn('ACTIVE'), groupClosed(GROUP_ID, 'COMPLETED', 20));
    const [next, actions] = send(s, groupClosed(GROUP_ID_2, 'CANCELLED', 40));
    expect(next.value).toBe('ACTIVE');
    expect(next.context).toMatchObject({ openGroupIds: [], closedAt: null, updatedAt: at(40) });
    expect(next.context.position.netQuantity).toBe('10');
    expect(actions).toEqual([]);
  });

  it('a not-last GROUP_CLOSED only removes the group, even when flat', () => {
    const s = drive(planIn('ACTIVE'), sell(2, '10', '151', { role: 'EXIT', groupId: GROUP_ID_2 }));
    const [next, actions] = send(s, groupClosed(GROUP_ID_2, 'COMPLETED', 40));
    expect(next.value).toBe('ACTIVE');
    expect(next.context.openGroupIds).toEqual([GROUP_ID]);
    expect(actions).toEqual([]);
  });

  it('after every group ended unflat, a new group can close the position -> CLOSED', () => {
    const s = drive(
      planIn('ACTIVE'),
      groupClosed(GROUP_ID, 'COMPLETED', 20),
      groupClosed(GROUP_ID_2, 'CANCELLED', 21),
      groupAdded(GROUP_ID_3, 22),
      sell(2, '10', '149.25', { role: 'EXIT', groupId: GROUP_ID_3 }),
    );
    expect(s.value).toBe('ACTIVE');
    const [next] = send(s, groupClosed(GROUP_ID_3, 'COMPLETED', 40));
    expect(next.value).toBe('CLOSED');
    expect(next.context.position.realizedPnl).toBe('-10');
    expect(next.context.exitReason).toBe('CLOSED_BY_DIRECTIVE');
  });

  it('GROUP_CLOSED for an unknown group is refused', () => {
    const s = planIn('ACTIVE');
    expectRefused(send(s, groupClosed(UNKNOWN_GROUP_ID)), s);
  });

  it('GROUP_CLOSED for a group already closed is refused', () => {
    const s = drive(planIn('ACTIVE'), groupClosed(GROUP_ID, 'COMPLETED', 20));
    expectRefused(send(s, groupClosed(GROUP_ID, 'COMPLETED', 21)), s);
  });
});

describe('tradePlanMachine: position math through the plan', () => {
  it('worked example: BUY 10 @ 150.25 then SELL 10 @ 144.90 (STOP_LOSS) -> realizedPnl -53.5, STOPPED_OUT', () => {
    const closed = planIn('CLOSED');
    expect(closed.value).toBe('CLOSED');
    expect(closed.context.position).toEqual({
      netQuantity: '0',
      averageEntryPrice: null,
      costBasis: '0',
      realizedPnl: '-53.5',
      fees: '0',
      boughtQuantity: '10',
      soldQuantity: '10',
    });
    expect(closed.context.exitReason).toBe('STOPPED_OUT');
    expect(closed.context.closedAt).toBe(at(40));
    expect(TradePlanContextSchema.safeParse(closed.context).success).toBe(true);
  });

  it('fees are kept apart from realized P&L', () => {
    const s = drive(
      planIn('PENDING'),
      groupAdded(GROUP_ID_2, 2),
      buy(1, '10', '150.25', { fee: '1.25' }),
      sell(2, '10', '144.90', { role: 'STOP_LOSS', groupId: GROUP_ID_2, fee: '1.2' }),
    );
    expect(s.context.position.realizedPnl).toBe('-53.5');
    expect(s.context.position.fees).toBe('2.45');
  });

  it('a short plan: SELL 5 @ 100, BUY 2 @ 90 then BUY 3 @ 104 (stop) realizes 20 - 12 = 8', () => {
    const s = drive(
      start({ direction: 'SELL' }),
      groupAdded(GROUP_ID),
      groupAdded(GROUP_ID_2, 2),
      sell(1, '5', '100'),
      buy(2, '2', '90', { role: 'TAKE_PROFIT', groupId: GROUP_ID_2 }),
    );
    expect(s.context.position).toMatchObject({ netQuantity: '-3', averageEntryPrice: '100', realizedPnl: '20' });
    expect(s.context.exitReason).toBe('PROFIT_TAKEN');
    const flat = drive(s, buy(3, '3', '104', { role: 'STOP_LOSS', groupId: GROUP_ID_2 }), groupClosed(GROUP_ID, 'COMPLETED', 30));
    expect(flat.value).toBe('ACTIVE');
    const [closed] = send(flat, groupClosed(GROUP_ID_2, 'COMPLETED', 40));
    expect(closed.value).toBe('CLOSED');
    expect(closed.context.position).toMatchObject({ netQuantity: '0', averageEntryPrice: null, realizedPnl: '8', boughtQuantity: '5', soldQuantity: '5' });
    expect(closed.context.exitReason).toBe('STOPPED_OUT');
  });

  it('flip through zero and back to flat: P&L realized on both legs', () => {
    const s = drive(
      planIn('ACTIVE'), // long 10 @ 150.25
      sell(2, '15', '152.25', { role: 'EXIT', groupId: GROUP_ID_2 }), // +20, short 5 @ 152.25
      buy(3, '5', '150.25', { role: 'EXIT', groupId: GROUP_ID_2 }), // +10, flat
      groupClosed(GROUP_ID, 'COMPLETED', 30),
    );
    const [closed] = send(s, groupClosed(GROUP_ID_2, 'COMPLETED', 40));
    expect(closed.value).toBe('CLOSED');
    expect(closed.context.position).toMatchObject({ netQuantity: '0', realizedPnl: '30', boughtQuantity: '15', soldQuantity: '15' });
  });
});

describe('tradePlanMachine: terminal states absorb everything', () => {
  const TERMINAL: PlanStatus[] = ['CLOSED', 'CANCELLED'];

  it.each(TERMINAL)('%s is final (status done)', (state) => {
    expect(planIn(state).status).toBe('done');
  });

  for (const state of TERMINAL) {
    it.each(ALL_EVENT_TYPES)(`${state} refuses %s`, (type) => {
      const s = planIn(state);
      expectRefused(send(s, eventOf(type)), s);
    });
  }

  it('CLOSED refuses a late fill from one of its own groups', () => {
    const s = planIn('CLOSED');
    expectRefused(send(s, buy(5, '1', '150', { groupId: GROUP_ID_2 })), s);
  });

  it('CANCELLED has a null exitReason and a valid context', () => {
    const s = planIn('CANCELLED');
    expect(s.context.exitReason).toBeNull();
    expect(TradePlanContextSchema.safeParse(s.context).success).toBe(true);
  });
});
