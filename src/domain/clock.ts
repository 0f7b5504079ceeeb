/** Source of "now" in epoch milliseconds. Simulated in backtests and tests, wall clock live. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to; for backtests and deterministic tests. */
export class ManualClock implements Clock {
  constructor(private ms: number) {}
  now(): number {
    return this.ms;
  }
  set(ms: number): void {
    this.ms = ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

export function isoAt(ms: number): string {
  return new Date(ms).toISOString();
}
