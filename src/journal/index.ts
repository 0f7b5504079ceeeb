/**
 * StrategyJournal: causality for every order and fill, and the trade story.
 * - query.ts: StrategyJournal (entries by order, plan, directive, origin, signal, risk;
 *   rejections; order and plan stories joined with the ledger)
 * - aggregates.ts: slippage, fill ratio, timings, P&L and win rate over a data dir
 * - render.ts: stories as text; story-command.ts: `tradestate story <id> [--json]`
 * The writer and the per-flow StrategyCache live with the runtime (actors/journal-writer.ts,
 * actors/strategy-cache.ts).
 */
export * from './query.js';
export * from './aggregates.js';
export { renderStory, renderOrderStory, renderPlanStory, formatMs } from './render.js';
export { storyCommand, STORY_EXIT } from './story-command.js';
export type {
  JournalEntry,
  JournalEntryKind,
  DirectiveEntry,
  OrderRecordedEntry,
  FillEntry,
  OrderEndedEntry,
  OrderRequestEntry,
  OpportunityRejectedEntry,
  OpportunityRejectionInput,
  Attribution,
  IntentSource,
} from '../../actors/journal-writer.js';
export type { ChainIds } from '../../actors/strategy-cache.js';
