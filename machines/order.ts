import { D as Decimal, type Dec } from '../src/domain/decimal.js';
import { assign, setup } from 'xstate';
import type { OrderContext, OrderRole, OrderStatus, OrderType, Side, TimeInForce } from '../src/domain/schemas.js';
import type {
  AnomalyReport,
  CancelOrderEffect,
  ModifyOrderEffect,
  Notification,
  PlaceOrderEffect,
  RecordedFill,
} from './actions.js';
import type { GroupEvent } from './execution-group.js';

export interface OrderInput {
  readonly orderId: string;
  readonly parentGroupId: string;
  readonly parentPlanId: string;
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  readonly role: OrderRole;
  readonly quantity: string;
  readonly price: string | null;
  readonly stopPrice: string | null;
  readonly timeInForce: TimeInForce;
  /** One-cancels-other link shared with sibling protection orders, or null. */
  readonly ocoGroup: string | null;
  readonly at: string;
}

/** Every event carries its time: machines have no clock. */
export type OrderEvent =
  | { type: 'SUBMIT'; at: string }
  | { type: 'ACCEPTED'; at: string; connectorOrderId: string | null }
  | {
      type: 'FILL';
      at: string;
      fillId: string;
      tradeId: string;
      quantity: string;
      price: string;
      fee: string;
      feeCurrency: string | null;
      liquidity: 'MAKER' | 'TAKER' | null;
    }
  | { type: 'CANCEL'; at: string; reason: string | null }
  | { type: 'CANCELED'; at: string; reason: string | null }
  | { type: 'CANCEL_REJECTED'; at: string; reason: string }
  | { type: 'MODIFY'; at: string; price: string | null; stopPrice: string | null; quantity: string | null }
  | { type: 'MODIFIED'; at: string }
  /** The exchange changed the quantity itself (one-cancels-other after a sibling filled). */
  | { type: 'RESIZED'; at: string; quantity: string }
  | { type: 'MODIFY_REJECTED'; at: string; reason: string }
  | { type: 'REJECTED'; at: string; reason: string }
  | { type: 'EXPIRED'; at: string };

type FillEvent = Extract<OrderEvent, { type: 'FILL' }>;

const d = (v: string) => new Decimal(v);
const s = (v: Dec) => v.toFixed();

function remaining(c: OrderContext): Dec {
  return d(c.quantity).minus(c.filledQuantity);
}

/** The part of a fill this order can still take; the rest is an overfill anomaly. */
function acceptedQuantity(c: OrderContext, e: FillEvent): Dec {
  return Decimal.min(d(e.quantity), remaining(c));
}

type Args = { context: OrderContext; event: OrderEvent };

const requestCancel = {
  type: 'cancelOrder',
  params: ({ context: c }: Args): CancelOrderEffect => ({
    kind: 'cancelOrder',
    orderId: c.orderId,
    clientOrderId: c.clientOrderId,
    connectorOrderId: c.connectorOrderId,
    symbol: c.symbol,
  }),
} as const;

const requestModify = {
  type: 'modifyOrder',
  params: ({ context: c, event }: Args): ModifyOrderEffect => {
    const e = event as Extract<OrderEvent, { type: 'MODIFY' }>;
    return {
      kind: 'modifyOrder',
      orderId: c.orderId,
      clientOrderId: c.clientOrderId,
      connectorOrderId: c.connectorOrderId,
      symbol: c.symbol,
      price: e.price,
      stopPrice: e.stopPrice,
      quantity: e.quantity,
    };
  },
} as const;

const requestPlacement = {
  type: 'placeOrder',
  params: ({ context: c }: Args): PlaceOrderEffect => ({
    kind: 'placeOrder',
    orderId: c.orderId,
    clientOrderId: c.clientOrderId,
    symbol: c.symbol,
    side: c.side,
    orderType: c.orderType,
    quantity: c.quantity,
    price: c.price,
    stopPrice: c.stopPrice,
    timeInForce: c.timeInForce,
    ocoGroup: c.ocoGroup,
  }),
} as const;

function notifyClosed(status: OrderStatus) {
  return {
    type: 'notifyParent',
    params: ({ context: c }: Args): Notification<GroupEvent> => ({
      to: c.parentGroupId,
      event: { type: 'ORDER_CLOSED', orderId: c.orderId, status, reason: c.reason, at: c.closedAt ?? c.updatedAt },
    }),
  } as const;
}

/** Resolved against the context before `applyFill`, so they see the pre-fill remaining. */
const recordFill = {
  type: 'recordFill',
  params: ({ context: c, event }: Args): RecordedFill => {
    const e = event as FillEvent;
    return {
      fillId: e.fillId,
      parentOrderId: c.orderId,
      parentGroupId: c.parentGroupId,
      parentPlanId: c.parentPlanId,
      tradeId: e.tradeId,
      symbol: c.symbol,
      side: c.side,
      quantity: s(acceptedQuantity(c, e)),
      price: e.price,
      fee: e.fee,
      feeCurrency: e.feeCurrency,
      liquidity: e.liquidity,
      at: e.at,
    };
  },
} as const;

const notifyFilled = {
  type: 'notifyParent',
  params: ({ context: c, event }: Args): Notification<GroupEvent> => {
    const e = event as FillEvent;
    return {
      to: c.parentGroupId,
      event: {
        type: 'ORDER_FILLED',
        orderId: c.orderId,
        fillId: e.fillId,
        role: c.role,
        side: c.side,
        quantity: s(acceptedQuantity(c, e)),
        price: e.price,
        fee: e.fee,
        at: e.at,
      },
    };
  },
} as const;

const reportDuplicateFill = {
  type: 'reportAnomaly',
  params: ({ context: c, event }: Args): AnomalyReport => ({
    kind: 'duplicate_fill',
    detail: `fill with trade id ${(event as FillEvent).tradeId} is already recorded on ${c.orderId}`,
  }),
} as const;

const reportOverfill = {
  type: 'reportAnomaly',
  params: ({ context: c, event }: Args): AnomalyReport => {
    const e = event as FillEvent;
    const accepted = s(remaining(c));
    return {
      kind: 'overfill',
      detail: `fill of ${e.quantity} exceeds the remaining ${accepted} on ${c.orderId}; ${accepted} recorded`,
      data: { tradeId: e.tradeId, reported: e.quantity, accepted },
    };
  },
} as const;

/** RESIZED: the exchange shrank the order; at or below what filled, the order is done. */
const resizeTransitions = [
  // Nothing filled and nothing left: the order was cancelled (its quantity stays as placed).
  { guard: 'resizeLeavesNothingFilled', target: 'CANCELED', actions: ['dropModification', 'rememberOcoReason'] },
  { guard: 'resizeCompletes', target: 'FILLED', actions: ['applyResize', 'dropModification'] },
  { actions: 'applyResize' },
] as const;

/** The FILL transitions of every state that can receive a fill. */
function fillTransitions(partialTarget: 'PARTIALLY_FILLED' | undefined) {
  const take = [recordFill, notifyFilled, 'applyFill'] as const;
  return [
    { guard: 'isDuplicateTrade', actions: reportDuplicateFill },
    { guard: 'overfills', target: 'FILLED', actions: [reportOverfill, ...take, 'dropModification'] },
    { guard: 'completesOrder', target: 'FILLED', actions: [...take, 'dropModification'] },
    { target: partialTarget, actions: take },
  ] as const;
}

export const orderMachine = setup({
  types: {
    context: {} as OrderContext,
    events: {} as OrderEvent,
    input: {} as OrderInput,
  },
  actions: {
    // Effects and notifications: declared here, interpreted by the host after `transition`.
    placeOrder: (_, _params: PlaceOrderEffect) => {},
    cancelOrder: (_, _params: CancelOrderEffect) => {},
    modifyOrder: (_, _params: ModifyOrderEffect) => {},
    recordFill: (_, _params: RecordedFill) => {},
    notifyParent: (_, _params: Notification<GroupEvent>) => {},
    reportAnomaly: (_, _params: AnomalyReport) => {},

    touch: assign({ updatedAt: ({ event }) => event.at }),
    markClosed: assign({ closedAt: ({ event }) => event.at, updatedAt: ({ event }) => event.at }),
    rememberConnectorId: assign({
      connectorOrderId: ({ context, event }) =>
        event.type === 'ACCEPTED' && event.connectorOrderId !== null ? event.connectorOrderId : context.connectorOrderId,
    }),
    applyFill: assign(({ context, event }) => {
      const e = event as FillEvent;
      const qty = acceptedQuantity(context, e);
      const filled = d(context.filledQuantity);
      const avg = context.averageFillPrice === null ? d(e.price) : d(context.averageFillPrice);
      const nextFilled = filled.plus(qty);
      return {
        filledQuantity: s(nextFilled),
        averageFillPrice: s(avg.times(filled).plus(d(e.price).times(qty)).dividedBy(nextFilled)),
        fees: s(d(context.fees).plus(e.fee)),
        fillIds: [...context.fillIds, e.fillId],
        tradeIds: [...context.tradeIds, e.tradeId],
        updatedAt: e.at,
      };
    }),
    rememberReason: assign({
      reason: ({ context, event }) => ('reason' in event && event.reason ? event.reason : context.reason),
    }),
    rememberModification: assign({
      pendingUpdate: ({ event }) =>
        event.type === 'MODIFY' ? { price: event.price, stopPrice: event.stopPrice, quantity: event.quantity } : null,
    }),
    applyModification: assign(({ context }) => {
      const m = context.pendingUpdate;
      if (m === null) return {};
      return {
        price: m.price ?? context.price,
        stopPrice: m.stopPrice ?? context.stopPrice,
        // A fill may have landed while the reduction was pending: never below what filled.
        quantity: m.quantity === null ? context.quantity : Decimal.max(d(m.quantity), d(context.filledQuantity)).toFixed(),
        pendingUpdate: null,
      };
    }),
    dropModification: assign({ pendingUpdate: null }),
    applyResize: assign(({ context, event }) => {
      if (event.type !== 'RESIZED') return {};
      return { quantity: Decimal.max(d(event.quantity), d(context.filledQuantity)).toFixed(), updatedAt: event.at };
    }),
    rememberOcoReason: assign({ reason: 'reduced to nothing by one-cancels-other' }),
  },
  guards: {
    isDuplicateTrade: ({ context, event }) => event.type === 'FILL' && context.tradeIds.includes(event.tradeId),
    overfills: ({ context, event }) => event.type === 'FILL' && d(event.quantity).greaterThan(remaining(context)),
    completesOrder: ({ context, event }) =>
      event.type === 'FILL' && d(event.quantity).greaterThanOrEqualTo(remaining(context)),
    hasFills: ({ context }) => d(context.filledQuantity).greaterThan(0),
    modificationValid: ({ context, event }) =>
      event.type === 'MODIFY' &&
      (event.price !== null || event.stopPrice !== null || event.quantity !== null) &&
      (event.quantity === null || d(event.quantity).greaterThan(context.filledQuantity)),
    resizeLeavesNothingFilled: ({ context, event }) =>
      event.type === 'RESIZED' && d(event.quantity).lessThanOrEqualTo(context.filledQuantity) && d(context.filledQuantity).isZero(),
    resizeCompletes: ({ context, event }) => event.type === 'RESIZED' && d(event.quantity).lessThanOrEqualTo(context.filledQuantity),
    modificationFills: ({ context }) =>
      context.pendingUpdate?.quantity != null && d(context.filledQuantity).greaterThanOrEqualTo(context.pendingUpdate.quantity),
  },
}).createMachine({
  id: 'order',
  initial: 'PENDING',
  context: ({ input }) => ({
    orderId: input.orderId,
    parentGroupId: input.parentGroupId,
    parentPlanId: input.parentPlanId,
    clientOrderId: input.clientOrderId,
    symbol: input.symbol,
    side: input.side,
    orderType: input.orderType,
    role: input.role,
    quantity: input.quantity,
    price: input.price,
    stopPrice: input.stopPrice,
    timeInForce: input.timeInForce,
    ocoGroup: input.ocoGroup,
    filledQuantity: '0',
    averageFillPrice: null,
    fees: '0',
    fillIds: [],
    tradeIds: [],
    connectorOrderId: null,
    pendingUpdate: null,
    reason: null,
    createdAt: input.at,
    updatedAt: input.at,
    closedAt: null,
  }),
  states: {
    PENDING: {
      on: {
        SUBMIT: {
          target: 'SUBMITTED',
          actions: ['touch', requestPlacement],
        },
        // Never sent: cancelling or rolling back needs no exchange call.
        CANCEL: { target: 'CANCELED', actions: 'rememberReason' },
        REJECTED: { target: 'REJECTED', actions: 'rememberReason' },
      },
    },
    SUBMITTED: {
      on: {
        RESIZED: resizeTransitions,
        ACCEPTED: { target: 'OPEN', actions: ['touch', 'rememberConnectorId'] },
        FILL: fillTransitions('PARTIALLY_FILLED'),
        CANCEL: { target: 'PENDING_CANCEL', actions: ['touch', 'rememberReason', requestCancel] },
        CANCELED: { target: 'CANCELED', actions: 'rememberReason' },
        REJECTED: { target: 'REJECTED', actions: 'rememberReason' },
        EXPIRED: { target: 'EXPIRED' },
      },
    },
    OPEN: {
      on: {
        RESIZED: resizeTransitions,
        ACCEPTED: { actions: 'rememberConnectorId' },
        FILL: fillTransitions('PARTIALLY_FILLED'),
        CANCEL: { target: 'PENDING_CANCEL', actions: ['touch', 'rememberReason', requestCancel] },
        CANCELED: { target: 'CANCELED', actions: 'rememberReason' },
        MODIFY: { guard: 'modificationValid', target: 'PENDING_UPDATE', actions: ['touch', 'rememberModification', requestModify] },
        EXPIRED: { target: 'EXPIRED' },
      },
    },
    PARTIALLY_FILLED: {
      on: {
        RESIZED: resizeTransitions,
        ACCEPTED: { actions: 'rememberConnectorId' },
        FILL: fillTransitions('PARTIALLY_FILLED'),
        CANCEL: { target: 'PENDING_CANCEL', actions: ['touch', 'rememberReason', requestCancel] },
        CANCELED: { target: 'CANCELED', actions: 'rememberReason' },
        MODIFY: { guard: 'modificationValid', target: 'PENDING_UPDATE', actions: ['touch', 'rememberModification', requestModify] },
        EXPIRED: { target: 'EXPIRED' },
      },
    },
    PENDING_CANCEL: {
      on: {
        RESIZED: resizeTransitions,
        ACCEPTED: { actions: 'rememberConnectorId' },
        // A fill can race the cancel; partial fills keep the cancel pending.
        FILL: fillTransitions(undefined),
        CANCELED: { target: 'CANCELED', actions: 'rememberReason' },
        // The placement itself may be rejected after we asked to cancel it.
        REJECTED: { target: 'REJECTED', actions: 'rememberReason' },
        CANCEL_REJECTED: [
          { guard: 'hasFills', target: 'PARTIALLY_FILLED', actions: 'touch' },
          { target: 'OPEN', actions: 'touch' },
        ],
        EXPIRED: { target: 'EXPIRED' },
      },
    },
    PENDING_UPDATE: {
      on: {
        RESIZED: resizeTransitions,
        ACCEPTED: { actions: 'rememberConnectorId' },
        FILL: fillTransitions(undefined),
        MODIFIED: [
          { guard: 'modificationFills', target: 'FILLED', actions: 'applyModification' },
          { guard: 'hasFills', target: 'PARTIALLY_FILLED', actions: ['touch', 'applyModification'] },
          { target: 'OPEN', actions: ['touch', 'applyModification'] },
        ],
        MODIFY_REJECTED: [
          { guard: 'hasFills', target: 'PARTIALLY_FILLED', actions: ['touch', 'dropModification'] },
          { target: 'OPEN', actions: ['touch', 'dropModification'] },
        ],
        CANCEL: { target: 'PENDING_CANCEL', actions: ['touch', 'dropModification', 'rememberReason', requestCancel] },
        CANCELED: { target: 'CANCELED', actions: ['dropModification', 'rememberReason'] },
        EXPIRED: { target: 'EXPIRED', actions: 'dropModification' },
      },
    },
    FILLED: { type: 'final', entry: ['markClosed', notifyClosed('FILLED')] },
    CANCELED: { type: 'final', entry: ['markClosed', notifyClosed('CANCELED')] },
    REJECTED: { type: 'final', entry: ['markClosed', notifyClosed('REJECTED')] },
    EXPIRED: { type: 'final', entry: ['markClosed', notifyClosed('EXPIRED')] },
  },
});

