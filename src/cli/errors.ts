import { ValidationError } from '../domain/errors.js';
import { OhlcvCsvError } from '../data/csv.js';
import { DataDirInUseError, SchemaVersionError } from '../../storage/errors.js';
import { BacktestStateError } from '../backtest/engine.js';
import { CheckpointError } from '../backtest/checkpoint.js';
import { UnknownStrategyError } from '../strategies/registry.js';

/** Exit codes of `tradestate`. */
export const EXIT = {
  ok: 0,
  /** Something failed while running. */
  failure: 1,
  /** Bad input: options, config, data, data dir state. Nothing was written. */
  usage: 2,
  /** Stopped by SIGINT (128 + 2) or SIGTERM (128 + 15); resumable. */
  sigint: 130,
  sigterm: 143,
} as const;

/** An error the user can fix, with the exit code to leave with. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
    readonly details: readonly string[] = [],
  ) {
    super(message);
  }
}

/** The lines to print for an error, and the exit code. */
export function describeError(error: unknown): { lines: string[]; exitCode: number } {
  if (error instanceof CliError) return { lines: [error.message, ...error.details.map((d) => `  ${d}`)], exitCode: error.exitCode };
  if (error instanceof ValidationError) {
    return { lines: [`${error.what} is invalid:`, ...error.violations.map((v) => `  ${v.field}: ${v.rule}`)], exitCode: EXIT.usage };
  }
  if (error instanceof OhlcvCsvError || error instanceof UnknownStrategyError || error instanceof BacktestStateError || error instanceof CheckpointError) {
    return { lines: [error.message], exitCode: EXIT.usage };
  }
  if (error instanceof DataDirInUseError) return { lines: [`${error.message} (is a run still going? stop it first)`], exitCode: EXIT.usage };
  if (error instanceof SchemaVersionError) return { lines: [error.message], exitCode: EXIT.usage };
  const e = error instanceof Error ? error : new Error(String(error));
  return { lines: [`error: ${e.message}`, ...(process.env.TRADESTATE_DEBUG ? [e.stack ?? ''] : [])], exitCode: EXIT.failure };
}
