/**
 * Stories for a person: plain text, one line per fact, causality first (WHY), then reality
 * (WHAT HAPPENED, FILLS, EXECUTION), then the outcome.
 */
import type { ContextDescription } from '../domain/directive.js';
import type { DirectiveSummary, Execution, OrderStory, PlanStory, PnlSummary, Story, Why } from './query.js';

export function formatMs(ms: number | null): string {
  if (ms === null) return '-';
  if (Math.abs(ms) < 1000) return `${ms} ms`;
  if (Math.abs(ms) < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (Math.abs(ms) < 3_600_000) return `${Math.floor(ms / 60_000)}m ${Math.round((ms % 60_000) / 1000)}s`;
  if (Math.abs(ms) < 86_400_000) return `${Math.floor(ms / 3_600_000)}h ${Math.round((ms % 3_600_000) / 60_000)}m`;
  return `${Math.floor(ms / 86_400_000)}d ${Math.round((ms % 86_400_000) / 3_600_000)}h`;
}

function described(d: ContextDescription): string {
  const parts = [d.id];
  if (d.type) parts.push(`[${d.type}]`);
  if (d.description) parts.push(d.description);
  if (d.data && Object.keys(d.data).length > 0) parts.push(`(${Object.entries(d.data).map(([k, v]) => `${k}=${String(v)}`).join(', ')})`);
  return parts.join(' ');
}

function intentLine(d: DirectiveSummary): string | null {
  const i = d.intent;
  const parts: string[] = [];
  const e = i.entry_plan;
  if (e) {
    let s = `${e.direction} ${i.size_plan?.position_size ?? ''} ${e.symbol} ${e.order_type}`.replace(/ +/g, ' ');
    if (e.limit_price) s += ` limit ${e.limit_price}`;
    if (e.stop_price) s += ` stop ${e.stop_price}`;
    if (e.reference_price) s += ` ref ${e.reference_price}`;
    parts.push(s);
  } else if (i.size_plan) parts.push(`size ${i.size_plan.position_size}`);
  const x = i.exit_plan;
  if (x && (x.stop_loss_price || x.take_profit_price || x.trailing_offset)) {
    parts.push(
      ['exit', x.stop_loss_price ? `SL ${x.stop_loss_price}` : '', x.take_profit_price ? `TP ${x.take_profit_price}` : '', x.trailing_offset ? `trail ${x.trailing_offset}` : '']
        .filter(Boolean)
        .join(' '),
    );
  }
  if (i.execution_plan) parts.push(`${i.execution_plan.execution_strategy} ${i.execution_plan.urgency.toLowerCase()} urgency`);
  if (i.target_plan_id) parts.push(`target ${i.target_plan_id}`);
  if (i.target_group_id) parts.push(`target ${i.target_group_id}`);
  return parts.length > 0 ? parts.join('; ') : null;
}

function whyLines(why: Why, subject: { planId: string; chain: boolean }): string[] {
  const out = ['WHY'];
  if (why.cause === 'UNATTRIBUTED' || !why.causality) {
    out.push('  no causality recorded (created outside a directive, or before the journal)');
    return out;
  }
  const o = why.origin!;
  out.push(`  origin      ${o.type} ${o.id} at ${o.at}`);
  out.push(`  signals     ${why.signals.length === 0 ? '-' : described(why.signals[0]!)}`);
  for (const s of why.signals.slice(1)) out.push(`              ${described(s)}`);
  out.push(`  risks       ${why.risks.length === 0 ? '-' : described(why.risks[0]!)}`);
  for (const r of why.risks.slice(1)) out.push(`              ${described(r)}`);
  if (why.causality.strategy_directive_id) out.push(`  strategy    ${why.causality.strategy_directive_id}`);
  const d = why.directive;
  if (d) {
    out.push(`  directive   ${d.directive_id} ${d.scope}/${d.action ?? '-'} at ${d.at}${d.rationale ? ` - "${d.rationale}"` : ''}`);
    const intent = intentLine(d);
    if (intent) out.push(`  intent      ${intent}`);
  } else if (why.causality.directive_id) {
    out.push(`  directive   ${why.causality.directive_id}`);
  }
  if (why.cause === 'PLAN') out.push(`  cause       placed by the runtime for plan ${subject.planId} (protection), continuing its chain`);
  if (subject.chain) out.push(`  chain       orders ${why.causality.order_ids.join(', ') || '-'}; fills ${why.causality.fill_ids.join(', ') || '-'}`);
  return out;
}

function executionLines(x: Execution, filled: string, quantity: string): string[] {
  const out = ['EXECUTION'];
  out.push(`  intended    ${x.intended_price === null ? '- (no intended price: a market order without a reference price)' : `${x.intended_price} (${x.intended_price_source})`}`);
  if (x.average_fill_price !== null) {
    const slip = x.slippage === null ? '' : `   slippage ${x.slippage} per unit = ${x.slippage_bps} bps, cost ${x.slippage_cost}`;
    out.push(`  average     ${x.average_fill_price}${slip}`);
  }
  const pct = (Number(x.fill_ratio) * 100).toFixed(1);
  out.push(`  filled      ${filled} of ${quantity} (${pct}%)   fees ${x.fees}`);
  out.push(`  timings     ack ${formatMs(x.ms_to_ack)}, first fill ${formatMs(x.ms_to_first_fill)}, complete ${formatMs(x.ms_to_complete)}`);
  return out;
}

function pnlLines(p: PnlSummary, title: string): string[] {
  const head = `  ${p.status}${p.exit_reason ? ` ${p.exit_reason}` : ''}`;
  const result = p.result ? ` -> ${p.result}` : ' (open)';
  return [title, `${head}  realized ${p.realized_pnl}, fees ${p.fees}, net ${p.realized_pnl_net}${result}${p.closed ? '' : `, position ${p.net_quantity}`}`];
}

export function renderOrderStory(s: OrderStory): string[] {
  const o = s.order;
  const price = [o.price ? `@ ${o.price}` : '', o.stop_price ? `stop ${o.stop_price}` : ''].filter(Boolean).join(' ');
  const out: string[] = [];
  out.push(`Order ${s.order_id} - ${o.side} ${o.quantity} ${o.symbol} ${o.order_type}${price ? ` ${price}` : ''} (${o.role}, ${o.time_in_force}) - ${o.status}${o.reason ? ` (${o.reason})` : ''}`);
  out.push(`  plan ${s.plan_id}  group ${s.group_id}${o.execution_strategy ? ` (${o.execution_strategy})` : ''}`);
  out.push('');
  out.push(...whyLines(s.why, { planId: s.plan_id, chain: true }));
  out.push('');
  out.push('WHAT HAPPENED');
  const lines: { at: string; order: number; text: string }[] = [];
  s.journal.forEach((e, i) => {
    const by = 'directive_id' in e && e.directive_id ? ` (directive ${e.directive_id})` : '';
    const fill = e.kind === 'FILL' ? ` ${e.fill_id}` : '';
    lines.push({ at: e.at, order: i * 2 + 1, text: `journal  ${e.kind}${fill}${by}` });
  });
  s.transitions.forEach((t, i) => {
    if (t.event.type === 'xstate.init') return;
    const why = typeof t.event.reason === 'string' ? ` - ${t.event.reason}` : '';
    lines.push({ at: t.at, order: i * 2, text: `ledger   ${t.event.type}: ${t.from ?? '-'} -> ${t.to}${why}` });
  });
  lines.sort((a, b) => (a.at === b.at ? a.order - b.order : a.at < b.at ? -1 : 1));
  for (const l of lines) out.push(`  ${l.at}  ${l.text}`);
  if (s.fills.length > 0) {
    out.push('');
    out.push('FILLS');
    for (const f of s.fills) {
      const slip = f.slippage === null ? '' : `  slippage ${f.slippage} (${f.slippage_bps} bps)`;
      out.push(`  ${f.fill_id}  ${f.at}  ${f.quantity} @ ${f.price}  fee ${f.fee}${f.fee_currency ? ` ${f.fee_currency}` : ''}${f.liquidity ? ` ${f.liquidity}` : ''}${slip}`);
    }
  }
  out.push('');
  out.push(...executionLines(s.execution, o.filled_quantity, o.quantity));
  if (s.plan) {
    out.push('');
    out.push(...pnlLines(s.plan, `OUTCOME (plan ${s.plan_id})`));
  }
  return out;
}

export function renderPlanStory(s: PlanStory): string[] {
  const out: string[] = [];
  out.push(`Plan ${s.plan_id} - ${s.direction} ${s.symbol} (${s.strategy_instance_id}) - ${s.pnl.status}${s.pnl.exit_reason ? ` ${s.pnl.exit_reason}` : ''}`);
  out.push(`  opened ${s.created_at}${s.closed_at ? `, closed ${s.closed_at}` : ''}`);
  out.push('');
  out.push(...whyLines(s.why, { planId: s.plan_id, chain: false }));
  if (s.directives.length > 0) {
    out.push('');
    out.push('DIRECTIVES');
    for (const d of s.directives) {
      const o = d.causality.origin;
      out.push(`  ${d.at}  ${d.directive_id} ${d.scope}/${d.action ?? '-'}  origin ${o.type} ${o.id}${d.causality.signal_ids.length ? `  signals ${d.causality.signal_ids.join(', ')}` : ''}`);
      const intent = intentLine(d);
      if (intent) out.push(`      intent ${intent}`);
      if (d.created_order_ids.length) out.push(`      created ${d.created_order_ids.join(', ')}`);
      if (d.affected_order_ids.length) out.push(`      asked to change ${d.affected_order_ids.join(', ')}`);
    }
  }
  out.push('');
  out.push('ORDERS');
  for (const o of s.orders) {
    const r = o.order;
    const x = o.execution;
    const price = [r.price ? `@ ${r.price}` : '', r.stop_price ? `stop ${r.stop_price}` : ''].filter(Boolean).join(' ');
    out.push(`  ${o.order_id}  ${r.role} ${r.side} ${r.quantity} ${r.order_type}${price ? ` ${price}` : ''} - ${r.status}${r.reason ? ` (${r.reason})` : ''}`);
    const cause = o.why.cause === 'DIRECTIVE' ? `directive ${o.why.directive?.directive_id ?? o.why.causality?.directive_id ?? '?'}` : o.why.cause === 'PLAN' ? 'runtime (protection)' : 'unattributed';
    const filled = new Set(['FILLED', 'PARTIALLY_FILLED']).has(r.status) || r.filled_quantity !== '0' ? `filled ${r.filled_quantity} avg ${x.average_fill_price ?? '-'}` : 'not filled';
    const slip = x.slippage_bps === null ? '' : `, slippage ${x.slippage_bps} bps vs ${x.intended_price}`;
    out.push(`      ${filled}${slip}, fees ${r.fees}; by ${cause}; first fill ${formatMs(x.ms_to_first_fill)}`);
  }
  out.push('');
  out.push(...pnlLines(s.pnl, 'P&L'));
  return out;
}

export function renderStory(s: Story): string[] {
  return s.kind === 'order' ? renderOrderStory(s) : renderPlanStory(s);
}
