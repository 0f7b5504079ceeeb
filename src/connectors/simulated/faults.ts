/**
 * Fault injection for the simulated exchange: a seeded PRNG whose whole state is one uint32
 * (so it serializes), and the fault vocabulary.
 *
 * Call faults (drawn once per place / cancel / modify / fetchOrder / fetchOpenOrders /
 * fetchPositions call):
 * - 'timeout'    ConnectorError('timeout') thrown BEFORE the request is applied.
 * - 'network'    ConnectorError('network') thrown BEFORE the request is applied.
 * - 'lost_reply' the request IS applied (its replies are pushed as usual), then
 *                ConnectorError('timeout') is thrown: the caller never hears the answer.
 * Reply faults (drawn once per pushed reply):
 * - 'drop_reply' the reply is not delivered to listeners; the exchange's own state has still
 *                changed, so fetchOrder shows the truth.
 */
export type CallFaultKind = 'timeout' | 'network' | 'lost_reply';
export type FaultKind = CallFaultKind | 'drop_reply';
export const FAULT_KINDS: readonly FaultKind[] = ['timeout', 'network', 'lost_reply', 'drop_reply'];

export type CallOp = 'place' | 'cancel' | 'modify' | 'fetchOrder' | 'fetchOpenOrders' | 'fetchPositions' | 'fetchPrice';

export interface FaultOptions {
  /** Probability in [0, 1] that a call (or, with 'drop_reply', a pushed reply) is faulted. */
  readonly rate: number;
  /** Which faults may happen. A faulted call picks uniformly among the call kinds listed. */
  readonly kinds: readonly FaultKind[];
}

/** One injected fault, in the order they happened. */
export interface FaultRecord {
  /** 1-based sequence of the connector call (for 'drop_reply': of the reply). */
  readonly seq: number;
  readonly op: CallOp | 'reply';
  readonly kind: FaultKind;
  /** The order concerned, when the call or reply names one. */
  readonly clientOrderId: string | null;
  /** Whether the PRNG chose it (false: queued with `injectFault`). */
  readonly random: boolean;
}

/** mulberry32: returns the next state and a float in [0, 1). Deterministic from the state. */
export function nextRandom(state: number): { state: number; value: number } {
  const next = (state + 0x6d2b79f5) >>> 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return { state: next, value: ((t ^ (t >>> 14)) >>> 0) / 4294967296 };
}

export function isCallFault(kind: FaultKind): kind is CallFaultKind {
  return kind !== 'drop_reply';
}
