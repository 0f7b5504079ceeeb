/**
 * The line between the stores (seeds/EXECUTION_FLOW.md, SRP): the ledger keeps reality and no
 * causality, the journal keeps causality and no trade state. Every key and value of every area
 * is scanned after a lifecycle that touches every kind of entry: entries with exits, fills,
 * protection, a cancel-replace modify, a rejection, a close kept across a crash mid-close.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AREAS, type Store } from '../../storage/store.js';
import {
  BREAKOUT,
  EXPOSURE,
  GatedConnector,
  RSI,
  VOL_OK,
  bar,
  cleanup,
  closeDirective,
  entriesOf,
  entryDirective,
  flat,
  iso,
  keysDeep,
  openAgain,
  openHarness,
  T0,
  tickCausality,
  until,
} from './helpers.js';

afterEach(cleanup);

const LEDGER_AREAS = AREAS.filter((a) => a !== 'journal');
/** Field names of causality (CausalityChain and its descriptions). */
const CAUSALITY_FIELDS = ['causality', 'origin', 'signal_ids', 'risk_ids', 'strategy_directive_id', 'signals', 'risks'];
/** Field names of order, fill and position state (the ledger's). */
const ORDER_STATE_FIELDS = [
  'status', 'value', 'quantity', 'filledQuantity', 'averageFillPrice', 'price', 'stopPrice', 'fee', 'fees', 'feeCurrency', 'liquidity',
  'tradeId', 'tradeIds', 'fillIds', 'reason', 'connectorOrderId', 'clientOrderId', 'pendingUpdate', 'position', 'netQuantity',
  'realizedPnl', 'exitReason', 'closedAt', 'updatedAt',
];

/** Strings only causality carries: origin, signal and risk ids and their descriptions. */
const NEEDLES = ['tick-sep-1', 'tick-sep-2', 'news-sep-3', 'sd-tick-sep', RSI.id, BREAKOUT.id, VOL_OK.id, EXPOSURE.id, RSI.description, EXPOSURE.description];

async function scanLedger(store: Store, where: string): Promise<string[]> {
  const problems: string[] = [];
  for (const area of LEDGER_AREAS) {
    for (const [key, raw] of await entriesOf(store, area)) {
      for (const n of NEEDLES) if (key.includes(n) || raw.includes(n)) problems.push(`${where}: ${area}!${key} contains "${n}"`);
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch {
        continue; // index keys and counters are not JSON objects
      }
      for (const k of keysDeep(value)) if (CAUSALITY_FIELDS.includes(k)) problems.push(`${where}: ${area}!${key} has causality field "${k}"`);
    }
  }
  return problems;
}

async function scanJournal(store: Store): Promise<{ problems: string[]; kinds: Set<string> }> {
  const problems: string[] = [];
  const kinds = new Set<string>();
  for (const [key, raw] of await entriesOf(store, 'journal')) {
    if (raw === '' || key === 'seq') continue;
    const value = JSON.parse(raw) as { kind?: string };
    if (value.kind) kinds.add(value.kind);
    for (const k of keysDeep(value)) if (ORDER_STATE_FIELDS.includes(k)) problems.push(`journal!${key} has order-state field "${k}"`);
  }
  return { problems, kinds };
}

describe('ledger and journal stay separate', () => {
  it('no ledger area holds causality (not even a close kept mid-way), and no journal value holds order state', async () => {
    let gated!: GatedConnector;
    const h = await openHarness({ exchange: { modify: false, slippageBps: 5, minQuantity: { MSFT: '5' } }, wrap: (e) => (gated = new GatedConnector(e)).connector });
    let rt = h.runtime;

    // A LIMIT entry with exits, re-priced by a cancel-replace modify, then filled.
    const a = await rt.submit(entryDirective('sep-a', tickCausality('tick-sep-1', [RSI, BREAKOUT], [VOL_OK]), { orderType: 'LIMIT', limit: '100', sl: '90', tp: '130' }));
    await rt.settled();
    await rt.submit({
      directive_id: 'sep-a-mod',
      causality: { ...tickCausality('tick-sep-2', [BREAKOUT], []), strategy_directive_id: 'sd-tick-sep-mod' },
      scope: 'MODIFY_EXISTING',
      target_group_id: a.group_ids[0],
      entry_plan: { symbol: 'AAPL', direction: 'BUY', limit_price: '101' },
      execution_plan: { action: 'MODIFY_ORDERS' },
    });
    await rt.settled();
    bar(h, '101.5', '102', '100.5', '101');
    await rt.settled();

    // A rejected opportunity, and an entry the exchange refuses (below its minimum quantity).
    await rt.recordRejection({ causality: tickCausality('tick-sep-2', [RSI], [EXPOSURE]), reasons: ['too much exposure'] });
    const refused = await rt.submit(entryDirective('sep-b', tickCausality('tick-sep-2', [BREAKOUT], []), { symbol: 'MSFT', size: '1', reference: '400' }));
    await rt.settled();
    expect((await rt.ledger.order(refused.order_ids[0]!))!.status).toBe('REJECTED');
    await until(async () => (await rt.ledger.groupsOfPlan(a.plan_id!)).length === 2, 'protection placed');
    await rt.settled();

    // A close kept across a crash: scanned while it waits at stage `closing`, then after.
    gated.holdCancels = true;
    const close = await rt.submit(closeDirective('sep-close', a.plan_id!, { origin: { type: 'NEWS', id: 'news-sep-3', at: iso(T0 + 600_000) }, risk_ids: [EXPOSURE.id], risks: [EXPOSURE] }));
    expect(close.stage).toBe('closing');
    const midway = await scanLedger(rt.strategyLedger.store, 'mid-close');
    await rt.strategyLedger.close();
    gated.dropListeners();
    gated.holdCancels = false;
    rt = await openAgain(h, gated.connector, 77);
    await until(async () => (await rt.strategyLedger.outbox()).length === 0 && rt.metrics().openFlows === 0, 'the close to place its exit');
    flat(h, '105');
    await rt.settled();
    expect((await rt.ledger.plan(a.plan_id!))!.status).toBe('CLOSED');

    const store = rt.strategyLedger.store;
    expect([...midway, ...(await scanLedger(store, 'end'))]).toEqual([]);
    const { problems, kinds } = await scanJournal(store);
    expect(problems).toEqual([]);
    // The scan saw every kind of entry the lifecycle produces.
    expect([...kinds].sort()).toEqual(['CANCEL_REQUESTED', 'DIRECTIVE', 'FILL', 'OPPORTUNITY_REJECTED', 'ORDER_CANCELED', 'ORDER_RECORDED', 'ORDER_REJECTED']);
    // And the journal does hold the causality the ledger does not.
    const journalRaw = (await entriesOf(store, 'journal')).map(([k, v]) => `${k} ${v}`).join('\n');
    for (const n of NEEDLES) expect(journalRaw, n).toContain(n);
  });
});
