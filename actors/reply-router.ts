import type { ExchangeReply } from '../src/connectors/connector.js';
import { clientOrderIdOf, eventForReply, isRepeat } from './exchange-sync.js';
import { laneOf, type Lanes } from './lanes.js';
import type { StrategyLedger } from './ledger.js';

/**
 * The async flow (seeds/EXECUTION_FLOW.md §2): exchange replies become order events, one turn
 * each, in arrival order per order. A reply for an unknown order, or one a terminal order
 * does not allow, is recorded as an anomaly, never thrown; a reply that merely repeats what the
 * ledger already knows is dropped.
 */
export class ReplyRouter {
  repeated = 0;

  constructor(
    private readonly ledger: StrategyLedger,
    private readonly lanes: Lanes,
    private readonly onError: (error: unknown) => void,
  ) {}

  accept = (reply: ExchangeReply): void => {
    const clientOrderId = clientOrderIdOf(reply);
    void this.lanes.run(laneOf(this.ledger, clientOrderId), () => this.apply(clientOrderId, reply)).catch(this.onError);
  };

  private async apply(clientOrderId: string, reply: ExchangeReply): Promise<void> {
    const orderId = await this.ledger.orderIdForClientOrderId(clientOrderId);
    if (orderId === undefined) {
      await this.ledger.recordAnomaly(
        { kind: 'unknown_order_reply', detail: `${reply.type} reply for clientOrderId ${clientOrderId}, which no order has` },
        null,
        reply,
      );
      return;
    }
    const order = await this.ledger.order(orderId);
    if (order && isRepeat(order, reply)) {
      this.repeated++;
      return;
    }
    await this.ledger.applyToOrder(orderId, eventForReply(reply));
  }
}

