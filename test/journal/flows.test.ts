/**
 * The journal writer in both flows: a directive with signals and risks (sync: DIRECTIVE and
 * ORDER_RECORDED in the directive's batch), its fill and protection orders (async: FILL, PLAN-
 * attributed orders), a risk veto (OPPORTUNITY_REJECTED in a turn of its own), malformed input
 * (nothing written), a modify by cancel-replace, and the StrategyCache's lifetime.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DirectiveEntry, FillEntry, OpportunityRejectedEntry, OrderRecordedEntry, OrderRequestEntry } from '../../actors/journal-writer.js';
import { AREAS } from '../../storage/store.js';
import { NotFoundError, ValidationError } from '../../src/domain/errors.js';
import { StrategyJournal } from '../../src/journal/query.js';
import { BREAKOUT, EXPOSURE, RSI, VOL_OK, bar, cleanup, entriesOf, entryDirective, flat, iso, openHarness, T0, tickCausality } from './helpers.js';

afterEach(cleanup);

/** The error a call throws, synchronously or by rejecting. */
async function caught(f: () => Promise<unknown>): Promise<unknown> {
  try {
    await f();
    return null;
  } catch (error) {
    return error;
  }
}

const LEDGER_AREAS = AREAS.filter((a) => a !== 'journal');

describe('a flow with signals and a risk veto', () => {
  it('journals the executed opportunity (directive, order, fill, protection) and the rejected one', async () => {
    const h = await openHarness();
    const rt = h.runtime;
    const journal = new StrategyJournal(rt.strategyLedger);

    // The executed opportunity: two signals, one risk assessment, a LIMIT entry with exits.
    const executed = tickCausality('tick-20250102-1430', [RSI, BREAKOUT], [VOL_OK]);
    const outcome = await rt.submit(entryDirective('dir-exec-1', executed, { orderType: 'LIMIT', limit: '100', sl: '95', tp: '110' }));
    const entryId = outcome.order_ids[0]!;
    const planId = outcome.plan_id!;
    await rt.settled();

    // The rejected opportunity: the same signal a minute later, vetoed by the exposure check.
    const ledgerBefore = new Map<string, [string, string][]>();
    for (const a of LEDGER_AREAS) ledgerBefore.set(a, await entriesOf(rt.strategyLedger.store, a));
    const rejection = await rt.recordRejection({
      causality: tickCausality('tick-20250102-1431', [RSI], [EXPOSURE], iso(T0 + 60_000)),
      reasons: ['AAPL exposure would reach 24% of equity (limit 20%)'],
      context: { notes: 'vetoed by the risk monitor', data: { exposure_pct: '24' } },
    });
    expect(rejection).toMatchObject({ kind: 'OPPORTUNITY_REJECTED', reasons: ['AAPL exposure would reach 24% of equity (limit 20%)'] });
    for (const a of LEDGER_AREAS) expect(await entriesOf(rt.strategyLedger.store, a), `${a} changed by a rejection`).toEqual(ledgerBefore.get(a));

    bar(h, '101', '101.5', '99.5', '100.5'); // comes down through 100: the entry fills at its limit
    await rt.settled();
    const order = (await rt.ledger.order(entryId))!;
    expect(order.status).toBe('FILLED');
    const fillId = order.fillIds[0]!;

    // ---- sync flow: the directive and its order, in order --------------------------------------
    const byDirective = await journal.ofDirective('dir-exec-1');
    expect(byDirective.map((e) => e.kind).slice(0, 3)).toEqual(['DIRECTIVE', 'ORDER_RECORDED', 'FILL']);
    const d = byDirective[0] as DirectiveEntry;
    expect(d).toMatchObject({
      directive_id: 'dir-exec-1',
      scope: 'NEW_TRADE',
      action: 'EXECUTE_TRADE',
      plan_id: planId,
      created_order_ids: [entryId],
      causality: {
        origin: executed.origin,
        signal_ids: [RSI.id, BREAKOUT.id],
        risk_ids: [VOL_OK.id],
        strategy_directive_id: 'sd-tick-20250102-1430',
        directive_id: 'dir-exec-1',
        order_ids: [entryId],
        fill_ids: [],
      },
      context: { signals: [RSI, BREAKOUT], risks: [VOL_OK] },
      intent: { entry_plan: { order_type: 'LIMIT', limit_price: '100' }, size_plan: { position_size: '10' }, exit_plan: { stop_loss_price: '95', take_profit_price: '110' } },
    });
    expect(d.at).toBe(order.createdAt);
    const recorded = byDirective[1] as OrderRecordedEntry;
    expect(recorded).toMatchObject({
      order_id: entryId,
      plan_id: planId,
      group_id: order.parentGroupId,
      cause: 'DIRECTIVE',
      intended_price: '100',
      intended_price_source: 'entry_plan.limit_price',
      causality: { origin: executed.origin, order_ids: [entryId], fill_ids: [] },
    });

    // ---- async flow: the fill continues the order's chain -----------------------------------------
    const fill = byDirective[2] as FillEntry;
    expect(fill).toMatchObject({ order_id: entryId, fill_id: fillId, plan_id: planId, cause: 'DIRECTIVE', directive_id: 'dir-exec-1' });
    expect(fill.causality).toEqual({ ...recorded.causality, fill_ids: [fillId] });
    expect(fill.at).toBe((await rt.ledger.fillsOfOrder(entryId))[0]!.at);

    // Protection orders the runtime placed for the plan inherit its chain (entry order and fill included).
    const protection = (await journal.ofPlan(planId)).filter((e): e is OrderRecordedEntry => e.kind === 'ORDER_RECORDED' && e.order_id !== entryId);
    expect(protection).toHaveLength(2);
    for (const p of protection) {
      expect(p.cause).toBe('PLAN');
      expect(p.directive_id).toBe('dir-exec-1');
      expect(p.causality).toMatchObject({ origin: executed.origin, signal_ids: [RSI.id, BREAKOUT.id], order_ids: [entryId, p.order_id], fill_ids: [fillId] });
    }

    // ---- the rejected opportunity ---------------------------------------------------------------------
    const rejections = await journal.rejections();
    expect(rejections).toHaveLength(1);
    const r = rejections[0] as OpportunityRejectedEntry;
    expect(r).toMatchObject({
      causality: { origin: { type: 'TICK', id: 'tick-20250102-1431' }, signal_ids: [RSI.id], risk_ids: [EXPOSURE.id], order_ids: [], fill_ids: [] },
      reasons: ['AAPL exposure would reach 24% of equity (limit 20%)'],
      context: { signals: [RSI], risks: [EXPOSURE], notes: 'vetoed by the risk monitor', data: { exposure_pct: '24' } },
    });
    expect((await journal.byOrigin('TICK', 'tick-20250102-1431')).map((e) => e.kind)).toEqual(['OPPORTUNITY_REJECTED']);
    expect((await journal.byOrigin('TICK')).map((e) => e.kind)).toEqual(['DIRECTIVE', 'OPPORTUNITY_REJECTED']);
    expect((await journal.bySignal(RSI.id)).map((e) => e.kind)).toEqual(['DIRECTIVE', 'OPPORTUNITY_REJECTED']);
    expect((await journal.bySignal(BREAKOUT.id)).map((e) => e.kind)).toEqual(['DIRECTIVE']);
    expect((await journal.byRisk(EXPOSURE.id)).map((e) => e.kind)).toEqual(['OPPORTUNITY_REJECTED']);

    // The entries of the order, the plan and the whole journal agree, in commit order.
    const all: number[] = [];
    for await (const e of journal.all()) all.push(e.seq);
    expect(all).toEqual([...all].sort((a, b) => a - b));
    expect((await journal.ofOrder(entryId)).map((e) => e.kind)).toEqual(['ORDER_RECORDED', 'FILL']);
  });

  it('a malformed directive or rejection writes nothing anywhere; a refused or repeated one leaves no cache', async () => {
    const h = await openHarness();
    const rt = h.runtime;
    const before = new Map<string, [string, string][]>();
    for (const a of AREAS) before.set(a, await entriesOf(rt.strategyLedger.store, a));

    // A described signal the chain does not list, and a bad reference price: every rule reported.
    const bad = entryDirective('bad-1', { ...tickCausality('t', [RSI], []), signal_ids: [] }, { reference: '-1' });
    const error = await caught(() => rt.submit(bad));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).violations.map((v) => v.field).sort()).toEqual(['causality.signals.0.id', 'entry_plan.reference_price']);

    expect(await caught(() => rt.recordRejection({ causality: tickCausality('t', [], []), reasons: [] }))).toBeInstanceOf(ValidationError);
    expect(await caught(() => rt.recordRejection({ causality: { origin: { type: 'RUMOUR', id: 'x', at: iso(T0) } }, reasons: ['no'] } as never))).toBeInstanceOf(ValidationError);
    await expect(rt.submit({ ...entryDirective('cl-1', tickCausality('t', [], [])), scope: 'CLOSE_EXISTING', target_plan_id: 'TPL_20250102_143000_zzzzzzzz', entry_plan: undefined, size_plan: undefined })).rejects.toBeInstanceOf(NotFoundError);
    for (const a of AREAS) expect(await entriesOf(rt.strategyLedger.store, a), `${a} changed`).toEqual(before.get(a));
    expect(rt.strategyCache.size).toBe(0);

    // A repeat of a finished directive returns its outcome and leaves no cache either.
    await rt.submit(entryDirective('rep-1', tickCausality('t', [], []), { reference: '100' }));
    flat(h, '100');
    await rt.settled();
    expect(rt.strategyCache.size).toBe(0);
    const journalBefore = await entriesOf(rt.strategyLedger.store, 'journal');
    await rt.submit(entryDirective('rep-1', tickCausality('t', [], []), { reference: '100' }));
    expect(rt.strategyCache.size).toBe(0);
    expect(await entriesOf(rt.strategyLedger.store, 'journal')).toEqual(journalBefore);
  });
});

describe('StrategyCache', () => {
  it('is created at submit, holds the flow context and its orders, and is cleared when the flow stops', async () => {
    const h = await openHarness();
    const rt = h.runtime;
    const seen: { event: string; size: number; orders: string[]; chainOrders: readonly string[]; signals: string[] }[] = [];
    rt.on('TRADE_EXECUTED', (e) => {
      const c = rt.strategyCache.snapshot(e.directiveId);
      seen.push({ event: 'TRADE_EXECUTED', size: rt.strategyCache.size, orders: Object.keys(c?.orders ?? {}), chainOrders: c?.causality.order_ids ?? [], signals: c?.context.signals.map((s) => s.id) ?? [] });
    });
    rt.on('FLOW_STOPPED', () => seen.push({ event: 'FLOW_STOPPED', size: rt.strategyCache.size, orders: [], chainOrders: [], signals: [] }));
    const outcome = await rt.submit(entryDirective('cache-1', tickCausality('tick-c', [RSI], [VOL_OK]), { orderType: 'LIMIT', limit: '100' }));
    await rt.settled();
    const orderId = outcome.order_ids[0]!;
    expect(seen).toEqual([
      { event: 'TRADE_EXECUTED', size: 1, orders: [orderId], chainOrders: [orderId], signals: [RSI.id] },
      // The FlowTerminationHandler's cleanup ran before other FLOW_STOPPED listeners.
      { event: 'FLOW_STOPPED', size: 0, orders: [], chainOrders: [], signals: [] },
    ]);
    expect(rt.strategyCache.size).toBe(0);

    // The fill arrives after the flow stopped: the journal continues from its own head, not the cache.
    bar(h, '100.5', '101', '99', '100');
    await rt.settled();
    const journal = new StrategyJournal(rt.strategyLedger);
    const [, fill] = await journal.ofOrder(orderId);
    expect(fill).toMatchObject({ kind: 'FILL', causality: { origin: { id: 'tick-c' }, signal_ids: [RSI.id], order_ids: [orderId] } });
  });
});

describe('requests from later directives', () => {
  it('a modify by cancel-replace: the replacement is caused by the modify, the old order records the cancel request', async () => {
    const h = await openHarness({ exchange: { modify: false } });
    const rt = h.runtime;
    const journal = new StrategyJournal(rt.strategyLedger);
    const opened = await rt.submit(entryDirective('mod-entry', tickCausality('tick-m1', [RSI], []), { orderType: 'LIMIT', limit: '100' }));
    await rt.settled();
    const oldId = opened.order_ids[0]!;
    const modifyCausality = { origin: { type: 'SCHEDULE' as const, id: 'reprice-1435', at: iso(T0 + 300_000) }, signal_ids: [BREAKOUT.id], signals: [BREAKOUT] };
    const modified = await rt.submit({
      directive_id: 'mod-1',
      causality: modifyCausality,
      scope: 'MODIFY_EXISTING',
      target_group_id: opened.group_ids[0],
      entry_plan: { symbol: 'AAPL', direction: 'BUY', limit_price: '101' },
      execution_plan: { action: 'MODIFY_ORDERS' },
    });
    await rt.settled();
    const newId = modified.order_ids[0]!;
    expect((await rt.ledger.order(oldId))!.status).toBe('CANCELED');

    const turns = (await journal.ofDirective('mod-1')).filter((e): e is DirectiveEntry => e.kind === 'DIRECTIVE');
    // One entry: the turn that later sends the held replacement creates and changes nothing.
    expect(turns).toHaveLength(1);
    expect(turns[0]).toMatchObject({ scope: 'MODIFY_EXISTING', action: 'MODIFY_ORDERS', plan_id: opened.plan_id, created_order_ids: [newId], affected_order_ids: [oldId] });
    const recorded = (await journal.ofOrder(newId))[0] as OrderRecordedEntry;
    expect(recorded).toMatchObject({
      kind: 'ORDER_RECORDED',
      cause: 'DIRECTIVE',
      directive_id: 'mod-1',
      intended_price: '101',
      causality: { origin: modifyCausality.origin, signal_ids: [BREAKOUT.id], directive_id: 'mod-1', order_ids: [newId] },
    });
    const old = await journal.ofOrder(oldId);
    expect(old.map((e) => e.kind)).toEqual(['ORDER_RECORDED', 'CANCEL_REQUESTED', 'ORDER_CANCELED']);
    const request = old[1] as OrderRequestEntry;
    expect(request).toMatchObject({ directive_id: 'mod-1', causality: { origin: modifyCausality.origin } });
    // The old order ended as the story of its own directive.
    expect(old[2]).toMatchObject({ directive_id: 'mod-entry', causality: { origin: { id: 'tick-m1' } } });

    bar(h, '101.5', '102', '100.5', '101'); // the replacement fills at 101
    await rt.settled();
    const story = (await journal.orderStory(newId))!;
    expect(story.why.origin).toEqual(modifyCausality.origin);
    expect(story.execution).toMatchObject({ intended_price: '101', average_fill_price: '101', slippage: '0', slippage_bps: '0' });
  });
});
