import { ConnectorError } from '../src/connectors/connector.js';
import type { PlanExecutionConfig } from '../src/domain/config.js';

type RetryPolicy = PlanExecutionConfig['retry_policy'];

/** Delay before retry number `attempt` (0 = first retry), capped at max_delay_ms. */
export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  const base = policy.initial_delay_ms;
  const raw =
    policy.backoff_strategy === 'constant' ? base : policy.backoff_strategy === 'linear' ? base * (attempt + 1) : base * 2 ** attempt;
  return Math.min(raw, policy.max_delay_ms);
}

/** A connector call that does not answer within the configured time is a `timeout`. */
export function withTimeout<T>(call: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ConnectorError('timeout', `${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
}

export function asConnectorError(error: unknown): ConnectorError {
  if (error instanceof ConnectorError) return error;
  return new ConnectorError('network', error instanceof Error ? error.message : String(error), { cause: error });
}

export type Sleep = (ms: number) => Promise<void>;
export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
