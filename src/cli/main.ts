#!/usr/bin/env node
/**
 * `tradestate` (and `npm start`, which runs `tradestate run` with its defaults): backtest a
 * strategy with every order a persisted actor, inspect the ledger, export the machines,
 * reconcile a data dir with its exchange. `tradestate <command> --help` for each.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { COMMANDS } from './commands/index.js';
import type { CliContext } from './commands/context.js';
import { describeError, EXIT } from './errors.js';
import { createTerminal, type Terminal } from './terminal.js';

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('tradestate')
    .description('trade-lifecycle runtime: backtests where every TradePlan, ExecutionGroup and Order is a persisted XState actor')
    .version('0.1.0')
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stderr.write(s),
    })
    .exitOverride();
  for (const register of COMMANDS) register(program, ctx);
  return program;
}

let pipesGuarded = false;
/** Output piped into `head` and the like: a closed pipe ends the program quietly. */
function quietOnClosedPipe(): void {
  if (pipesGuarded) return;
  pipesGuarded = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(EXIT.ok);
      throw error;
    });
  }
}

/** Runs the CLI on argv (without node and script); resolves with the exit code. */
export async function main(argv: readonly string[], terminal: Terminal = createTerminal(), cwd = process.cwd()): Promise<number> {
  quietOnClosedPipe();
  const ctx: CliContext = { terminal, cwd, exitCode: EXIT.ok };
  const program = buildProgram(ctx);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ctx.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors were already printed.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const { lines, exitCode } = describeError(error);
    for (const line of lines) terminal.note(line);
    return exitCode;
  }
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  const code = await main(process.argv.slice(2));
  process.exitCode = code;
}
