import { D } from '../domain/decimal.js';
import type { BacktestSummary } from '../backtest/summary.js';

/** 1234567.891 -> "1,234,567.89"; signed: "+1,234.50" / "-12.00". Decimal rounding, half-even. */
export function money(value: string, options: { signed?: boolean; dp?: number } = {}): string {
  const d = new D(value).toDecimalPlaces(options.dp ?? 2);
  const fixed = d.abs().toFixed(options.dp ?? 2);
  const [whole, frac] = fixed.split('.');
  const grouped = (whole ?? '0').replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const sign = d.isNegative() && !d.isZero() ? '-' : options.signed && d.gt(0) ? '+' : '';
  return `${sign}${grouped}${frac === undefined ? '' : `.${frac}`}`;
}

export function percent(value: string | null, options: { signed?: boolean; dp?: number } = {}): string {
  if (value === null) return 'n/a';
  return `${money(value, { signed: options.signed ?? false, dp: options.dp ?? 2 })}%`;
}

function day(iso: string | null): string {
  return iso === null ? '-' : iso.slice(0, 10);
}

/** The end-of-run report: what a trader looks at first. */
export function formatSummary(s: BacktestSummary, extra: { readonly logFile?: string | null; readonly seconds?: number; readonly barsPerSecond?: number } = {}): string[] {
  const c = s.currency;
  const t = s.trades;
  const lines: string[] = [];
  const row = (label: string, text: string) => lines.push(`  ${label.padEnd(14)}${text}`);
  lines.push(`Backtest ${s.symbol}  ${day(s.bars.first)} .. ${day(s.bars.last)}  (${s.bars.processed}${s.bars.processed === s.bars.total ? '' : ` of ${s.bars.total}`} ${s.bars.interval} bars)`);
  lines.push(`  ${s.strategy}`);
  lines.push(`  data: ${s.source}`);
  lines.push('');
  row('trades', `${t.total} (${t.closed} closed, ${t.open} open; ${t.long} long, ${t.short} short)${t.cancelled > 0 ? `, ${t.cancelled} entries never filled` : ''}`);
  const reasons = Object.entries(t.exitReasons)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([r, n]) => `${r.toLowerCase().replace(/_/g, ' ')} ${n}`)
    .join(', ');
  if (reasons !== '') row('exits', reasons);
  row(
    'win rate',
    t.closed === 0
      ? 'n/a (no closed trades)'
      : `${percent(t.winRatePct)} (${t.won} won, ${t.lost} lost)${t.averageWin !== null ? `; avg win ${money(t.averageWin, { signed: true })}` : ''}${t.averageLoss !== null ? `, avg loss ${money(t.averageLoss, { signed: true })}` : ''} ${c}`,
  );
  row('P&L (net)', `${money(s.pnl.net, { signed: true })} ${c}  (${percent(s.pnl.returnPct, { signed: true })} on ${money(s.initialCapital)}); realized ${money(s.pnl.realized, { signed: true })}, unrealized ${money(s.pnl.unrealized, { signed: true })}`);
  row('fees', `${money(s.fees)} ${c}  (P&L before fees ${money(s.pnl.gross, { signed: true })})`);
  row('max drawdown', `${money(s.maxDrawdown.amount)} ${c} (${percent(s.maxDrawdown.pct)} of peak equity)${s.maxDrawdown.troughAt !== null ? `, peak ${day(s.maxDrawdown.peakAt)} to trough ${day(s.maxDrawdown.troughAt)}` : ''}`);
  row('exposure', `in the market ${percent(s.exposure.timeInMarketPct)} of bars; average gross exposure ${percent(s.exposure.averageGrossPct)} of equity`);
  if (s.slippage.length === 0) row('slippage', 'no fills');
  for (const [i, r] of s.slippage.entries()) {
    row(
      i === 0 ? 'slippage' : '',
      `${r.executionStrategy}: ${r.fills} fills, ${money(r.cost)} ${c}${r.bps === null ? '' : ` (${money(r.bps, { dp: 2 })} bps)`} vs each order's reference (bar open / stop / limit); ` +
        `${money(r.shortfall, { signed: true })} ${c}${r.shortfallBps === null ? '' : ` (${money(r.shortfallBps, { dp: 2, signed: true })} bps)`} vs the decision bar's close`,
    );
  }
  const d = s.directives;
  row(
    'directives',
    `${d.total} (${d.newTrade} new, ${d.modify} modify, ${d.close} close)${d.declined > 0 ? `, ${d.declined} declined by planners` : ''}${d.refused > 0 ? `, ${d.refused} refused` : ''}${d.failed > 0 ? `, ${d.failed} failed` : ''}`,
  );
  row('equity', `${money(s.initialCapital)} -> ${money(s.finalEquity)} ${c}`);
  row('ledger', `${s.ledger.dataDir}  (${s.ledger.plans} plans, ${s.ledger.orders} orders, ${s.ledger.fills} fills)`);
  row('', `inspect: tradestate inspect --data-dir ${JSON.stringify(s.ledger.dataDir)}`);
  if (extra.logFile) row('log', extra.logFile);
  if (extra.seconds !== undefined) row('time', `${extra.seconds.toFixed(1)} s${extra.barsPerSecond !== undefined ? `, ${Math.round(extra.barsPerSecond)} bars/s` : ''}`);
  return lines;
}
