import { D as Decimal } from '../src/domain/decimal.js';
import { assign, setup } from 'xstate';
import type {
  ExecutionGroupContext,
  ExecutionStrategyType,
  GroupStatus,
  OrderRole,
  OrderStatus,
  Side,
} from '../src/domain/schemas.js';
import type { Notification } from './actions.js';
import type { PlanEvent } from './trade-plan.js';

export interface GroupInput {
  readonly groupId: string;
  readonly parentPlanId: string;
  readonly executionStrategy: ExecutionStrategyType;
  readonly targetQuantity: string | null;
  readonly at: string;
}

export type GroupEvent =
  | { type: 'ORDER_ADDED'; at: string; orderId: string }
  | {
      type: 'ORDER_FILLED';
      at: string;
      orderId: string;
      fillId: string;
      role: OrderRole;
      side: Side;
      quantity: string;
      price: string;
      fee: string;
    }
  | { type: 'ORDER_CLOSED'; at: string; orderId: string; status: OrderStatus; reason: string | null }
  | { type: 'CANCEL'; at: string }
  | { type: 'FAIL'; at: string; reason: string };

type Args = { context: ExecutionGroupContext; event: GroupEvent };

const filled = (c: ExecutionGroupContext) => new Decimal(c.filledQuantity ?? '0');

function isLastOpenOrder({ context, event }: Args): boolean {
  return event.type === 'ORDER_CLOSED' && context.openOrderIds.length === 1 && context.openOrderIds[0] === event.orderId;
}

function notifyClosed(status: GroupStatus) {
  return {
    type: 'notifyParent',
    params: ({ context: c, event }: Args): Notification<PlanEvent> => ({
      to: c.parentPlanId,
      event: { type: 'GROUP_CLOSED', groupId: c.groupId, status, at: event.at },
    }),
  } as const;
}

const forwardFill = {
  type: 'notifyParent',
  params: ({ context: c, event }: Args): Notification<PlanEvent> => {
    const e = event as Extract<GroupEvent, { type: 'ORDER_FILLED' }>;
    return {
      to: c.parentPlanId,
      event: {
        type: 'FILLED',
        groupId: c.groupId,
        orderId: e.orderId,
        fillId: e.fillId,
        role: e.role,
        side: e.side,
        quantity: e.quantity,
        price: e.price,
        fee: e.fee,
        at: e.at,
      },
    };
  },
} as const;

/**
 * ExecutionGroup (seeds/EXECUTION_GROUP_DESIGN.md): tracks target vs filled quantity of its
 * orders. It ends only when none of its orders is open, so no fill can arrive after it ends.
 */
export const executionGroupMachine = setup({
  types: {
    context: {} as ExecutionGroupContext,
    events: {} as GroupEvent,
    input: {} as GroupInput,
  },
  actions: {
    notifyParent: (_, _params: Notification<PlanEvent>) => {},
    addOrder: assign(({ context, event }) => {
      const e = event as Extract<GroupEvent, { type: 'ORDER_ADDED' }>;
      return {
        orderIds: [...context.orderIds, e.orderId],
        openOrderIds: [...context.openOrderIds, e.orderId],
        updatedAt: e.at,
      };
    }),
    addFilled: assign(({ context, event }) => {
      const e = event as Extract<GroupEvent, { type: 'ORDER_FILLED' }>;
      return { filledQuantity: filled(context).plus(e.quantity).toFixed(), updatedAt: e.at };
    }),
    closeOrder: assign(({ context, event }) => {
      const e = event as Extract<GroupEvent, { type: 'ORDER_CLOSED' }>;
      return {
        openOrderIds: context.openOrderIds.filter((id) => id !== e.orderId),
        rejectedOrders: context.rejectedOrders + (e.status === 'REJECTED' ? 1 : 0),
        reason: e.status === 'REJECTED' && e.reason ? e.reason : context.reason,
        updatedAt: e.at,
      };
    }),
    markCancelRequested: assign({
      cancelRequested: true,
      cancelledAt: ({ event }) => event.at,
      updatedAt: ({ event }) => event.at,
    }),
    markCancelled: assign({ cancelledAt: ({ context, event }) => context.cancelledAt ?? event.at }),
    markCompleted: assign({ completedAt: ({ event }) => event.at }),
    markFailed: assign({
      reason: ({ context, event }) => (event.type === 'FAIL' ? event.reason : context.reason),
      updatedAt: ({ event }) => event.at,
    }),
  },
  guards: {
    knownOrder: ({ context, event }) => 'orderId' in event && context.orderIds.includes(event.orderId),
    newOrder: ({ context, event }) => event.type === 'ORDER_ADDED' && !context.orderIds.includes(event.orderId),
    openOrder: ({ context, event }) => event.type === 'ORDER_CLOSED' && context.openOrderIds.includes(event.orderId),
    lastOpenOrderReachedTarget: (args) =>
      isLastOpenOrder(args) &&
      (args.context.targetQuantity === null
        ? (args.event as Extract<GroupEvent, { type: 'ORDER_CLOSED' }>).status === 'FILLED' && args.context.rejectedOrders === 0
        : filled(args.context).greaterThanOrEqualTo(args.context.targetQuantity)),
    lastOpenOrderPartlyFilled: (args) => isLastOpenOrder(args) && filled(args.context).greaterThan(0),
    lastOpenOrderAllRejected: (args) =>
      isLastOpenOrder(args) &&
      (args.event as Extract<GroupEvent, { type: 'ORDER_CLOSED' }>).status === 'REJECTED' &&
      args.context.rejectedOrders + 1 === args.context.orderIds.length,
    lastOpenOrder: (args) => isLastOpenOrder(args),
  },
}).createMachine({
  id: 'executionGroup',
  initial: 'PENDING',
  context: ({ input }) => ({
    groupId: input.groupId,
    parentPlanId: input.parentPlanId,
    executionStrategy: input.executionStrategy,
    orderIds: [],
    openOrderIds: [],
    createdAt: input.at,
    updatedAt: input.at,
    targetQuantity: input.targetQuantity,
    filledQuantity: '0',
    cancelledAt: null,
    completedAt: null,
    cancelRequested: false,
    rejectedOrders: 0,
    reason: null,
  }),
  states: {
    PENDING: {
      on: {
        ORDER_ADDED: { guard: 'newOrder', target: 'ACTIVE', actions: 'addOrder' },
        CANCEL: { target: 'CANCELLED', actions: 'markCancelRequested' },
        FAIL: { target: 'FAILED', actions: 'markFailed' },
      },
    },
    ACTIVE: {
      on: {
        ORDER_ADDED: { guard: 'newOrder', actions: 'addOrder' },
        ORDER_FILLED: { guard: 'knownOrder', actions: ['addFilled', forwardFill] },
        ORDER_CLOSED: [
          { guard: 'lastOpenOrderReachedTarget', target: 'COMPLETED', actions: 'closeOrder' },
          { guard: 'lastOpenOrderPartlyFilled', target: 'PARTIAL', actions: 'closeOrder' },
          { guard: 'lastOpenOrderAllRejected', target: 'FAILED', actions: 'closeOrder' },
          { guard: 'lastOpenOrder', target: 'CANCELLED', actions: 'closeOrder' },
          { guard: 'openOrder', actions: 'closeOrder' },
        ],
        CANCEL: { actions: 'markCancelRequested' },
      },
    },
    COMPLETED: { type: 'final', entry: ['markCompleted', notifyClosed('COMPLETED')] },
    PARTIAL: { type: 'final', entry: notifyClosed('PARTIAL') },
    CANCELLED: { type: 'final', entry: ['markCancelled', notifyClosed('CANCELLED')] },
    FAILED: { type: 'final', entry: notifyClosed('FAILED') },
  },
});
