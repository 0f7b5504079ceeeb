import type { Terminal } from '../terminal.js';

/** What every command gets; `exitCode` is what the process exits with. */
export interface CliContext {
  readonly terminal: Terminal;
  readonly cwd: string;
  exitCode: number;
}
