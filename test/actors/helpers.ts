/**
 * Shared helpers for the actor-runtime and crash tests: temp data dirs, deterministic ledgers,
 * full dumps of a store, and a structural integrity check of a data dir (every turn whole).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StrategyLedger, type OpenLedgerOptions } from '../../actors/ledger.js';
import type { CommittedEffect, TransitionRecord } from '../../actors/host.js';
import { AREAS, type Store } from '../../storage/store.js';
import { D } from '../../src/domain/decimal.js';
import { ManualClock } from '../../src/domain/clock.js';
import { seededIdSource } from '../../src/domain/ids.js';
import type { RegisterOrderRequest } from '../../src/domain/requests.js';

export const T0 = Date.UTC(2025, 0, 2, 9, 30, 0);

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'ts-'));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface TestLedger {
  readonly ledger: StrategyLedger;
  readonly clock: ManualClock;
}

export async function openLedger(
  dataDir: string,
  opts: { seed?: number; clock?: ManualClock; onEffects?: OpenLedgerOptions['onEffects'] } = {},
): Promise<TestLedger> {
  const clock = opts.clock ?? new ManualClock(T0);
  const ledger = await StrategyLedger.open({
    dataDir,
    clock,
    ids: seededIdSource(opts.seed ?? 42),
    ...(opts.onEffects ? { onEffects: opts.onEffects } : {}),
  });
  return { ledger, clock };
}

/** Every key of every area, as `area!key` -> raw value. */
export async function dumpStore(store: Store): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const area of AREAS) {
    for await (const [key, value] of store.entries(area)) out.set(`${area}!${key}`, value);
  }
  return out;
}

/** Keys added, removed or changed between two dumps. */
export function diffDumps(before: Map<string, string>, after: Map<string, string>) {
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  for (const [k, v] of after) {
    if (!before.has(k)) added.push(k);
    else if (before.get(k) !== v) changed.push(k);
  }
  for (const k of before.keys()) if (!after.has(k)) removed.push(k);
  return { added, removed, changed };
}

export const newPlanSpec = (symbol = 'AAPL') =>
  ({ strategyInstanceId: 'strat-1', symbol, direction: 'BUY', comments: null }) as const;

export function limitBuy(quantity = '10', price = '100'): RegisterOrderRequest['order'] {
  return { side: 'BUY', orderType: 'LIMIT', quantity, price };
}

// ---- integrity of a data dir --------------------------------------------------------------------

export interface StoredActor {
  readonly area: 'live' | 'archive';
  readonly kind: 'plan' | 'group' | 'order';
  readonly value: string;
  readonly seq: number;
  readonly context: Record<string, unknown>;
}

export interface StoreImage {
  readonly actors: Map<string, StoredActor>;
  readonly logs: Map<string, TransitionRecord[]>;
  readonly logKeys: string[];
  readonly fills: Map<string, Record<string, unknown>>;
  readonly outbox: CommittedEffect[];
  readonly anomalies: Record<string, unknown>[];
  readonly index: string[];
  readonly meta: Map<string, string>;
}

/** Reads everything in a store, decoding JSON (throws on anything that does not parse). */
export async function readImage(store: Store): Promise<StoreImage> {
  const actors = new Map<string, StoredActor>();
  for (const area of ['live', 'archive'] as const) {
    for await (const [key, raw] of store.entries(area)) {
      const rec = JSON.parse(raw) as Omit<StoredActor, 'area'>;
      if (actors.has(key)) throw new Error(`${key} is both live and archived`);
      actors.set(key, { area, ...rec });
    }
  }
  const logs = new Map<string, TransitionRecord[]>();
  const logKeys: string[] = [];
  for await (const [key, raw] of store.entries('log')) {
    logKeys.push(key);
    const id = key.slice(0, key.lastIndexOf('!'));
    const list = logs.get(id) ?? [];
    list.push(JSON.parse(raw) as TransitionRecord);
    logs.set(id, list);
  }
  const fills = new Map<string, Record<string, unknown>>();
  for await (const [key, raw] of store.entries('fill')) fills.set(key, JSON.parse(raw) as Record<string, unknown>);
  const outbox: CommittedEffect[] = [];
  for await (const [, raw] of store.entries('outbox')) outbox.push(JSON.parse(raw) as CommittedEffect);
  const anomalies: Record<string, unknown>[] = [];
  for await (const [, raw] of store.entries('anomaly')) anomalies.push(JSON.parse(raw) as Record<string, unknown>);
  const index: string[] = [];
  for await (const key of store.keys('index')) index.push(key);
  const meta = new Map<string, string>();
  for await (const [key, raw] of store.entries('meta')) meta.set(key, raw);
  return { actors, logs, logKeys, fills, outbox, anomalies, index, meta };
}

/**
 * Structural invariants that hold only if every turn is on disk whole or not at all. Returns
 * the list of violations (empty when the store is consistent).
 */
export function integrityProblems(img: StoreImage): string[] {
  const problems: string[] = [];
  const terminal: Record<string, readonly string[]> = {
    order: ['FILLED', 'CANCELED', 'REJECTED', 'EXPIRED'],
    group: ['COMPLETED', 'CANCELLED', 'FAILED', 'PARTIAL'],
    plan: ['CLOSED', 'CANCELLED'],
  };
  const get = (id: unknown, kind: StoredActor['kind']) => {
    const a = typeof id === 'string' ? img.actors.get(id) : undefined;
    return a && a.kind === kind ? a : undefined;
  };

  for (const [id, a] of img.actors) {
    const isTerminal = terminal[a.kind]!.includes(a.value);
    if (isTerminal !== (a.area === 'archive')) problems.push(`${id} is ${a.value} but stored in ${a.area}`);
    // the transition log: seq 0..a.seq, contiguous, chained, ending in the stored status
    const log = img.logs.get(id) ?? [];
    if (log.length !== a.seq + 1) problems.push(`${id} has seq ${a.seq} but ${log.length} log records`);
    log.forEach((rec, i) => {
      if (rec.seq !== i) problems.push(`${id} log record ${i} has seq ${rec.seq}`);
      if (i === 0 && rec.from !== null) problems.push(`${id} log starts from ${rec.from}`);
      if (i > 0 && rec.from !== log[i - 1]!.to) problems.push(`${id} log ${i} goes from ${rec.from}, previous ended in ${log[i - 1]!.to}`);
    });
    if (log.length > 0 && log[log.length - 1]!.to !== a.value) problems.push(`${id} log ends in ${log[log.length - 1]!.to}, record says ${a.value}`);
    // the status index: an ended actor has exactly one entry, its final status; a live one none
    const idx = img.index.filter((k) => k.startsWith('status!') && k.endsWith(`!${id}`));
    const expectedIdx = a.area === 'archive' ? [`status!${a.kind}!${a.value}!${id}`] : [];
    if (JSON.stringify(idx) !== JSON.stringify(expectedIdx)) problems.push(`${id} (${a.value}) has index entries ${JSON.stringify(idx)}`);
    // parent links
    const c = a.context;
    if (a.kind === 'order') {
      const group = get(c.parentGroupId, 'group');
      const plan = get(c.parentPlanId, 'plan');
      if (!group) problems.push(`order ${id}: group ${String(c.parentGroupId)} missing`);
      else if (!(group.context.orderIds as string[]).includes(id)) problems.push(`order ${id}: not listed by its group`);
      if (!plan) problems.push(`order ${id}: plan ${String(c.parentPlanId)} missing`);
      for (const fillId of c.fillIds as string[]) {
        const fill = img.fills.get(fillId);
        if (!fill) problems.push(`order ${id}: fill ${fillId} missing`);
        else if (fill.parentOrderId !== id) problems.push(`fill ${fillId} belongs to ${String(fill.parentOrderId)}, listed by ${id}`);
      }
    } else if (a.kind === 'group') {
      const plan = get(c.parentPlanId, 'plan');
      if (!plan) problems.push(`group ${id}: plan ${String(c.parentPlanId)} missing`);
      else if (!(plan.context.groupIds as string[]).includes(id)) problems.push(`group ${id}: not listed by its plan`);
      for (const o of c.orderIds as string[]) if (!get(o, 'order')) problems.push(`group ${id}: order ${o} missing`);
    } else {
      for (const g of c.groupIds as string[]) if (!get(g, 'group')) problems.push(`plan ${id}: group ${g} missing`);
    }
  }
  for (const id of img.logs.keys()) if (!img.actors.has(id)) problems.push(`log records for ${id}, which does not exist`);
  const clientIds = new Set<string>();
  for (const key of img.index) {
    if (key.startsWith('client!')) {
      clientIds.add(key.slice('client!'.length));
      continue;
    }
    if (!key.startsWith('status!')) continue; // other index families (closing!, unknown-order!) name no actor
    const id = key.slice(key.lastIndexOf('!') + 1);
    if (!img.actors.has(id)) problems.push(`index entry ${key} for a missing actor`);
  }
  // every order's clientOrderId is indexed in the same turn that created the order, and only then
  const orderClientIds = new Set<string>();
  for (const a of img.actors.values()) if (a.kind === 'order') orderClientIds.add(a.context.clientOrderId as string);
  for (const c of orderClientIds) if (!clientIds.has(c)) problems.push(`order with clientOrderId ${c} has no client index entry`);
  for (const c of clientIds) if (!orderClientIds.has(c)) problems.push(`client index entry ${c} for a missing order`);
  for (const [fillId, fill] of img.fills) {
    const order = get(fill.parentOrderId, 'order');
    if (!order || !(order.context.fillIds as string[]).includes(fillId)) problems.push(`fill ${fillId} not listed by order ${String(fill.parentOrderId)}`);
  }
  // quantities agree across the fill, the order, its group and its plan (one turn writes them all)
  const sum = (fills: Record<string, unknown>[]) => fills.reduce((t, f) => t.plus(f.quantity as string), new D(0));
  const fillsOf = (pred: (f: Record<string, unknown>) => boolean) => [...img.fills.values()].filter(pred);
  for (const [id, a] of img.actors) {
    const c = a.context;
    if (a.kind === 'order') {
      const s = sum(fillsOf((f) => f.parentOrderId === id));
      if (!s.eq(c.filledQuantity as string)) problems.push(`order ${id}: filled ${String(c.filledQuantity)}, its fills sum to ${s.toFixed()}`);
    } else if (a.kind === 'group') {
      const s = sum(fillsOf((f) => f.parentGroupId === id));
      if (!s.eq((c.filledQuantity as string | null) ?? '0')) problems.push(`group ${id}: filled ${String(c.filledQuantity)}, its fills sum to ${s.toFixed()}`);
    } else {
      const pos = c.position as { boughtQuantity: string; soldQuantity: string };
      const bought = sum(fillsOf((f) => f.parentPlanId === id && f.side === 'BUY'));
      const sold = sum(fillsOf((f) => f.parentPlanId === id && f.side === 'SELL'));
      if (!bought.eq(pos.boughtQuantity) || !sold.eq(pos.soldQuantity)) {
        problems.push(`plan ${id}: bought/sold ${pos.boughtQuantity}/${pos.soldQuantity}, fills say ${bought.toFixed()}/${sold.toFixed()}`);
      }
    }
  }
  for (const e of img.outbox) if (!get(e.effect.orderId, 'order')) problems.push(`outbox ${e.effectId} for missing order ${e.effect.orderId}`);
  const seq = Number(img.meta.get('seq') ?? '0');
  for (const e of img.outbox) if (Number(e.effectId) > seq) problems.push(`outbox ${e.effectId} beyond meta seq ${seq}`);
  return problems;
}
