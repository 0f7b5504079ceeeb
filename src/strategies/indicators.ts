import { D, str, type Dec } from '../domain/decimal.js';

/** Simple moving average over a ring buffer, exact in decimal (the sum is kept, not re-added). */
export class Sma {
  private values: Dec[] = [];
  private head = 0;
  private total = new D(0);

  constructor(readonly period: number) {
    if (!Number.isInteger(period) || period < 1) throw new RangeError(`SMA period must be a positive integer, got ${period}`);
  }

  push(value: Dec): void {
    if (this.values.length < this.period) {
      this.values.push(value);
    } else {
      this.total = this.total.minus(this.values[this.head]!);
      this.values[this.head] = value;
      this.head = (this.head + 1) % this.period;
    }
    this.total = this.total.plus(value);
  }

  get ready(): boolean {
    return this.values.length === this.period;
  }

  /** The sum of the window (compare `sum * otherPeriod` to avoid dividing). */
  get sum(): Dec {
    return this.total;
  }

  get value(): Dec | null {
    return this.ready ? this.total.div(this.period) : null;
  }

  /** The window, oldest first. */
  toJSON(): string[] {
    const n = this.values.length;
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(str(this.values[(this.head + i) % n]!));
    return out;
  }

  static from(period: number, window: readonly string[]): Sma {
    const sma = new Sma(period);
    for (const v of window.slice(-period)) sma.push(new D(v));
    return sma;
  }
}

export interface AtrState {
  readonly period: number;
  readonly prevClose: string | null;
  readonly value: string | null;
  readonly seedSum: string;
  readonly seedCount: number;
}

/** Average true range, Wilder's smoothing (the first value is the mean of the first `period` ranges). */
export class Atr {
  private prevClose: Dec | null = null;
  private current: Dec | null = null;
  private seedSum = new D(0);
  private seedCount = 0;

  constructor(readonly period: number) {
    if (!Number.isInteger(period) || period < 1) throw new RangeError(`ATR period must be a positive integer, got ${period}`);
  }

  push(high: Dec, low: Dec, close: Dec): void {
    let tr = high.minus(low);
    if (this.prevClose !== null) tr = D.max(tr, high.minus(this.prevClose).abs(), low.minus(this.prevClose).abs());
    if (this.current === null) {
      this.seedSum = this.seedSum.plus(tr);
      this.seedCount++;
      if (this.seedCount === this.period) this.current = this.seedSum.div(this.period);
    } else {
      this.current = this.current.times(this.period - 1).plus(tr).div(this.period);
    }
    this.prevClose = close;
  }

  get value(): Dec | null {
    return this.current;
  }

  toJSON(): AtrState {
    return {
      period: this.period,
      prevClose: this.prevClose === null ? null : str(this.prevClose),
      value: this.current === null ? null : str(this.current),
      seedSum: str(this.seedSum),
      seedCount: this.seedCount,
    };
  }

  static from(state: AtrState): Atr {
    const atr = new Atr(state.period);
    atr.prevClose = state.prevClose === null ? null : new D(state.prevClose);
    atr.current = state.value === null ? null : new D(state.value);
    atr.seedSum = new D(state.seedSum);
    atr.seedCount = state.seedCount;
    return atr;
  }
}
