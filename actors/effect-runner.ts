import type { CancelOrderEffect, ModifyOrderEffect, PlaceOrderEffect } from '../machines/actions.js';
import { ConnectorError, type ExchangeOrder, type IExecutionConnector } from '../src/connectors/connector.js';
import type { PlanExecutionConfig } from '../src/domain/config.js';
import { eventsToMatchExchange } from './exchange-sync.js';
import type { CommittedEffect } from './host.js';
import { laneOf, type Lanes } from './lanes.js';
import type { StrategyLedger } from './ledger.js';
import { asConnectorError, backoffDelay, withTimeout, type Sleep } from './retry.js';

/** How an effect ended, reported to the flow that caused it. */
export type EffectResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly error: ConnectorError; readonly outcomeUnknown: boolean };

export type EffectListener = (orderId: string, kind: CommittedEffect['effect']['kind'], result: EffectResult) => void;

/**
 * Runs committed exchange effects through the connector, after their turn is on disk, and
 * turns each outcome into order events in a new turn that also settles the outbox entry.
 * Retries only retryable errors, with the configured backoff; a call whose outcome is unknown
 * (timeout, network) is resolved by looking the order up by clientOrderId before anything is
 * sent again, so no order is ever placed twice.
 */
export class EffectRunner {
  private readonly pending = new Map<string, number>();
  constructor(
    private readonly ledger: StrategyLedger,
    private readonly connector: IExecutionConnector,
    private readonly config: PlanExecutionConfig,
    private readonly lanes: Lanes,
    private readonly sleep: Sleep,
    private readonly onResult: EffectListener,
  ) {}

  /**
   * Runs effects in their order's lane. `recovered` effects come from the outbox of an earlier
   * process: a placement among them is looked up on the exchange before it may be sent again.
   */
  enqueue(effects: readonly CommittedEffect[], recovered = false): void {
    for (const ce of effects) {
      this.pending.set(ce.effect.orderId, (this.pending.get(ce.effect.orderId) ?? 0) + 1);
      void this.lanes.run(laneOf(this.ledger, ce.effect.clientOrderId), () =>
        this.run(ce, recovered).finally(() => {
          const left = (this.pending.get(ce.effect.orderId) ?? 1) - 1;
          if (left > 0) this.pending.set(ce.effect.orderId, left);
          else this.pending.delete(ce.effect.orderId);
        }),
      );
    }
  }

  /** Whether an effect of this order is queued or running (its outcome is not in yet). */
  inFlight(orderId: string): boolean {
    return this.pending.has(orderId);
  }

  private async run(ce: CommittedEffect, recovered: boolean): Promise<void> {
    let result: EffectResult;
    try {
      switch (ce.effect.kind) {
        case 'placeOrder':
          result = await this.place(ce.effectId, ce.effect, recovered);
          break;
        case 'cancelOrder':
          result = await this.cancel(ce.effectId, ce.effect);
          break;
        case 'modifyOrder':
          result = await this.modify(ce.effectId, ce.effect);
          break;
      }
    } catch (error) {
      // A ledger write failed (the store halted) or a bug: the effect stays in the outbox.
      result = { ok: false, error: asConnectorError(error), outcomeUnknown: true };
    }
    this.onResult(ce.effect.orderId, ce.effect.kind, result);
  }

  private call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withTimeout(fn(), this.config.timeout_seconds * 1000, what);
  }

  /** Tries `attempt` up to 1 + max_retries times; `unknown` resolves an unknown outcome first. */
  private async withRetries(
    attempt: () => Promise<EffectResult | undefined>,
    onError: (error: ConnectorError) => Promise<EffectResult | undefined>,
  ): Promise<EffectResult> {
    const policy = this.config.retry_policy;
    for (let i = 0; ; i++) {
      let error: ConnectorError;
      try {
        const done = await attempt();
        if (done) return done;
        continue;
      } catch (e) {
        error = asConnectorError(e);
      }
      const handled = await onError(error);
      if (handled) return handled;
      if (!error.retryable || i >= policy.max_retries) return { ok: false, error, outcomeUnknown: error.outcomeUnknown };
      await this.sleep(backoffDelay(policy, i));
    }
  }

  /**
   * Places an order. While the outcome of a send is unknown (a timeout, a network error, a
   * recovered effect) nothing is sent again: the order is looked up by clientOrderId, at once
   * and then with backoff while the lookup itself fails, and sent again only when the exchange
   * answers that it does not have it. Retries of each kind count against max_retries.
   */
  private async place(effectId: string, e: PlaceOrderEffect, mustLookUp = false): Promise<EffectResult> {
    const policy = this.config.retry_policy;
    let unknown = mustLookUp;
    let retries = 0;
    let sent = false;
    let last: ConnectorError = new ConnectorError('network', `could not look up ${e.clientOrderId} on the exchange`);
    const backoff = async (): Promise<boolean> => {
      if (retries >= policy.max_retries) return false;
      await this.sleep(backoffDelay(policy, retries++));
      return true;
    };
    for (;;) {
      if (unknown) {
        const found = await this.lookup(e);
        if (found) {
          if (found.status === 'open' && this.ledger.host.record(e.orderId)?.value !== 'SUBMITTED') {
            // It reached the exchange after the ledger gave up on it: take it off the exchange.
            await this.withdraw(e, found.exchangeOrderId);
          }
          await this.syncWith(e.orderId, found, effectId);
          return { ok: true };
        }
        if (found === undefined) {
          if (await backoff()) continue;
          return this.failed(effectId, e, { ok: false, error: last, outcomeUnknown: true });
        }
        unknown = false; // the exchange does not have it: sending (again) is safe
        if (sent && !(await backoff())) return this.failed(effectId, e, { ok: false, error: last, outcomeUnknown: false });
      }
      if (this.ledger.host.record(e.orderId)?.value !== 'SUBMITTED') {
        // Cancelled or rolled back meanwhile (e.g. while its outcome was unknown): never send it.
        await this.ledger.recordSettled(effectId);
        return { ok: true };
      }
      try {
        sent = true;
        const placed = await this.call('place', () =>
          this.connector.place({
            clientOrderId: e.clientOrderId,
            symbol: e.symbol,
            side: e.side,
            orderType: e.orderType,
            quantity: e.quantity,
            price: e.price,
            stopPrice: e.stopPrice,
            timeInForce: e.timeInForce,
            ocoGroup: e.ocoGroup,
          }),
        );
        await this.ledger.applyToOrder(e.orderId, { type: 'ACCEPTED', connectorOrderId: placed.exchangeOrderId }, effectId);
        return { ok: true };
      } catch (caught) {
        last = asConnectorError(caught);
        if (last.kind === 'duplicate_client_order_id' || last.outcomeUnknown) {
          unknown = true; // look it up before anything else
          continue;
        }
        if (!last.retryable) return this.failed(effectId, e, { ok: false, error: last, outcomeUnknown: false });
        if (!(await backoff())) return this.failed(effectId, e, { ok: false, error: last, outcomeUnknown: false });
      }
    }
  }

  private async failed(effectId: string, e: PlaceOrderEffect, result: Extract<EffectResult, { ok: false }>): Promise<EffectResult> {
    await this.placementFailed(effectId, e, result);
    return result;
  }

  private async placementFailed(effectId: string, e: PlaceOrderEffect, r: Extract<EffectResult, { ok: false }>): Promise<void> {
    if (r.outcomeUnknown) {
      // Leave the outbox entry: reconciliation looks the order up by clientOrderId later.
      await this.ledger.recordAnomaly(
        { kind: 'outcome_unknown', detail: `placement of ${e.clientOrderId} has an unknown outcome (${r.error.message}); left for reconciliation` },
        e.orderId,
        e,
      );
    } else if (this.config.error_handling.on_api_failure === 'rollback_ledger') {
      await this.ledger.applyToOrder(e.orderId, { type: 'REJECTED', reason: r.error.message }, effectId);
    } else {
      await this.ledger.recordAnomaly(
        { kind: 'execution_failed', detail: `placement of ${e.clientOrderId} failed: ${r.error.message} (alert_only: order left SUBMITTED)` },
        e.orderId,
        e,
        effectId,
      );
    }
  }

  private async cancel(effectId: string, e: CancelOrderEffect): Promise<EffectResult> {
    return this.withRetries(
      async () => {
        await this.call('cancel', () => this.connector.cancel({ clientOrderId: e.clientOrderId, exchangeOrderId: e.connectorOrderId, symbol: e.symbol }));
        await this.cancelled(effectId, e);
        return { ok: true };
      },
      async (error) => {
        if (error.kind === 'order_not_found' || error.outcomeUnknown) {
          const found = await this.lookup(e);
          if (found === null) {
            // Never reached the exchange: nothing to cancel, and its placement must never go out.
            await this.ledger.applyToOrder(e.orderId, { type: 'CANCELED', reason: 'not on the exchange' }, effectId);
            await this.settlePlacements(e.orderId);
            return { ok: true };
          }
          if (found && found.status !== 'open') {
            await this.syncWith(e.orderId, found, effectId);
            return { ok: true };
          }
          if (error.kind === 'order_not_found') return undefined;
        } else if (!error.retryable) {
          await this.ledger.applyToOrder(e.orderId, { type: 'CANCEL_REJECTED', reason: error.message }, effectId);
        }
        return undefined;
      },
    );
  }

  /**
   * The exchange took the cancel. Fills it made before may still be on the way (their replies
   * queue behind this task), and a terminal order refuses fills: so the order's final state is
   * read from the exchange, trades included, rather than assumed.
   */
  private async cancelled(effectId: string, e: CancelOrderEffect): Promise<void> {
    const policy = this.config.retry_policy;
    for (let attempt = 0; ; attempt++) {
      const found = await this.lookup(e);
      if (found && found.status !== 'open') return this.syncWith(e.orderId, found, effectId);
      if (found === null || attempt >= policy.max_retries) break;
      await this.sleep(backoffDelay(policy, attempt));
    }
    await this.ledger.applyToOrder(e.orderId, { type: 'CANCELED', reason: null }, effectId);
    await this.ledger.recordAnomaly(
      { kind: 'outcome_unknown', detail: `cancel of ${e.clientOrderId} was taken but its final state could not be read; fills made just before it may be missing` },
      e.orderId,
      e,
    );
  }

  private async withdraw(e: PlaceOrderEffect, exchangeOrderId: string): Promise<void> {
    try {
      await this.call('cancel', () => this.connector.cancel({ clientOrderId: e.clientOrderId, exchangeOrderId, symbol: e.symbol }));
    } catch {
      // Reported below; the position monitor reports what stays.
    }
    await this.ledger.recordAnomaly(
      { kind: 'unknown_exchange_order', detail: `${e.clientOrderId} reached the exchange after its order ended in the ledger; cancel sent` },
      e.orderId,
      e,
    );
  }

  /** Settles placements of an order that is not to be placed any more. */
  private async settlePlacements(orderId: string): Promise<void> {
    for (const effect of await this.ledger.outbox()) {
      if (effect.effect.orderId === orderId && effect.effect.kind === 'placeOrder') await this.ledger.recordSettled(effect.effectId);
    }
  }

  private async modify(effectId: string, e: ModifyOrderEffect): Promise<EffectResult> {
    return this.withRetries(
      async () => {
        await this.call('modify', () =>
          this.connector.modify({ clientOrderId: e.clientOrderId, exchangeOrderId: e.connectorOrderId, symbol: e.symbol, price: e.price, stopPrice: e.stopPrice, quantity: e.quantity }),
        );
        await this.ledger.applyToOrder(e.orderId, { type: 'MODIFIED' }, effectId);
        return { ok: true };
      },
      async (error) => {
        if (error.kind === 'order_not_found' || error.outcomeUnknown) {
          const found = await this.lookup(e);
          if (found && (found.status !== 'open' || error.outcomeUnknown)) {
            await this.syncWith(e.orderId, found, effectId);
            return { ok: true };
          }
        } else if (!error.retryable) {
          await this.ledger.applyToOrder(e.orderId, { type: 'MODIFY_REJECTED', reason: error.message }, effectId);
        }
        return undefined;
      },
    );
  }

  /** The order on the exchange; undefined when the lookup itself failed. */
  private async lookup(e: { clientOrderId: string; symbol: string }): Promise<ExchangeOrder | null | undefined> {
    try {
      return await this.call('fetchOrder', () => this.connector.fetchOrder({ clientOrderId: e.clientOrderId, exchangeOrderId: null, symbol: e.symbol }));
    } catch {
      return undefined;
    }
  }

  /** Brings the ledger order in line with the exchange's view of it, settling the effect. */
  async syncWith(orderId: string, exchange: ExchangeOrder, effectId?: string): Promise<void> {
    const order = await this.ledger.order(orderId);
    if (!order) return;
    const events = eventsToMatchExchange(order, exchange, this.ledger.now());
    if (events.length > 0) await this.ledger.applyEventsToOrder(orderId, events, effectId);
    else if (effectId !== undefined) await this.ledger.recordSettled(effectId);
  }
}
