import { resolve } from 'node:path';
import type { Command } from 'commander';
import { storyCommand } from '../../journal/story-command.js';
import type { CliContext } from './context.js';

/** `tradestate story <ORD_|TPL_|FIL_ id>`: causality joined with ledger reality, for a person or (--json) a program. */
export function registerStory(program: Command, ctx: CliContext): void {
  program
    .command('story <id>')
    .description('why an order or plan exists and what happened to it: origin, signals, risks, directive, orders, fills, slippage, P&L')
    .option('--data-dir <dir>', 'the data dir to read', 'data')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Examples:
  tradestate story ORD_20130731_235959_ab12cd34        one order's story
  tradestate story TPL_20130731_235959_ab12cd34 --json  a plan's story as JSON

Reads only; the data dir must not be open in another process (a running backtest).`,
    )
    .action(async (id: string, opts: { dataDir: string; json?: boolean }) => {
      ctx.exitCode = await storyCommand(resolve(ctx.cwd, opts.dataDir), id, { json: opts.json === true }, (line) => ctx.terminal.out(line));
    });
}
