import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { StrategyLedger } from '../../../actors/ledger.js';
import type { TransitionRecord } from '../../../actors/host.js';
import { readCheckpoint } from '../../backtest/checkpoint.js';
import { hasLedger } from '../../backtest/datadir.js';
import { kindOfId } from '../../domain/ids.js';
import { GroupStatus, OrderStatus, PlanStatus, type ExecutionGroup, type Fill, type Order, type TradePlan } from '../../domain/schemas.js';
import { CliError } from '../errors.js';
import type { CliContext } from './context.js';

type Kind = 'plan' | 'group' | 'order';
const KINDS: readonly Kind[] = ['plan', 'group', 'order'];
const STATUSES: Record<Kind, readonly string[]> = { plan: PlanStatus.options, group: GroupStatus.options, order: OrderStatus.options };
const TITLE: Record<Kind, string> = { plan: 'TradePlan', group: 'ExecutionGroup', order: 'Order' };

export interface InspectOptions {
  readonly dataDir: string;
  readonly kind?: Kind;
  readonly status?: string;
  readonly limit: string;
  readonly json?: boolean;
}

type View = { readonly [k: string]: unknown };

function planLine(p: View & Pick<TradePlan, 'planId' | 'symbol' | 'direction' | 'status' | 'exitReason'> & { position: TradePlan['position'] }): string {
  const pos = p.position;
  const avg = pos.averageEntryPrice === null ? '' : ` @ ${pos.averageEntryPrice}`;
  return `${p.planId}  ${p.symbol} ${p.direction === 'BUY' ? 'long ' : 'short'} ${p.status.padEnd(9)} net ${pos.netQuantity}${avg}, realized ${pos.realizedPnl}, fees ${pos.fees}${p.exitReason ? `, ${p.exitReason}` : ''}`;
}

function groupLine(g: View & Pick<ExecutionGroup, 'groupId' | 'executionStrategy' | 'status' | 'filledQuantity' | 'targetQuantity' | 'orderIds'>): string {
  return `${g.groupId}  ${g.executionStrategy} ${g.status.padEnd(9)} filled ${g.filledQuantity ?? '0'}/${g.targetQuantity ?? '-'}, ${g.orderIds.length} orders`;
}

function orderLine(o: View & Pick<Order, 'orderId' | 'role' | 'side' | 'quantity' | 'orderType' | 'price' | 'stopPrice' | 'status' | 'filledQuantity' | 'averageFillPrice'>): string {
  const px = o.orderType === 'MARKET' ? 'market' : o.orderType === 'LIMIT' ? `limit ${o.price}` : o.orderType === 'STOP' ? `stop ${o.stopPrice}` : `stop ${o.stopPrice} limit ${o.price}`;
  const filled = o.filledQuantity === '0' ? '' : `, filled ${o.filledQuantity}${o.averageFillPrice === null ? '' : ` @ ${o.averageFillPrice}`}`;
  return `${o.orderId}  ${o.role.padEnd(11)} ${o.side.padEnd(4)} ${o.quantity} ${px} ${o.status}${filled}`;
}

function historyLines(history: readonly TransitionRecord[]): string[] {
  return history.map((h) => {
    const { type, at: _at, ...rest } = h.event as { type: string; at?: unknown } & Record<string, unknown>;
    const detail = Object.entries(rest)
      .filter(([, v]) => v !== null && typeof v !== 'object')
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ');
    return `  #${String(h.seq).padStart(3)} ${h.at}  ${type.padEnd(14)} ${(h.from ?? '-').padStart(16)} -> ${h.to}${detail ? `  ${detail}` : ''}`;
  });
}

async function describeActor(ledger: StrategyLedger, id: string, json: boolean, ctx: CliContext): Promise<void> {
  const kind = kindOfId(id);
  if (kind === undefined || kind === 'fill') throw new CliError(`${id} is not an actor id (TPL_..., EXG_... or ORD_...)`);
  const record = kind === 'plan' ? await ledger.plan(id) : kind === 'group' ? await ledger.group(id) : await ledger.order(id);
  if (!record) throw new CliError(`${id}: no such ${TITLE[kind]} in ${ledger.store.dataDir}`);
  const history = await ledger.history(id);
  const out = ctx.terminal;
  if (kind === 'plan') {
    const plan = record as TradePlan;
    const groups = await ledger.groupsOfPlan(id);
    const tree: { group: ExecutionGroup; orders: { order: Order; fills: readonly Fill[] }[] }[] = [];
    for (const g of groups) {
      const orders: { order: Order; fills: readonly Fill[] }[] = [];
      for (const o of await ledger.ordersOfGroup(g.groupId)) orders.push({ order: o as Order, fills: (await ledger.fillsOfOrder(o.orderId)) as Fill[] });
      tree.push({ group: g as ExecutionGroup, orders });
    }
    const position = await ledger.position(id);
    if (json) {
      out.out(JSON.stringify({ id, kind, record, position, history, groups: tree }));
      return;
    }
    out.out(`TradePlan ${planLine(plan)}`);
    out.out(`  strategy ${plan.strategyInstanceId}; created ${plan.createdAt}${plan.closedAt ? `, closed ${plan.closedAt}` : ''}`);
    if (plan.exitPlan) out.out(`  exit plan: stop ${plan.exitPlan.stopLossPrice ?? '-'}, take-profit ${plan.exitPlan.takeProfitPrice ?? '-'}, trailing ${plan.exitPlan.trailingOffset ?? '-'}`);
    if (plan.comments) out.out(`  ${plan.comments}`);
    if (position) out.out(`  position: net ${position.netQuantity}, bought ${position.boughtQuantity}, sold ${position.soldQuantity}, realized ${position.realizedPnl}, fees ${position.fees}, net of fees ${position.realizedPnlNet}`);
    for (const { group, orders } of tree) {
      out.out(`  ExecutionGroup ${groupLine(group)}`);
      for (const { order, fills } of orders) {
        out.out(`    Order ${orderLine(order)}`);
        for (const f of fills) out.out(`      Fill ${f.fillId} ${f.quantity} @ ${f.price} fee ${f.fee} ${f.liquidity ?? ''} ${f.at}`);
      }
    }
  } else if (kind === 'group') {
    const group = record as ExecutionGroup;
    const orders = await ledger.ordersOfGroup(id);
    if (json) {
      out.out(JSON.stringify({ id, kind, record, history, orders }));
      return;
    }
    out.out(`ExecutionGroup ${groupLine(group)}  (plan ${group.parentPlanId})`);
    for (const o of orders) out.out(`  Order ${orderLine(o as Order)}`);
  } else {
    const order = record as Order;
    const fills = await ledger.fillsOfOrder(id);
    if (json) {
      out.out(JSON.stringify({ id, kind, record, history, fills }));
      return;
    }
    out.out(`Order ${orderLine(order)}  (group ${order.parentGroupId}, plan ${order.parentPlanId})`);
    out.out(`  clientOrderId ${order.clientOrderId}, exchange id ${order.connectorOrderId ?? '-'}, ${order.timeInForce}${order.reason ? `, reason: ${order.reason}` : ''}`);
    for (const f of fills) out.out(`  Fill ${f.fillId} ${f.quantity} @ ${f.price} fee ${f.fee} ${f.liquidity ?? ''} ${f.at}`);
  }
  out.out(`history of ${id} (${history.length} transitions):`);
  for (const line of historyLines(history)) out.out(line);
}

async function list(ledger: StrategyLedger, kind: Kind, statuses: readonly string[], limit: number, json: boolean, ctx: CliContext): Promise<void> {
  const rows: { id: string; status: string; record: unknown }[] = [];
  for (const status of statuses) {
    const remaining = limit === 0 ? -1 : limit - rows.length;
    if (remaining === 0) break;
    for (const id of await ledger.idsByStatus(kind, status as never, remaining)) {
      const record = kind === 'plan' ? await ledger.plan(id) : kind === 'group' ? await ledger.group(id) : await ledger.order(id);
      rows.push({ id, status, record: kind === 'plan' ? { ...record, position: await ledger.position(id) } : record });
    }
  }
  if (json) {
    ctx.terminal.out(JSON.stringify({ kind, statuses, limit, actors: rows.map((r) => r.record) }));
    return;
  }
  ctx.terminal.out(`${TITLE[kind]}s ${statuses.length === 1 ? statuses[0] : '(all states)'}: ${rows.length}${limit !== 0 && rows.length === limit ? ` (first ${limit}; --limit 0 for all)` : ''}`);
  for (const r of rows) {
    const rec = r.record as never;
    ctx.terminal.out(`  ${kind === 'plan' ? planLine(rec) : kind === 'group' ? groupLine(rec) : orderLine(rec)}`);
  }
}

export async function inspectCommand(actorId: string | undefined, options: InspectOptions, ctx: CliContext): Promise<void> {
  const dataDir = resolve(ctx.cwd, options.dataDir);
  if (!existsSync(dataDir)) throw new CliError(`no data dir at ${dataDir} (run a backtest first: tradestate run --data-dir ${JSON.stringify(options.dataDir)})`);
  if (!hasLedger(dataDir)) throw new CliError(`${dataDir} holds no tradestate ledger`);
  const limit = Number(options.limit);
  if (!Number.isInteger(limit) || limit < 0) throw new CliError(`--limit must be a whole number (0 for all), got ${options.limit}`);
  if (options.status !== undefined) {
    const kinds = options.kind ? [options.kind] : KINDS.filter((k) => STATUSES[k].includes(options.status!));
    const valid = kinds.length > 0 && kinds.every((k) => STATUSES[k].includes(options.status!));
    if (!valid) {
      const k = options.kind ?? 'plan';
      throw new CliError(`--status ${options.status} is not a state of ${TITLE[k]}; allowed: ${STATUSES[k].join(', ')}`);
    }
  }
  const ledger = await StrategyLedger.open({ dataDir });
  try {
    if (actorId !== undefined) {
      await describeActor(ledger, actorId, options.json === true, ctx);
      return;
    }
    if (options.status !== undefined || options.kind !== undefined) {
      const kind = options.kind ?? KINDS.find((k) => STATUSES[k].includes(options.status!))!;
      await list(ledger, kind, options.status !== undefined ? [options.status] : STATUSES[kind], limit, options.json === true, ctx);
      return;
    }
    // Overview: actors by state.
    const counts: Record<Kind, Record<string, number>> = { plan: {}, group: {}, order: {} };
    for (const kind of KINDS) for (const s of STATUSES[kind]) counts[kind][s] = (await ledger.idsByStatus(kind, s as never)).length;
    const cp = readCheckpoint(dataDir);
    const backtest = cp === null ? null : { status: cp.status, nextBar: cp.nextBar, totalBars: cp.totalBars, symbol: cp.symbol, strategy: cp.strategy.description, source: cp.source };
    const anomalyList = await ledger.anomalies();
    const anomalies = anomalyList.length;
    const anomalyKinds: Record<string, number> = {};
    for (const a of anomalyList) anomalyKinds[a.kind] = (anomalyKinds[a.kind] ?? 0) + 1;
    const outbox = (await ledger.outbox()).length;
    if (options.json) {
      ctx.terminal.out(JSON.stringify({ dataDir, backtest, counts, anomalies, anomalyKinds, outbox, corrupt: ledger.corruptRecords.map((c) => c.message) }));
      return;
    }
    const out = ctx.terminal;
    out.out(`data dir ${dataDir}`);
    if (backtest) out.out(`backtest ${backtest.strategy} on ${backtest.symbol}: ${backtest.status}, ${backtest.nextBar}/${backtest.totalBars} bars`);
    out.out('actors by state:');
    for (const kind of KINDS) {
      out.out(`  ${TITLE[kind].padEnd(15)} ${STATUSES[kind].map((s) => `${s} ${counts[kind][s]}`).join('  ')}`);
    }
    const kinds = Object.entries(anomalyKinds).map(([k, n]) => `${k} ${n}`).join(', ');
    out.out(`outbox ${outbox} (effects not yet settled); anomalies ${anomalies}${kinds ? ` (${kinds})` : ''}${ledger.corruptRecords.length > 0 ? `; ${ledger.corruptRecords.length} corrupt records` : ''}`);
    for (const c of ledger.corruptRecords) out.out(`  ${c.message}`);
    out.out('');
    out.out(`list:    tradestate inspect --data-dir ${JSON.stringify(options.dataDir)} --kind plan [--status CLOSED]`);
    out.out(`history: tradestate inspect --data-dir ${JSON.stringify(options.dataDir)} <TPL_... | EXG_... | ORD_...>`);
  } finally {
    await ledger.close();
  }
}

export function registerInspect(program: Command, ctx: CliContext): void {
  program
    .command('inspect [actorId]')
    .description("show the ledger: actors by state, a list of actors in a state, or one actor's record and full transition history")
    .option('--data-dir <dir>', 'the data dir to read', 'data')
    .addOption(new Option('--kind <kind>', 'list actors of this kind').choices([...KINDS]))
    .option('--status <status>', 'list actors in this state (e.g. ACTIVE, CLOSED, FILLED)')
    .option('--limit <n>', 'at most this many in a list (0 = all)', '50')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Examples:
  tradestate inspect                          actors by state in ./data
  tradestate inspect --kind plan              every TradePlan with its position
  tradestate inspect --status FILLED          filled orders
  tradestate inspect TPL_20130731_235959_ab12cd34   one plan: groups, orders, fills, history

Reads only; the data dir must not be open in another process (a running backtest).`,
    )
    .action(async (actorId: string | undefined, opts: InspectOptions) => {
      await inspectCommand(actorId, opts, ctx);
    });
}
