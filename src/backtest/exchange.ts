import type { SimulatedExchangeOptions } from '../connectors/simulated-exchange.js';
import type { PlatformConfig } from '../config/schema.js';

/** SimulatedExchange options from `connector.simulated` of platform.yaml. */
export function simulatedExchangeOptions(config: PlatformConfig): SimulatedExchangeOptions {
  const s = config.connector.simulated;
  return {
    seed: s.seed,
    name: 'simulated',
    makerBps: s.fees.maker_bps,
    takerBps: s.fees.taker_bps,
    feeCurrency: s.fees.currency,
    slippageBps: s.slippage_bps,
    participation: s.participation,
    latencyMs: s.latency_ms,
    balances: s.starting_balances,
    allowShort: s.allow_short,
    quantityStep: s.quantity_step,
    minQuantity: s.min_quantity,
    modify: s.modify,
  };
}
