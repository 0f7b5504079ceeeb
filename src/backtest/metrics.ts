import { D, str, type Dec } from '../domain/decimal.js';

/** Running account metrics of a backtest, kept exact in decimal and checkpointed with it. */
export interface MetricsState {
  /** Realized P&L net of fees of the plans that have closed. */
  readonly realizedClosed: string;
  readonly peakEquity: string;
  readonly peakAt: number | null;
  /** Largest peak-to-trough fall of equity (a positive amount) and its share of that peak. */
  readonly maxDrawdown: string;
  readonly maxDrawdownPct: string;
  readonly drawdownPeakAt: number | null;
  readonly drawdownTroughAt: number | null;
  readonly bars: number;
  /** Bars that ended with a position open. */
  readonly barsInMarket: number;
  /** Sum over bars of gross position value / equity. */
  readonly exposureSum: string;
  readonly lastEquity: string;
  readonly lastAt: number | null;
}

export class EquityMetrics {
  private realized: Dec;
  private peak: Dec;
  private peakAt: number | null;
  private maxDd: Dec;
  private maxDdPct: Dec;
  private ddPeakAt: number | null;
  private ddTroughAt: number | null;
  private bars: number;
  private inMarket: number;
  private exposure: Dec;
  private last: Dec;
  private lastAt: number | null;

  constructor(initialCapital: string, state?: MetricsState) {
    this.realized = new D(state?.realizedClosed ?? '0');
    this.peak = new D(state?.peakEquity ?? initialCapital);
    this.peakAt = state?.peakAt ?? null;
    this.maxDd = new D(state?.maxDrawdown ?? '0');
    this.maxDdPct = new D(state?.maxDrawdownPct ?? '0');
    this.ddPeakAt = state?.drawdownPeakAt ?? null;
    this.ddTroughAt = state?.drawdownTroughAt ?? null;
    this.bars = state?.bars ?? 0;
    this.inMarket = state?.barsInMarket ?? 0;
    this.exposure = new D(state?.exposureSum ?? '0');
    this.last = new D(state?.lastEquity ?? initialCapital);
    this.lastAt = state?.lastAt ?? null;
  }

  /** A plan closed: its realized P&L net of fees is now part of the account for good. */
  closePlan(realizedPnlNet: string): void {
    this.realized = this.realized.plus(realizedPnlNet);
  }

  get realizedClosed(): Dec {
    return this.realized;
  }

  get equity(): Dec {
    return this.last;
  }

  /** Equity and gross position value at a bar's close. */
  observe(at: number, equity: Dec, gross: Dec): void {
    this.bars++;
    this.last = equity;
    this.lastAt = at;
    if (!gross.isZero()) this.inMarket++;
    if (equity.gt(0)) this.exposure = this.exposure.plus(gross.div(equity));
    // The first peak is the starting capital (or the first close, if higher).
    if (equity.gt(this.peak)) this.peak = equity;
    if (this.peakAt === null || this.peak.eq(equity)) this.peakAt = at;
    const dd = this.peak.minus(equity);
    if (dd.gt(this.maxDd)) {
      this.maxDd = dd;
      this.maxDdPct = this.peak.gt(0) ? dd.div(this.peak) : new D(0);
      this.ddPeakAt = this.peakAt;
      this.ddTroughAt = at;
    }
  }

  state(): MetricsState {
    return {
      realizedClosed: str(this.realized),
      peakEquity: str(this.peak),
      peakAt: this.peakAt,
      maxDrawdown: str(this.maxDd),
      maxDrawdownPct: str(this.maxDdPct),
      drawdownPeakAt: this.ddPeakAt,
      drawdownTroughAt: this.ddTroughAt,
      bars: this.bars,
      barsInMarket: this.inMarket,
      exposureSum: str(this.exposure),
      lastEquity: str(this.last),
      lastAt: this.lastAt,
    };
  }
}
