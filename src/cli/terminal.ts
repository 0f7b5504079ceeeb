/**
 * Terminal output: results on stdout, everything else (progress, log lines, notes) on stderr.
 * While a progress bar is drawn, stderr lines go through it so they do not tear it.
 */
export interface Terminal {
  /** A result line (stdout). */
  out(line: string): void;
  /** A note, warning or log line (stderr). */
  note(line: string): void;
  readonly interactive: boolean;
  /** Routes notes through a progress bar while it is drawn; null to stop. */
  setOverlay(log: ((line: string) => void) | null): void;
}

export function createTerminal(): Terminal {
  let overlay: ((line: string) => void) | null = null;
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    note: (line) => (overlay ? overlay(line) : process.stderr.write(`${line}\n`)),
    interactive: process.stderr.isTTY === true,
    setOverlay: (log) => {
      overlay = log;
    },
  };
}
