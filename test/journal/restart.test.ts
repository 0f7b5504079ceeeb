/**
 * The journal after a restart: the StrategyCache is gone, yet a fill that arrives later and a
 * close resumed after a crash are journaled with their full causality, and the stories read
 * from a closed data dir are complete.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DirectiveEntry, OrderRecordedEntry } from '../../actors/journal-writer.js';
import { StrategyJournal, type OrderStory, type PlanStory } from '../../src/journal/query.js';
import { storyCommand } from '../../src/journal/story-command.js';
import { EXPOSURE, GatedConnector, RSI, VOL_OK, bar, cleanup, closeDirective, entriesOf, entryDirective, flat, iso, openAgain, openHarness, T0, tickCausality, until } from './helpers.js';

afterEach(cleanup);

async function storyJson(dir: string, id: string): Promise<unknown> {
  const lines: string[] = [];
  expect(await storyCommand(dir, id, { json: true }, (l) => lines.push(l))).toBe(0);
  return JSON.parse(lines.join('\n'));
}

describe('after a restart', () => {
  it("a fill arriving after a restart continues the order's chain, and its story is complete", async () => {
    const h = await openHarness({ exchange: { slippageBps: 10 } });
    const causality = tickCausality('tick-r1', [RSI], [VOL_OK]);
    const outcome = await h.runtime.submit(entryDirective('dir-r1', causality, { orderType: 'LIMIT', limit: '100', sl: '95' }));
    const orderId = outcome.order_ids[0]!;
    await h.runtime.settled();
    flat(h, '101'); // not yet

    await h.restart(); // the cache is gone; the journal's heads are all there is
    expect(h.runtime.strategyCache.size).toBe(0);
    bar(h, '99.5', '100', '99', '99.8'); // gaps through the limit: fills at the open plus slippage, capped at 100
    await h.runtime.settled();
    const order = (await h.runtime.ledger.order(orderId))!;
    expect(order.status).toBe('FILLED');
    const [fill] = await h.runtime.ledger.fillsOfOrder(orderId);
    expect(fill!.price).toBe('99.5995'); // 99.5 + 10 bps

    const journal = new StrategyJournal(h.runtime.strategyLedger);
    const entries = await journal.ofOrder(orderId);
    expect(entries.map((e) => e.kind)).toEqual(['ORDER_RECORDED', 'FILL']);
    expect(entries[1]).toMatchObject({
      fill_id: fill!.fillId,
      cause: 'DIRECTIVE',
      directive_id: 'dir-r1',
      causality: { origin: causality.origin, signal_ids: [RSI.id], risk_ids: [VOL_OK.id], order_ids: [orderId], fill_ids: [fill!.fillId] },
    });
    await h.runtime.close();

    // Read back from the closed data dir, as `tradestate story <id> --json` does.
    const story = (await storyJson(h.dir, orderId)) as OrderStory;
    expect(story.kind).toBe('order');
    expect(story.why).toMatchObject({
      cause: 'DIRECTIVE',
      origin: causality.origin,
      signals: [RSI],
      risks: [VOL_OK],
      directive: { directive_id: 'dir-r1', scope: 'NEW_TRADE', rationale: 'oversold bounce', intent: { entry_plan: { limit_price: '100' } } },
      causality: { fill_ids: [fill!.fillId] },
    });
    expect(story.order).toMatchObject({ status: 'FILLED', quantity: '10', filled_quantity: '10', price: '100', order_type: 'LIMIT', execution_strategy: 'SINGLE' });
    expect(story.fills).toEqual([
      {
        fill_id: fill!.fillId,
        at: fill!.at,
        side: 'BUY',
        quantity: '10',
        price: '99.5995',
        fee: fill!.fee,
        fee_currency: fill!.feeCurrency,
        liquidity: fill!.liquidity,
        slippage: '-0.4005',
        slippage_bps: '-40.05',
      },
    ]);
    expect(story.execution).toMatchObject({
      intended_price: '100',
      intended_price_source: 'entry_plan.limit_price',
      average_fill_price: '99.5995',
      slippage: '-0.4005',
      slippage_bps: '-40.05',
      slippage_cost: '-4.005',
      fill_ratio: '1',
      ms_to_ack: 0,
      ms_to_first_fill: 120_000,
      ms_to_complete: 120_000,
    });
    expect(story.plan).toMatchObject({ closed: false, status: 'ACTIVE', net_quantity: '10' });

    // The fill id alone finds the same story.
    expect(((await storyJson(h.dir, fill!.fillId)) as OrderStory).order_id).toBe(orderId);
  });

  it('a close resumed after a crash is journaled with the close directive’s causality, taken back from the journal', async () => {
    let gated!: GatedConnector;
    const h = await openHarness({ wrap: (e) => (gated = new GatedConnector(e)).connector });
    const entry = tickCausality('tick-c1', [RSI], [VOL_OK]);
    const opened = await h.runtime.submit(entryDirective('dir-c1', entry, { reference: '100', sl: '90', tp: '120' }));
    const planId = opened.plan_id!;
    await h.runtime.settled();
    flat(h, '100');
    await h.runtime.settled();
    await until(async () => (await h.runtime.ledger.ordersOfGroup((await h.runtime.ledger.groupsOfPlan(planId))[1]?.groupId ?? '')).filter((o) => o.status === 'OPEN').length === 2, 'protection orders open');

    // A news-driven close: its cancels hang, so it stays at stage `closing` ...
    gated.holdCancels = true;
    const news = { origin: { type: 'NEWS' as const, id: 'news-guidance-cut', at: iso(T0 + 180_000) }, risk_ids: [EXPOSURE.id], risks: [EXPOSURE] };
    const closing = await h.runtime.submit(closeDirective('close-1', planId, news));
    expect(closing.stage).toBe('closing');
    // ... and the ledger-side record it keeps to resume has no causality (the journal has it).
    const kept = JSON.parse((await h.runtime.strategyLedger.store.getRaw('directive', 'close-1'))!) as Record<string, unknown>;
    expect(kept.directive).toMatchObject({ directive_id: 'close-1', scope: 'CLOSE_EXISTING', target_plan_id: planId });
    expect(kept.directive).not.toHaveProperty('causality');

    // Crash: the ledger closes under the runtime (its cancel calls never return).
    await h.runtime.strategyLedger.close();
    gated.dropListeners();
    gated.holdCancels = false;
    const rt = await openAgain(h, gated.connector, 99);
    expect(rt.strategyCache.size).toBe(0);
    const exitPlaced = async () => {
      for (const g of await rt.ledger.groupsOfPlan(planId)) for (const o of await rt.ledger.ordersOfGroup(g.groupId)) if (o.role === 'EXIT' && o.status === 'OPEN') return true;
      return false;
    };
    await until(exitPlaced, 'the flattening order');
    flat(h, '98');
    await rt.settled();
    const plan = (await rt.ledger.plan(planId))!;
    expect(plan.status).toBe('CLOSED');

    const journal = new StrategyJournal(rt.strategyLedger);
    const turns = (await journal.ofDirective('close-1')).filter((e): e is DirectiveEntry => e.kind === 'DIRECTIVE');
    expect(turns).toHaveLength(2);
    expect(turns[0]).toMatchObject({ scope: 'CLOSE_EXISTING', created_order_ids: [], context: { risks: [EXPOSURE] } });
    expect(turns[0]!.affected_order_ids).toHaveLength(2);
    const exitId = turns[1]!.created_order_ids[0]!;
    expect(turns[1]).toMatchObject({ causality: { origin: news.origin, risk_ids: [EXPOSURE.id], order_ids: [exitId] }, context: { risks: [EXPOSURE] } });
    const exitRecorded = (await journal.ofOrder(exitId))[0] as OrderRecordedEntry;
    expect(exitRecorded).toMatchObject({ cause: 'DIRECTIVE', directive_id: 'close-1', causality: { origin: news.origin, directive_id: 'close-1' } });
    for (const id of turns[0]!.affected_order_ids) {
      expect((await journal.ofOrder(id)).map((e) => e.kind)).toEqual(['ORDER_RECORDED', 'CANCEL_REQUESTED', 'ORDER_CANCELED']);
    }
    // The kept directive is gone once the close is done; no journal head outlives its actor.
    expect(JSON.parse((await rt.strategyLedger.store.getRaw('directive', 'close-1'))!)).not.toHaveProperty('directive');
    expect((await entriesOf(rt.strategyLedger.store, 'journal')).filter(([k]) => k.startsWith('head!'))).toEqual([]);
    await rt.close();

    const story = (await storyJson(h.dir, planId)) as PlanStory;
    expect(story.kind).toBe('plan');
    expect(story.why).toMatchObject({ origin: entry.origin, signals: [RSI], directive: { directive_id: 'dir-c1' } });
    expect(story.directives.map((d) => [d.directive_id, d.causality.origin.type])).toEqual([
      ['dir-c1', 'TICK'],
      ['close-1', 'NEWS'],
    ]);
    expect(story.directives[1]!.created_order_ids).toEqual([exitId]);
    const exit = story.orders.find((o) => o.order_id === exitId)!;
    expect(exit.order).toMatchObject({ role: 'EXIT', side: 'SELL', status: 'FILLED' });
    expect(exit.why.origin).toEqual(news.origin);
    expect(story.pnl).toMatchObject({ closed: true, status: 'CLOSED', result: 'LOSS' });
  });
});
