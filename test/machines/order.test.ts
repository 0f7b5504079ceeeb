import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type SnapshotFrom } from 'xstate';
import { orderMachine, type OrderEvent, type OrderInput } from '../../machines/order.js';
import type { OrderStatus } from '../../src/domain/schemas.js';
import { OrderContextSchema } from '../../src/domain/schemas.js';
import { GROUP_ID, ORDER_ID, PLAN_ID, at, expectRefused, fillId, plain, type PlainAction } from './fixtures.js';

type OrderSnapshot = SnapshotFrom<typeof orderMachine>;
type FillEvent = Extract<OrderEvent, { type: 'FILL' }>;
type EventType = OrderEvent['type'];

// ---------------------------------------------------------------------------------------------
// builders
// ---------------------------------------------------------------------------------------------

const CLIENT_ORDER_ID = 'cli-ORD_20240115_094500_abcde';

function orderInput(overrides: Partial<OrderInput> = {}): OrderInput {
  return {
    orderId: ORDER_ID,
    parentGroupId: GROUP_ID,
    parentPlanId: PLAN_ID,
    clientOrderId: CLIENT_ORDER_ID,
    symbol: 'AAPL',
    side: 'BUY',
    orderType: 'LIMIT',
    role: 'ENTRY',
    quantity: '10',
    price: '150.25',
    stopPrice: null,
    timeInForce: 'GTC',
    ocoGroup: null,
    at: at(0),
    ...overrides,
  };
}

function start(overrides: Partial<OrderInput> = {}): OrderSnapshot {
  return initialTransition(orderMachine, orderInput(overrides))[0];
}

function send(s: OrderSnapshot, e: OrderEvent) {
  return transition(orderMachine, s, e);
}

/** Applies events one by one; each must be accepted (a new snapshot or some action). */
function drive(s: OrderSnapshot, ...events: OrderEvent[]): OrderSnapshot {
  let cur = s;
  for (const e of events) {
    const [next, actions] = send(cur, e);
    if (next === cur && actions.length === 0) throw new Error(`builder: ${e.type} refused in ${String(cur.value)}`);
    cur = next;
  }
  return cur;
}

const submit = (): OrderEvent => ({ type: 'SUBMIT', at: at(1) });
const accepted = (connectorOrderId: string | null = 'X-1001', t = 2): OrderEvent => ({
  type: 'ACCEPTED',
  at: at(t),
  connectorOrderId,
});
function fill(o: { n: number; quantity: string; price?: string; fee?: string; tradeId?: string }): FillEvent {
  return {
    type: 'FILL',
    at: at(10 + o.n),
    fillId: fillId(o.n),
    tradeId: o.tradeId ?? `T-${o.n}`,
    quantity: o.quantity,
    price: o.price ?? '150.25',
    fee: o.fee ?? '0',
    feeCurrency: 'USD',
    liquidity: 'MAKER',
  };
}
const cancel = (reason: string | null = 'user request'): OrderEvent => ({ type: 'CANCEL', at: at(30), reason });
const canceled = (reason: string | null = null): OrderEvent => ({ type: 'CANCELED', at: at(31), reason });
const cancelRejected = (): OrderEvent => ({ type: 'CANCEL_REJECTED', at: at(32), reason: 'too late' });
const modify = (m: { price?: string | null; stopPrice?: string | null; quantity?: string | null }): OrderEvent => ({
  type: 'MODIFY',
  at: at(40),
  price: m.price ?? null,
  stopPrice: m.stopPrice ?? null,
  quantity: m.quantity ?? null,
});
const modified = (): OrderEvent => ({ type: 'MODIFIED', at: at(41) });
const modifyRejected = (): OrderEvent => ({ type: 'MODIFY_REJECTED', at: at(42), reason: 'bad price' });
const rejected = (reason = 'insufficient margin'): OrderEvent => ({ type: 'REJECTED', at: at(50), reason });
const expired = (): OrderEvent => ({ type: 'EXPIRED', at: at(60) });
const resized = (quantity: string): OrderEvent => ({ type: 'RESIZED', at: at(65), quantity });

/** One event of every type, for "refused" and "absorbed" checks. */
function eventOf(type: EventType): OrderEvent {
  switch (type) {
    case 'SUBMIT':
      return submit();
    case 'ACCEPTED':
      return accepted('X-9999', 70);
    case 'FILL':
      return fill({ n: 90, quantity: '1' });
    case 'CANCEL':
      return cancel();
    case 'CANCELED':
      return canceled();
    case 'CANCEL_REJECTED':
      return cancelRejected();
    case 'MODIFY':
      return modify({ price: '149' });
    case 'MODIFIED':
      return modified();
    case 'RESIZED':
      return resized('1');
    case 'MODIFY_REJECTED':
      return modifyRejected();
    case 'REJECTED':
      return rejected();
    case 'EXPIRED':
      return expired();
  }
}
const ALL_EVENT_TYPES: EventType[] = [
  'RESIZED', 'SUBMIT', 'ACCEPTED', 'FILL', 'CANCEL', 'CANCELED', 'CANCEL_REJECTED',
  'MODIFY', 'MODIFIED', 'MODIFY_REJECTED', 'REJECTED', 'EXPIRED',
];

/** A fresh order driven to `state` by ordinary events. */
function orderIn(state: OrderStatus): OrderSnapshot {
  const s = start();
  switch (state) {
    case 'PENDING':
      return s;
    case 'SUBMITTED':
      return drive(s, submit());
    case 'OPEN':
      return drive(s, submit(), accepted());
    case 'PARTIALLY_FILLED':
      return drive(s, submit(), accepted(), fill({ n: 1, quantity: '4', fee: '0.1' }));
    case 'PENDING_CANCEL':
      return drive(s, submit(), accepted(), cancel());
    case 'PENDING_UPDATE':
      return drive(s, submit(), accepted(), modify({ price: '151' }));
    case 'FILLED':
      return drive(s, submit(), accepted(), fill({ n: 1, quantity: '10' }));
    case 'CANCELED':
      return drive(s, submit(), accepted(), cancel(), canceled());
    case 'REJECTED':
      return drive(s, submit(), rejected());
    case 'EXPIRED':
      return drive(s, submit(), accepted(), expired());
  }
}

// expected actions -----------------------------------------------------------------------------

function recordFillAction(f: FillEvent, quantity: string): PlainAction {
  return {
    type: 'recordFill',
    params: {
      fillId: f.fillId,
      parentOrderId: ORDER_ID,
      parentGroupId: GROUP_ID,
      parentPlanId: PLAN_ID,
      tradeId: f.tradeId,
      symbol: 'AAPL',
      side: 'BUY',
      quantity,
      price: f.price,
      fee: f.fee,
      feeCurrency: f.feeCurrency,
      liquidity: f.liquidity,
      at: f.at,
    },
  };
}

function orderFilledAction(f: FillEvent, quantity: string, role = 'ENTRY'): PlainAction {
  return {
    type: 'notifyParent',
    params: {
      to: GROUP_ID,
      event: {
        type: 'ORDER_FILLED',
        orderId: ORDER_ID,
        fillId: f.fillId,
        role,
        side: 'BUY',
        quantity,
        price: f.price,
        fee: f.fee,
        at: f.at,
      },
    },
  };
}

function orderClosedAction(status: OrderStatus, reason: string | null, closedAt: string): PlainAction {
  return {
    type: 'notifyParent',
    params: { to: GROUP_ID, event: { type: 'ORDER_CLOSED', orderId: ORDER_ID, status, reason, at: closedAt } },
  };
}

function cancelOrderAction(connectorOrderId: string | null): PlainAction {
  return {
    type: 'cancelOrder',
    params: { kind: 'cancelOrder', orderId: ORDER_ID, clientOrderId: CLIENT_ORDER_ID, connectorOrderId, symbol: 'AAPL' },
  };
}

function overfillAction(f: FillEvent, accepted: string): PlainAction {
  return {
    type: 'reportAnomaly',
    params: {
      kind: 'overfill',
      detail: `fill of ${f.quantity} exceeds the remaining ${accepted} on ${ORDER_ID}; ${accepted} recorded`,
      data: { tradeId: f.tradeId, reported: f.quantity, accepted },
    },
  };
}

function duplicateAction(tradeId: string): PlainAction {
  return {
    type: 'reportAnomaly',
    params: { kind: 'duplicate_fill', detail: `fill with trade id ${tradeId} is already recorded on ${ORDER_ID}` },
  };
}

/** A plain partial fill: recordFill then ORDER_FILLED, both with the fill's quantity. */
const takeActions = (f: FillEvent, quantity = f.quantity) => [recordFillAction(f, quantity), orderFilledAction(f, quantity)];

// ---------------------------------------------------------------------------------------------

describe('orderMachine: initial state', () => {
  it('starts PENDING with the input copied and nothing filled, with no actions', () => {
    const [s, actions] = initialTransition(orderMachine, orderInput());
    expect(s.value).toBe('PENDING');
    expect(actions).toEqual([]);
    expect(s.context).toEqual({
      orderId: ORDER_ID,
      parentGroupId: GROUP_ID,
      parentPlanId: PLAN_ID,
      clientOrderId: CLIENT_ORDER_ID,
      symbol: 'AAPL',
      side: 'BUY',
      orderType: 'LIMIT',
      role: 'ENTRY',
      quantity: '10',
      price: '150.25',
      stopPrice: null,
      timeInForce: 'GTC',
      ocoGroup: null,
      filledQuantity: '0',
      averageFillPrice: null,
      fees: '0',
      fillIds: [],
      tradeIds: [],
      connectorOrderId: null,
      pendingUpdate: null,
      reason: null,
      createdAt: at(0),
      updatedAt: at(0),
      closedAt: null,
    });
    expect(OrderContextSchema.safeParse(s.context).success).toBe(true);
  });
});

describe('orderMachine: PENDING', () => {
  it('SUBMIT -> SUBMITTED with a placeOrder effect carrying the clientOrderId', () => {
    const s = orderIn('PENDING');
    const [next, actions] = send(s, submit());
    expect(next.value).toBe('SUBMITTED');
    expect(next.context.updatedAt).toBe(at(1));
    expect(plain(actions)).toEqual([
      {
        type: 'placeOrder',
        params: {
          kind: 'placeOrder',
          orderId: ORDER_ID,
          clientOrderId: CLIENT_ORDER_ID,
          symbol: 'AAPL',
          side: 'BUY',
          orderType: 'LIMIT',
          quantity: '10',
          price: '150.25',
          stopPrice: null,
          timeInForce: 'GTC',
          ocoGroup: null,
        },
      },
    ]);
  });

  it('SUBMIT of a stop order carries its stop price and time in force', () => {
    const s = start({ orderType: 'STOP', price: null, stopPrice: '145', side: 'SELL', role: 'STOP_LOSS', timeInForce: 'DAY' });
    const [, actions] = send(s, submit());
    expect(plain(actions)[0]?.params).toMatchObject({ side: 'SELL', orderType: 'STOP', price: null, stopPrice: '145', timeInForce: 'DAY' });
  });

  it('CANCEL -> CANCELED without an exchange call, notifying the group', () => {
    const s = orderIn('PENDING');
    const [next, actions] = send(s, cancel('rolled back'));
    expect(next.value).toBe('CANCELED');
    expect(next.status).toBe('done');
    expect(next.context.reason).toBe('rolled back');
    expect(next.context.closedAt).toBe(at(30));
    expect(plain(actions)).toEqual([orderClosedAction('CANCELED', 'rolled back', at(30))]);
  });

  it('REJECTED -> REJECTED with the reason, notifying the group', () => {
    const s = orderIn('PENDING');
    const [next, actions] = send(s, rejected('invalid symbol'));
    expect(next.value).toBe('REJECTED');
    expect(next.context.reason).toBe('invalid symbol');
    expect(next.context.closedAt).toBe(at(50));
    expect(plain(actions)).toEqual([orderClosedAction('REJECTED', 'invalid symbol', at(50))]);
  });

  it.each<EventType>(['ACCEPTED', 'FILL', 'CANCELED', 'CANCEL_REJECTED', 'MODIFY', 'MODIFIED', 'MODIFY_REJECTED', 'EXPIRED'])(
    'refuses %s',
    (type) => {
      const s = orderIn('PENDING');
      expectRefused(send(s, eventOf(type)), s);
    },
  );
});

describe('orderMachine: SUBMITTED', () => {
  it('ACCEPTED -> OPEN remembering the connector order id', () => {
    const s = orderIn('SUBMITTED');
    const [next, actions] = send(s, accepted('X-42', 5));
    expect(next.value).toBe('OPEN');
    expect(next.context.connectorOrderId).toBe('X-42');
    expect(next.context.updatedAt).toBe(at(5));
    expect(actions).toEqual([]);
  });

  it('ACCEPTED without a connector id -> OPEN with connectorOrderId still null', () => {
    const s = orderIn('SUBMITTED');
    const [next] = send(s, accepted(null));
    expect(next.value).toBe('OPEN');
    expect(next.context.connectorOrderId).toBeNull();
  });

  it('FILL before the ack -> PARTIALLY_FILLED (fill accepted, ack may come later)', () => {
    const s = orderIn('SUBMITTED');
    const f = fill({ n: 1, quantity: '3', price: '150.10', fee: '0.05' });
    const [next, actions] = send(s, f);
    expect(next.value).toBe('PARTIALLY_FILLED');
    expect(next.context).toMatchObject({
      filledQuantity: '3',
      averageFillPrice: '150.1',
      fees: '0.05',
      fillIds: [fillId(1)],
      tradeIds: ['T-1'],
      connectorOrderId: null,
      updatedAt: f.at,
    });
    expect(plain(actions)).toEqual(takeActions(f));

    // the late ack only records the connector id
    const [acked, ackActions] = send(next, accepted('X-7', 20));
    expect(acked.value).toBe('PARTIALLY_FILLED');
    expect(acked.context.connectorOrderId).toBe('X-7');
    expect(ackActions).toEqual([]);
  });

  it('FILL of the whole quantity before the ack -> FILLED', () => {
    const s = orderIn('SUBMITTED');
    const f = fill({ n: 1, quantity: '10' });
    const [next, actions] = send(s, f);
    expect(next.value).toBe('FILLED');
    expect(next.context.filledQuantity).toBe('10');
    expect(plain(actions)).toEqual([...takeActions(f), orderClosedAction('FILLED', null, f.at)]);
  });

  it('FILL above the quantity before the ack -> FILLED, capped, with an overfill anomaly', () => {
    const s = orderIn('SUBMITTED');
    const f = fill({ n: 1, quantity: '11' });
    const [next, actions] = send(s, f);
    expect(next.value).toBe('FILLED');
    expect(next.context.filledQuantity).toBe('10');
    expect(plain(actions)).toEqual([overfillAction(f, '10'), ...takeActions(f, '10'), orderClosedAction('FILLED', null, f.at)]);
  });

  it('CANCEL -> PENDING_CANCEL with a cancelOrder effect', () => {
    const s = orderIn('SUBMITTED');
    const [next, actions] = send(s, cancel('changed my mind'));
    expect(next.value).toBe('PENDING_CANCEL');
    expect(next.context.reason).toBe('changed my mind');
    expect(next.context.updatedAt).toBe(at(30));
    expect(plain(actions)).toEqual([cancelOrderAction(null)]);
  });

  it('CANCELED -> CANCELED, notifying the group', () => {
    const s = orderIn('SUBMITTED');
    const [next, actions] = send(s, canceled('exchange cancel'));
    expect(next.value).toBe('CANCELED');
    expect(next.context.reason).toBe('exchange cancel');
    expect(plain(actions)).toEqual([orderClosedAction('CANCELED', 'exchange cancel', at(31))]);
  });

  it('REJECTED -> REJECTED with the reason, notifying the group', () => {
    const s = orderIn('SUBMITTED');
    const [next, actions] = send(s, rejected());
    expect(next.value).toBe('REJECTED');
    expect(next.context.reason).toBe('insufficient margin');
    expect(next.context.closedAt).toBe(at(50));
    expect(plain(actions)).toEqual([orderClosedAction('REJECTED', 'insufficient margin', at(50))]);
  });

  it('EXPIRED -> EXPIRED, notifying the group', () => {
    const s = orderIn('SUBMITTED');
    const [next, actions] = send(s, expired());
    expect(next.value).toBe('EXPIRED');
    expect(next.context.closedAt).toBe(at(60));
    expect(plain(actions)).toEqual([orderClosedAction('EXPIRED', null, at(60))]);
  });

  it.each<EventType>(['SUBMIT', 'CANCEL_REJECTED', 'MODIFY', 'MODIFIED', 'MODIFY_REJECTED'])('refuses %s', (type) => {
    const s = orderIn('SUBMITTED');
    expectRefused(send(s, eventOf(type)), s);
  });
});

describe('orderMachine: OPEN', () => {
  it('ACCEPTED again updates the connector id and stays OPEN', () => {
    const s = orderIn('OPEN');
    const [next, actions] = send(s, accepted('X-2002', 5));
    expect(next.value).toBe('OPEN');
    expect(next.context.connectorOrderId).toBe('X-2002');
    expect(actions).toEqual([]);
  });

  it('ACCEPTED again without a connector id keeps the known one', () => {
    const s = orderIn('OPEN');
    const [next] = send(s, accepted(null, 5));
    expect(next.value).toBe('OPEN');
    expect(next.context.connectorOrderId).toBe('X-1001');
  });

  it('partial FILL -> PARTIALLY_FILLED with recordFill and ORDER_FILLED to the group', () => {
    const s = orderIn('OPEN');
    const f = fill({ n: 1, quantity: '4', price: '150.25', fee: '0.1' });
    const [next, actions] = send(s, f);
    expect(next.value).toBe('PARTIALLY_FILLED');
    expect(next.context).toMatchObject({ filledQuantity: '4', averageFillPrice: '150.25', fees: '0.1', fillIds: [fillId(1)], tradeIds: ['T-1'] });
    expect(plain(actions)).toEqual(takeActions(f));
  });

  it('FILL of the exact remaining -> FILLED with ORDER_FILLED then ORDER_CLOSED', () => {
    const s = orderIn('OPEN');
    const f = fill({ n: 1, quantity: '10', price: '150.20', fee: '0.3' });
    const [next, actions] = send(s, f);
    expect(next.value).toBe('FILLED');
    expect(next.status).toBe('done');
    expect(next.context).toMatchObject({ filledQuantity: '10', averageFillPrice: '150.2', fees: '0.3', closedAt: f.at, updatedAt: f.at });
    expect(plain(actions)).toEqual([...takeActions(f), orderClosedAction('FILLED', null, f.at)]);
  });

  it('overfill -> FILLED with filledQuantity == quantity, recordFill capped, overfill anomaly', () => {
    const s = orderIn('OPEN');
    const f = fill({ n: 1, quantity: '12.5', price: '150' });
    const [next, actions] = send(s, f);
    expect(next.value).toBe('FILLED');
    expect(next.context.filledQuantity).toBe('10');
    expect(next.context.quantity).toBe('10');
    expect(next.context.averageFillPrice).toBe('150');
    expect(plain(actions)).toEqual([overfillAction(f, '10'), ...takeActions(f, '10'), orderClosedAction('FILLED', null, f.at)]);
  });

  it('CANCEL -> PENDING_CANCEL with cancelOrder carrying the connector id', () => {
    const s = orderIn('OPEN');
    const [next, actions] = send(s, cancel());
    expect(next.value).toBe('PENDING_CANCEL');
    expect(next.context.reason).toBe('user request');
    expect(plain(actions)).toEqual([cancelOrderAction('X-1001')]);
  });

  it('CANCEL without a reason leaves reason null', () => {
    const s = orderIn('OPEN');
    const [next] = send(s, cancel(null));
    expect(next.value).toBe('PENDING_CANCEL');
    expect(next.context.reason).toBeNull();
  });

  it('CANCELED (unsolicited) -> CANCELED, notifying the group', () => {
    const s = orderIn('OPEN');
    const [next, actions] = send(s, canceled('self-trade prevention'));
    expect(next.value).toBe('CANCELED');
    expect(plain(actions)).toEqual([orderClosedAction('CANCELED', 'self-trade prevention', at(31))]);
  });

  it('MODIFY (price only) -> PENDING_UPDATE with a modifyOrder effect', () => {
    const s = orderIn('OPEN');
    const [next, actions] = send(s, modify({ price: '151' }));
    expect(next.value).toBe('PENDING_UPDATE');
    expect(next.context.pendingUpdate).toEqual({ price: '151', stopPrice: null, quantity: null });
    expect(next.context.price).toBe('150.25');
    expect(next.context.updatedAt).toBe(at(40));
    expect(plain(actions)).toEqual([
      {
        type: 'modifyOrder',
        params: {
          kind: 'modifyOrder',
          orderId: ORDER_ID,
          clientOrderId: CLIENT_ORDER_ID,
          connectorOrderId: 'X-1001',
          symbol: 'AAPL',
          price: '151',
          stopPrice: null,
          quantity: null,
        },
      },
    ]);
  });

  it('MODIFY (stop price only) and MODIFY (quantity only) are accepted', () => {
    const s = orderIn('OPEN');
    expect(send(s, modify({ stopPrice: '149' }))[0].value).toBe('PENDING_UPDATE');
    expect(send(s, modify({ quantity: '5' }))[0].value).toBe('PENDING_UPDATE');
  });

  it('MODIFY with no field is refused', () => {
    const s = orderIn('OPEN');
    expectRefused(send(s, modify({})), s);
  });

  it('MODIFY with quantity not above filled (0) is refused', () => {
    const s = orderIn('OPEN');
    expectRefused(send(s, modify({ quantity: '0' })), s);
  });

  it('EXPIRED -> EXPIRED, notifying the group', () => {
    const s = orderIn('OPEN');
    const [next, actions] = send(s, expired());
    expect(next.value).toBe('EXPIRED');
    expect(plain(actions)).toEqual([orderClosedAction('EXPIRED', null, at(60))]);
  });

  it.each<EventType>(['SUBMIT', 'CANCEL_REJECTED', 'MODIFIED', 'MODIFY_REJECTED', 'REJECTED'])('refuses %s', (type) => {
    const s = orderIn('OPEN');
    expectRefused(send(s, eventOf(type)), s);
  });
});

describe('orderMachine: PARTIALLY_FILLED', () => {
  it('ACCEPTED updates the connector id and stays', () => {
    const s = orderIn('PARTIALLY_FILLED');
    const [next, actions] = send(s, accepted('X-3', 25));
    expect(next.value).toBe('PARTIALLY_FILLED');
    expect(next.context.connectorOrderId).toBe('X-3');
    expect(actions).toEqual([]);
  });

  it('another partial FILL stays, with the quantity-weighted average and summed fees', () => {
    const s = orderIn('PARTIALLY_FILLED'); // 4 @ 150.25, fee 0.1
    const f = fill({ n: 2, quantity: '2', price: '151.75', fee: '0.05' });
    const [next, actions] = send(s, f);
    expect(next.value).toBe('PARTIALLY_FILLED');
    // (4 * 150.25 + 2 * 151.75) / 6 = 904.5 / 6 = 150.75
    expect(next.context).toMatchObject({
      filledQuantity: '6',
      averageFillPrice: '150.75',
      fees: '0.15',
      fillIds: [fillId(1), fillId(2)],
      tradeIds: ['T-1', 'T-2'],
    });
    expect(plain(actions)).toEqual(takeActions(f));
  });

  it('FILL of the remaining -> FILLED', () => {
    const s = orderIn('PARTIALLY_FILLED');
    const f = fill({ n: 2, quantity: '6', price: '150.50', fee: '0.15' });
    const [next, actions] = send(s, f);
    expect(next.value).toBe('FILLED');
    // (4 * 150.25 + 6 * 150.50) / 10 = 150.4
    expect(next.context).toMatchObject({ filledQuantity: '10', averageFillPrice: '150.4', fees: '0.25' });
    expect(plain(actions)).toEqual([...takeActions(f), orderClosedAction('FILLED', null, f.at)]);
  });

  it('overfill -> FILLED with the remaining recorded, never more than quantity', () => {
    const s = orderIn('PARTIALLY_FILLED');
    const f = fill({ n: 2, quantity: '10', price: '151' });
    const [next, actions] = send(s, f);
    expect(next.value).toBe('FILLED');
    expect(next.context.filledQuantity).toBe('10');
    // (4 * 150.25 + 6 * 151) / 10 = 150.7: only the accepted 6 count
    expect(next.context.averageFillPrice).toBe('150.7');
    expect(plain(actions)).toEqual([overfillAction(f, '6'), ...takeActions(f, '6'), orderClosedAction('FILLED', null, f.at)]);
  });

  it('duplicate trade id: no state or context change, a duplicate_fill anomaly only', () => {
    const s = orderIn('PARTIALLY_FILLED');
    const dup = fill({ n: 2, quantity: '4', tradeId: 'T-1' });
    const [next, actions] = send(s, dup);
    expect(next.value).toBe('PARTIALLY_FILLED');
    expect(next.context).toEqual(s.context);
    expect(next).toBe(s);
    expect(plain(actions)).toEqual([duplicateAction('T-1')]);
  });

  it('CANCEL -> PENDING_CANCEL with cancelOrder', () => {
    const s = orderIn('PARTIALLY_FILLED');
    const [next, actions] = send(s, cancel());
    expect(next.value).toBe('PENDING_CANCEL');
    expect(next.context.filledQuantity).toBe('4');
    expect(plain(actions)).toEqual([cancelOrderAction('X-1001')]);
  });

  it('CANCELED -> CANCELED keeping the fills', () => {
    const s = orderIn('PARTIALLY_FILLED');
    const [next, actions] = send(s, canceled());
    expect(next.value).toBe('CANCELED');
    expect(next.context.filledQuantity).toBe('4');
    expect(plain(actions)).toEqual([orderClosedAction('CANCELED', null, at(31))]);
  });

  it('MODIFY with quantity above filled -> PENDING_UPDATE', () => {
    const s = orderIn('PARTIALLY_FILLED');
    const [next, actions] = send(s, modify({ quantity: '8' }));
    expect(next.value).toBe('PENDING_UPDATE');
    expect(next.context.pendingUpdate).toEqual({ price: null, stopPrice: null, quantity: '8' });
    expect(plain(actions).map((a) => a.type)).toEqual(['modifyOrder']);
    expect(plain(actions)[0]?.params).toMatchObject({ quantity: '8', price: null, stopPrice: null });
  });

  it('MODIFY with quantity equal to filled is refused', () => {
    const s = orderIn('PARTIALLY_FILLED');
    expectRefused(send(s, modify({ quantity: '4' })), s);
  });

  it('MODIFY with quantity below filled is refused, even with a price', () => {
    const s = orderIn('PARTIALLY_FILLED');
    expectRefused(send(s, modify({ quantity: '3.5', price: '152' })), s);
  });

  it('MODIFY with no field is refused', () => {
    const s = orderIn('PARTIALLY_FILLED');
    expectRefused(send(s, modify({})), s);
  });

  it('EXPIRED -> EXPIRED keeping the fills', () => {
    const s = orderIn('PARTIALLY_FILLED');
    const [next, actions] = send(s, expired());
    expect(next.value).toBe('EXPIRED');
    expect(next.context.filledQuantity).toBe('4');
    expect(plain(actions)).toEqual([orderClosedAction('EXPIRED', null, at(60))]);
  });

  it.each<EventType>(['SUBMIT', 'CANCEL_REJECTED', 'MODIFIED', 'MODIFY_REJECTED', 'REJECTED'])('refuses %s', (type) => {
    const s = orderIn('PARTIALLY_FILLED');
    expectRefused(send(s, eventOf(type)), s);
  });
});

describe('orderMachine: PENDING_CANCEL', () => {
  it('ACCEPTED updates the connector id and stays', () => {
    const s = drive(start(), submit(), cancel());
    const [next, actions] = send(s, accepted('X-5', 33));
    expect(next.value).toBe('PENDING_CANCEL');
    expect(next.context.connectorOrderId).toBe('X-5');
    expect(actions).toEqual([]);
  });

  it('a partial FILL racing the cancel stays PENDING_CANCEL', () => {
    const s = orderIn('PENDING_CANCEL');
    const f = fill({ n: 1, quantity: '3', fee: '0.02' });
    const [next, actions] = send(s, f);
    expect(next.value).toBe('PENDING_CANCEL');
    expect(next.context).toMatchObject({ filledQuantity: '3', fees: '0.02', reason: 'user request' });
    expect(plain(actions)).toEqual(takeActions(f));
  });

  it('a FILL completing the order -> FILLED', () => {
    const s = orderIn('PENDING_CANCEL');
    const f = fill({ n: 1, quantity: '10' });
    const [next, actions] = send(s, f);
    expect(next.value).toBe('FILLED');
    expect(plain(actions)).toEqual([...takeActions(f), orderClosedAction('FILLED', 'user request', f.at)]);
  });

  it('an overfill -> FILLED, capped, with an overfill anomaly', () => {
    const s = orderIn('PENDING_CANCEL');
    const f = fill({ n: 1, quantity: '15' });
    const [next, actions] = send(s, f);
    expect(next.value).toBe('FILLED');
    expect(next.context.filledQuantity).toBe('10');
    expect(plain(actions)).toEqual([overfillAction(f, '10'), ...takeActions(f, '10'), orderClosedAction('FILLED', 'user request', f.at)]);
  });

  it('a duplicate fill changes nothing and reports duplicate_fill', () => {
    const s = drive(orderIn('PENDING_CANCEL'), fill({ n: 1, quantity: '3' }));
    const [next, actions] = send(s, fill({ n: 2, quantity: '3', tradeId: 'T-1' }));
    expect(next).toBe(s);
    expect(next.context).toEqual(s.context);
    expect(plain(actions)).toEqual([duplicateAction('T-1')]);
  });

  it('CANCELED -> CANCELED with the reason of the request', () => {
    const s = orderIn('PENDING_CANCEL');
    const [next, actions] = send(s, canceled());
    expect(next.value).toBe('CANCELED');
    expect(next.context.reason).toBe('user request');
    expect(next.context.closedAt).toBe(at(31));
    expect(plain(actions)).toEqual([orderClosedAction('CANCELED', 'user request', at(31))]);
  });

  it('CANCELED with its own reason overrides the request reason', () => {
    const s = orderIn('PENDING_CANCEL');
    const [next, actions] = send(s, canceled('canceled by exchange'));
    expect(next.context.reason).toBe('canceled by exchange');
    expect(plain(actions)).toEqual([orderClosedAction('CANCELED', 'canceled by exchange', at(31))]);
  });

  it('CANCEL_REJECTED without fills -> OPEN', () => {
    const s = orderIn('PENDING_CANCEL');
    const [next, actions] = send(s, cancelRejected());
    expect(next.value).toBe('OPEN');
    expect(next.context.updatedAt).toBe(at(32));
    expect(actions).toEqual([]);
  });

  it('CANCEL_REJECTED with fills from before the cancel -> PARTIALLY_FILLED', () => {
    const s = drive(orderIn('PARTIALLY_FILLED'), cancel());
    const [next, actions] = send(s, cancelRejected());
    expect(next.value).toBe('PARTIALLY_FILLED');
    expect(next.context.filledQuantity).toBe('4');
    expect(actions).toEqual([]);
  });

  it('CANCEL_REJECTED with a fill that raced the cancel -> PARTIALLY_FILLED', () => {
    const s = drive(orderIn('PENDING_CANCEL'), fill({ n: 1, quantity: '2' }));
    const [next] = send(s, cancelRejected());
    expect(next.value).toBe('PARTIALLY_FILLED');
    expect(next.context.filledQuantity).toBe('2');
  });

  it('EXPIRED -> EXPIRED', () => {
    const s = orderIn('PENDING_CANCEL');
    const [next, actions] = send(s, expired());
    expect(next.value).toBe('EXPIRED');
    expect(plain(actions)).toEqual([orderClosedAction('EXPIRED', 'user request', at(60))]);
  });

  it.each<EventType>(['SUBMIT', 'CANCEL', 'MODIFY', 'MODIFIED', 'MODIFY_REJECTED'])('refuses %s', (type) => {
    const s = orderIn('PENDING_CANCEL');
    expectRefused(send(s, eventOf(type)), s);
  });
});

describe('orderMachine: PENDING_UPDATE', () => {
  it('ACCEPTED updates the connector id and stays', () => {
    const s = orderIn('PENDING_UPDATE');
    const [next, actions] = send(s, accepted('X-6', 43));
    expect(next.value).toBe('PENDING_UPDATE');
    expect(next.context.connectorOrderId).toBe('X-6');
    expect(next.context.pendingUpdate).toEqual({ price: '151', stopPrice: null, quantity: null });
    expect(actions).toEqual([]);
  });

  it('a partial FILL stays PENDING_UPDATE and keeps the pending modification', () => {
    const s = orderIn('PENDING_UPDATE');
    const f = fill({ n: 1, quantity: '4' });
    const [next, actions] = send(s, f);
    expect(next.value).toBe('PENDING_UPDATE');
    expect(next.context.filledQuantity).toBe('4');
    expect(next.context.pendingUpdate).toEqual({ price: '151', stopPrice: null, quantity: null });
    expect(plain(actions)).toEqual(takeActions(f));
  });

  it('a FILL completing the order -> FILLED', () => {
    const s = orderIn('PENDING_UPDATE');
    const f = fill({ n: 1, quantity: '10' });
    const [next, actions] = send(s, f);
    expect(next.value).toBe('FILLED');
    expect(next.context.filledQuantity).toBe('10');
    expect(plain(actions)).toEqual([...takeActions(f), orderClosedAction('FILLED', null, f.at)]);
  });

  it('a FILL completing the order drops the pending modification (it can never apply)', () => {
    // CANCELED and EXPIRED from PENDING_UPDATE drop it; a terminal FILLED order should not keep one either.
    const s = orderIn('PENDING_UPDATE');
    const [next] = send(s, fill({ n: 1, quantity: '10' }));
    expect(next.value).toBe('FILLED');
    expect(next.context.pendingUpdate).toBeNull();
  });

  it('an overfill -> FILLED, capped, with an overfill anomaly', () => {
    const s = orderIn('PENDING_UPDATE');
    const f = fill({ n: 1, quantity: '10.5' });
    const [next, actions] = send(s, f);
    expect(next.value).toBe('FILLED');
    expect(next.context.filledQuantity).toBe('10');
    expect(plain(actions)).toEqual([overfillAction(f, '10'), ...takeActions(f, '10'), orderClosedAction('FILLED', null, f.at)]);
  });

  it('a duplicate fill changes nothing and reports duplicate_fill', () => {
    const s = drive(orderIn('PENDING_UPDATE'), fill({ n: 1, quantity: '1' }));
    const [next, actions] = send(s, fill({ n: 2, quantity: '1', tradeId: 'T-1' }));
    expect(next).toBe(s);
    expect(plain(actions)).toEqual([duplicateAction('T-1')]);
  });

  it('MODIFIED without fills -> OPEN with the modification applied', () => {
    const s = orderIn('PENDING_UPDATE');
    const [next, actions] = send(s, modified());
    expect(next.value).toBe('OPEN');
    expect(next.context).toMatchObject({ price: '151', stopPrice: null, quantity: '10', pendingUpdate: null, updatedAt: at(41) });
    expect(actions).toEqual([]);
  });

  it('MODIFIED applies every field given (price, stop price, quantity)', () => {
    const s = drive(start({ orderType: 'STOP_LIMIT', stopPrice: '150' }), submit(), accepted(), modify({ price: '149', stopPrice: '149.5', quantity: '12' }));
    const [next] = send(s, modified());
    expect(next.value).toBe('OPEN');
    expect(next.context).toMatchObject({ price: '149', stopPrice: '149.5', quantity: '12', pendingUpdate: null });
  });

  it('MODIFIED with fills -> PARTIALLY_FILLED with the new quantity', () => {
    const s = drive(orderIn('PARTIALLY_FILLED'), modify({ quantity: '8' }));
    const [next, actions] = send(s, modified());
    expect(next.value).toBe('PARTIALLY_FILLED');
    expect(next.context).toMatchObject({ quantity: '8', filledQuantity: '4', pendingUpdate: null, price: '150.25' });
    expect(actions).toEqual([]);
  });

  it('MODIFIED whose new quantity equals the filled quantity -> FILLED', () => {
    // 4 filled, modify to 6, 2 more fill while the change is pending: the new quantity is reached.
    const s = drive(orderIn('PARTIALLY_FILLED'), modify({ quantity: '6' }), fill({ n: 2, quantity: '2' }));
    expect(s.value).toBe('PENDING_UPDATE');
    const [next, actions] = send(s, modified());
    expect(next.value).toBe('FILLED');
    expect(next.context).toMatchObject({ quantity: '6', filledQuantity: '6', pendingUpdate: null, closedAt: at(41) });
    expect(plain(actions)).toEqual([orderClosedAction('FILLED', null, at(41))]);
  });

  it('MODIFIED to a quantity below what filled meanwhile never leaves a negative remaining', () => {
    // 4 filled, modify to 6, then 3 more fill while pending (7 <= the old 10, so accepted).
    const s = drive(orderIn('PARTIALLY_FILLED'), modify({ quantity: '6' }), fill({ n: 2, quantity: '3' }));
    expect(s.context.filledQuantity).toBe('7');
    const [next] = send(s, modified());
    expect(next.value).toBe('FILLED');
    // README: "remaining quantity is never negative" -> filledQuantity <= quantity
    const { quantity, filledQuantity } = next.context;
    expect(
      new Decimal(filledQuantity).lessThanOrEqualTo(quantity),
      `filledQuantity ${filledQuantity} exceeds quantity ${quantity}`,
    ).toBe(true);
  });

  it('MODIFY_REJECTED without fills -> OPEN, modification dropped', () => {
    const s = orderIn('PENDING_UPDATE');
    const [next, actions] = send(s, modifyRejected());
    expect(next.value).toBe('OPEN');
    expect(next.context).toMatchObject({ price: '150.25', pendingUpdate: null, updatedAt: at(42) });
    expect(actions).toEqual([]);
  });

  it('MODIFY_REJECTED with fills -> PARTIALLY_FILLED, modification dropped', () => {
    const s = drive(orderIn('PARTIALLY_FILLED'), modify({ quantity: '8' }));
    const [next, actions] = send(s, modifyRejected());
    expect(next.value).toBe('PARTIALLY_FILLED');
    expect(next.context).toMatchObject({ quantity: '10', pendingUpdate: null });
    expect(actions).toEqual([]);
  });

  it('CANCEL -> PENDING_CANCEL, modification dropped, cancelOrder', () => {
    const s = orderIn('PENDING_UPDATE');
    const [next, actions] = send(s, cancel());
    expect(next.value).toBe('PENDING_CANCEL');
    expect(next.context.pendingUpdate).toBeNull();
    expect(next.context.reason).toBe('user request');
    expect(plain(actions)).toEqual([cancelOrderAction('X-1001')]);
  });

  it('CANCELED -> CANCELED, modification dropped', () => {
    const s = orderIn('PENDING_UPDATE');
    const [next, actions] = send(s, canceled());
    expect(next.value).toBe('CANCELED');
    expect(next.context.pendingUpdate).toBeNull();
    expect(next.context.price).toBe('150.25');
    expect(plain(actions)).toEqual([orderClosedAction('CANCELED', null, at(31))]);
  });

  it('EXPIRED -> EXPIRED, modification dropped', () => {
    const s = orderIn('PENDING_UPDATE');
    const [next, actions] = send(s, expired());
    expect(next.value).toBe('EXPIRED');
    expect(next.context.pendingUpdate).toBeNull();
    expect(plain(actions)).toEqual([orderClosedAction('EXPIRED', null, at(60))]);
  });

  it.each<EventType>(['SUBMIT', 'MODIFY', 'CANCEL_REJECTED', 'REJECTED'])('refuses %s', (type) => {
    const s = orderIn('PENDING_UPDATE');
    expectRefused(send(s, eventOf(type)), s);
  });
});

describe('orderMachine: terminal states absorb everything', () => {
  const TERMINAL: OrderStatus[] = ['FILLED', 'CANCELED', 'REJECTED', 'EXPIRED'];

  it.each(TERMINAL)('%s is final (status done)', (state) => {
    expect(orderIn(state).status).toBe('done');
  });

  for (const state of TERMINAL) {
    it.each(ALL_EVENT_TYPES)(`${state} refuses %s`, (type) => {
      const s = orderIn(state);
      expectRefused(send(s, eventOf(type)), s);
    });
  }

  it('FILLED refuses a repeat of its last fill (same trade id): no duplicate_fill action either', () => {
    const s = orderIn('FILLED');
    expectRefused(send(s, fill({ n: 1, quantity: '10' })), s);
  });
});

describe('orderMachine: fill accounting', () => {
  it('averageFillPrice is the quantity-weighted average over several fills; fees accumulate', () => {
    const s = drive(
      orderIn('OPEN'),
      fill({ n: 1, quantity: '2', price: '100', fee: '0.1' }),
      fill({ n: 2, quantity: '3', price: '101', fee: '0.2' }),
    );
    const f = fill({ n: 3, quantity: '5', price: '102', fee: '0.3' });
    const [next] = send(s, f);
    // (200 + 303 + 510) / 10 = 101.3 ; fees 0.1 + 0.2 + 0.3 = 0.6 (decimal, not float)
    expect(next.value).toBe('FILLED');
    expect(next.context.averageFillPrice).toBe('101.3');
    expect(next.context.fees).toBe('0.6');
    expect(next.context.fillIds).toEqual([fillId(1), fillId(2), fillId(3)]);
    expect(next.context.tradeIds).toEqual(['T-1', 'T-2', 'T-3']);
  });

  it('fractional quantities stay exact decimal strings', () => {
    const s = start({ quantity: '0.3' });
    const end = drive(s, submit(), fill({ n: 1, quantity: '0.1', price: '150.25' }), fill({ n: 2, quantity: '0.2', price: '150.10' }));
    expect(end.value).toBe('FILLED');
    expect(end.context.filledQuantity).toBe('0.3');
    // (0.1 * 150.25 + 0.2 * 150.1) / 0.3 = 45.045 / 0.3 = 150.15
    expect(end.context.averageFillPrice).toBe('150.15');
  });

  it('a SELL order reports its side and role to the group', () => {
    const s = drive(start({ side: 'SELL', role: 'TAKE_PROFIT', price: '160' }), submit(), accepted());
    const f = fill({ n: 1, quantity: '4', price: '160' });
    const [, actions] = send(s, f);
    const [record, notify] = plain(actions);
    expect(record?.params).toMatchObject({ side: 'SELL', quantity: '4' });
    expect(notify?.params).toMatchObject({ to: GROUP_ID, event: { type: 'ORDER_FILLED', side: 'SELL', role: 'TAKE_PROFIT', quantity: '4' } });
  });

  it('every reachable context still satisfies the order schema', () => {
    const states: OrderStatus[] = ['PENDING', 'SUBMITTED', 'OPEN', 'PARTIALLY_FILLED', 'PENDING_CANCEL', 'PENDING_UPDATE', 'FILLED', 'CANCELED', 'REJECTED', 'EXPIRED'];
    for (const state of states) {
      const parsed = OrderContextSchema.safeParse(orderIn(state).context);
      expect(parsed.success, `${state}: ${parsed.success ? '' : parsed.error.message}`).toBe(true);
    }
  });
});
