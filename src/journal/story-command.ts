/**
 * `tradestate story <ORD_|TPL_ id> [--json]`: the story of an order or a plan, for a person
 * (text) or a machine (JSON). Registered by the CLI (src/cli); this module only needs a data
 * dir, the id, and where to write lines.
 */
import { DataDirInUseError } from '../../storage/errors.js';
import { kindOfId } from '../domain/ids.js';
import { renderStory } from './render.js';
import { StrategyJournal } from './query.js';

/** Exit codes: 0 printed, 1 not found or the data dir cannot be read, 2 bad usage. */
export const STORY_EXIT = { ok: 0, notFound: 1, usage: 2 } as const;

export async function storyCommand(dataDir: string, id: string, options: { json: boolean }, out: (line: string) => void): Promise<number> {
  const fail = (code: number, message: string): number => {
    if (options.json) out(JSON.stringify({ error: message, id }));
    else out(`error: ${message}`);
    return code;
  };
  const kind = kindOfId(id);
  if (kind !== 'order' && kind !== 'plan' && kind !== 'fill') {
    return fail(STORY_EXIT.usage, `expected an order id (ORD_...), a plan id (TPL_...) or a fill id (FIL_...), got "${id}"`);
  }
  let journal: StrategyJournal;
  try {
    journal = await StrategyJournal.open(dataDir);
  } catch (error) {
    if (error instanceof DataDirInUseError) return fail(STORY_EXIT.notFound, `data dir ${dataDir} is in use by a running runtime; stop it or ask it for the story`);
    return fail(STORY_EXIT.notFound, (error as Error).message);
  }
  try {
    const story = await journal.story(id);
    if (!story) return fail(STORY_EXIT.notFound, `${id} is not in the ledger of ${dataDir}`);
    if (options.json) out(JSON.stringify(story, null, 2));
    else for (const line of renderStory(story)) out(line);
    return STORY_EXIT.ok;
  } finally {
    await journal.close();
  }
}
