import type { LedgerView } from '../../actors/ledger.js';
import type { Side } from '../../src/domain/schemas.js';

export interface FakePlan {
  planId: string;
  symbol: string;
  direction: Side;
  status: 'PENDING' | 'ACTIVE' | 'CLOSED' | 'CANCELLED';
  netQuantity: string;
  openGroupIds: string[];
  exitPlan: { stopLossPrice: string | null; takeProfitPrice: string | null; trailingOffset: string | null } | null;
}

export interface FakeOrder {
  orderId: string;
  role: 'ENTRY' | 'EXIT' | 'STOP_LOSS' | 'TAKE_PROFIT';
  status: string;
}

/** An in-memory LedgerView with just what planners read; records every call. */
export class FakeLedger {
  readonly plans = new Map<string, FakePlan>();
  readonly groups = new Map<string, FakeOrder[]>();
  readonly calls: string[] = [];

  view(): LedgerView {
    const position = async (id: string) => {
      this.calls.push(`position ${id}`);
      const p = this.plans.get(id);
      if (!p) return undefined;
      return {
        planId: p.planId,
        symbol: p.symbol,
        status: p.status,
        netQuantity: p.netQuantity,
        averageEntryPrice: null,
        costBasis: '0',
        realizedPnl: '0',
        fees: '0',
        boughtQuantity: '0',
        soldQuantity: '0',
        realizedPnlNet: '0',
      };
    };
    const plan = async (id: string) => {
      this.calls.push(`plan ${id}`);
      const p = this.plans.get(id);
      return p ? { ...p, groupIds: p.openGroupIds } : undefined;
    };
    const ordersOfGroup = async (id: string) => {
      this.calls.push(`ordersOfGroup ${id}`);
      return this.groups.get(id) ?? [];
    };
    const none = async () => {
      throw new Error('not used by planners in these tests');
    };
    return Object.freeze({ plan, position, ordersOfGroup, group: none, order: none, plansByStatus: none, groupsOfPlan: none, fillsOfOrder: none, history: none }) as unknown as LedgerView;
  }
}
