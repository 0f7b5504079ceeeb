import { D as Decimal } from '../src/domain/decimal.js';
import { and, assign, setup } from 'xstate';
import type { ExitPlanLevels, ExitReason, GroupStatus, OrderRole, Side, TradePlanContext } from '../src/domain/schemas.js';
import { applyFillToPosition, FLAT } from './position.js';

export interface PlanInput {
  readonly planId: string;
  readonly strategyInstanceId: string;
  readonly symbol: string;
  readonly direction: Side;
  readonly comments: string | null;
  readonly exitPlan: ExitPlanLevels | null;
  readonly at: string;
}

export type PlanEvent =
  | { type: 'GROUP_ADDED'; at: string; groupId: string }
  | {
      type: 'FILLED';
      at: string;
      groupId: string;
      orderId: string;
      fillId: string;
      role: OrderRole;
      side: Side;
      quantity: string;
      price: string;
      fee: string;
    }
  | { type: 'GROUP_CLOSED'; at: string; groupId: string; status: GroupStatus }
  /** New exit levels (a trailing stop moved, or a MODIFY_ORDERS directive). */
  | { type: 'EXIT_PLAN_SET'; at: string; exitPlan: ExitPlanLevels }
  /** The position monitor's mark price. */
  | { type: 'MARK'; at: string; price: string }
  /** Reconciliation found the position closed outside the runtime, at this price. */
  | { type: 'EXTERNAL_CLOSE'; at: string; price: string };

type Args = { context: TradePlanContext; event: PlanEvent };

const EXIT_REASON_BY_ROLE: Record<OrderRole, ExitReason> = {
  STOP_LOSS: 'STOPPED_OUT',
  TAKE_PROFIT: 'PROFIT_TAKEN',
  EXIT: 'CLOSED_BY_DIRECTIVE',
  ENTRY: 'CLOSED_BY_DIRECTIVE',
};

const isFlat = (c: TradePlanContext) => new Decimal(c.position.netQuantity).isZero();
const hasTraded = (c: TradePlanContext) =>
  new Decimal(c.position.boughtQuantity).plus(c.position.soldQuantity).greaterThan(0);

function lastGroupClosing({ context, event }: Args): boolean {
  return event.type === 'GROUP_CLOSED' && context.openGroupIds.length === 1 && context.openGroupIds[0] === event.groupId;
}

/**
 * TradePlan: ACTIVE on its first fill; CLOSED when flat with every group ended; CANCELLED when
 * every group ended without a fill. Position is kept from fills (signed, BUY +).
 */
export const tradePlanMachine = setup({
  types: {
    context: {} as TradePlanContext,
    events: {} as PlanEvent,
    input: {} as PlanInput,
  },
  actions: {
    addGroup: assign(({ context, event }) => {
      const e = event as Extract<PlanEvent, { type: 'GROUP_ADDED' }>;
      return { groupIds: [...context.groupIds, e.groupId], openGroupIds: [...context.openGroupIds, e.groupId], updatedAt: e.at };
    }),
    applyFill: assign(({ context, event }) => {
      const e = event as Extract<PlanEvent, { type: 'FILLED' }>;
      const position = applyFillToPosition(context.position, e.side, e.quantity, e.price, e.fee);
      const reducing = new Decimal(position.netQuantity).abs().lessThan(new Decimal(context.position.netQuantity).abs());
      return {
        position,
        exitReason: reducing || new Decimal(position.netQuantity).isZero() ? EXIT_REASON_BY_ROLE[e.role] : context.exitReason,
        updatedAt: e.at,
      };
    }),
    closeGroup: assign(({ context, event }) => {
      const e = event as Extract<PlanEvent, { type: 'GROUP_CLOSED' }>;
      return { openGroupIds: context.openGroupIds.filter((id) => id !== e.groupId), updatedAt: e.at };
    }),
    markClosed: assign({ closedAt: ({ event }) => event.at, updatedAt: ({ event }) => event.at }),
    setExitPlan: assign({
      exitPlan: ({ context, event }) => (event.type === 'EXIT_PLAN_SET' ? event.exitPlan : context.exitPlan),
      updatedAt: ({ event }) => event.at,
    }),
    setMark: assign({
      mark: ({ context, event }) => (event.type === 'MARK' ? { price: event.price, at: event.at } : context.mark),
    }),
    closeExternally: assign(({ context, event }) => {
      if (event.type !== 'EXTERNAL_CLOSE') return {};
      const net = new Decimal(context.position.netQuantity);
      // Realized as if the position were sold (or bought back) at that price; no fee is known.
      const position = applyFillToPosition(context.position, net.isNegative() ? 'BUY' : 'SELL', net.abs().toFixed(), event.price, '0');
      return {
        position: { ...position, boughtQuantity: context.position.boughtQuantity, soldQuantity: context.position.soldQuantity },
        externalClose: { quantity: net.negated().toFixed(), price: event.price, at: event.at },
        exitReason: 'MANUAL_EXIT' as const,
        updatedAt: event.at,
      };
    }),
    clearExitReason: assign({ exitReason: null }),
  },
  guards: {
    newGroup: ({ context, event }) => event.type === 'GROUP_ADDED' && !context.groupIds.includes(event.groupId),
    knownGroup: ({ context, event }) => 'groupId' in event && context.groupIds.includes(event.groupId),
    openGroup: ({ context, event }) => event.type === 'GROUP_CLOSED' && context.openGroupIds.includes(event.groupId),
    lastGroupClosedFlat: (args) => lastGroupClosing(args) && isFlat(args.context) && hasTraded(args.context),
    lastGroupClosedUntraded: (args) => lastGroupClosing(args) && !hasTraded(args.context),
    notFlat: ({ context }) => !isFlat(context),
    noOpenGroup: ({ context }) => context.openGroupIds.length === 0,
    flattenedWithNoOpenGroup: ({ context, event }) => {
      if (event.type !== 'FILLED' || context.openGroupIds.length > 0 || !context.groupIds.includes(event.groupId)) return false;
      const p = applyFillToPosition(context.position, event.side, event.quantity, event.price, event.fee);
      return new Decimal(p.netQuantity).isZero();
    },
  },
}).createMachine({
  id: 'tradePlan',
  initial: 'PENDING',
  context: ({ input }) => ({
    planId: input.planId,
    strategyInstanceId: input.strategyInstanceId,
    symbol: input.symbol,
    direction: input.direction,
    comments: input.comments,
    exitPlan: input.exitPlan,
    mark: null,
    externalClose: null,
    groupIds: [],
    openGroupIds: [],
    position: FLAT,
    exitReason: null,
    createdAt: input.at,
    updatedAt: input.at,
    closedAt: null,
  }),
  states: {
    PENDING: {
      on: {
        GROUP_ADDED: { guard: 'newGroup', actions: 'addGroup' },
        FILLED: { guard: 'knownGroup', target: 'ACTIVE', actions: 'applyFill' },
        GROUP_CLOSED: [
          { guard: 'lastGroupClosedUntraded', target: 'CANCELLED', actions: 'closeGroup' },
          { guard: 'openGroup', actions: 'closeGroup' },
        ],
        EXIT_PLAN_SET: { actions: 'setExitPlan' },
        MARK: { actions: 'setMark' },
      },
    },
    ACTIVE: {
      on: {
        GROUP_ADDED: { guard: 'newGroup', actions: 'addGroup' },
        FILLED: [
          { guard: 'flattenedWithNoOpenGroup', target: 'CLOSED', actions: 'applyFill' },
          { guard: 'knownGroup', actions: 'applyFill' },
        ],
        GROUP_CLOSED: [
          { guard: 'lastGroupClosedFlat', target: 'CLOSED', actions: 'closeGroup' },
          { guard: 'openGroup', actions: 'closeGroup' },
        ],
        EXIT_PLAN_SET: { actions: 'setExitPlan' },
        MARK: { actions: 'setMark' },
        EXTERNAL_CLOSE: [
          { guard: and(['notFlat', 'noOpenGroup']), target: 'CLOSED', actions: 'closeExternally' },
          { guard: 'notFlat', actions: 'closeExternally' },
        ],
      },
    },
    CLOSED: { type: 'final', entry: 'markClosed' },
    CANCELLED: { type: 'final', entry: ['markClosed', 'clearExitReason'] },
  },
});
