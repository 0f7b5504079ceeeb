import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { CHECKPOINT_FILE, readCheckpoint, type BacktestCheckpoint } from './checkpoint.js';

/** What a data dir holds, as far as starting a backtest in it goes. */
export type DataDirState =
  | { readonly kind: 'absent' }
  | { readonly kind: 'empty' }
  | { readonly kind: 'backtest'; readonly checkpoint: BacktestCheckpoint }
  /** Not empty and no backtest checkpoint: someone else's ledger or files. */
  | { readonly kind: 'foreign'; readonly entries: readonly string[] };

/** Files LevelDB keeps in a dir (ours to remove with it). */
const LEVELDB_FILE = /^(\d+\.(log|ldb|sst)|CURRENT|LOCK|LOG|LOG\.old|MANIFEST-\d+)$/;

function ours(name: string, logFile: string): boolean {
  return LEVELDB_FILE.test(name) || name === CHECKPOINT_FILE || name === `${CHECKPOINT_FILE}.tmp` || name === logFile || name === 'tradestate.log';
}

export function dataDirState(dir: string, logFile = 'tradestate.log'): DataDirState {
  if (!existsSync(dir)) return { kind: 'absent' };
  if (!statSync(dir).isDirectory()) return { kind: 'foreign', entries: ['(not a directory)'] };
  const entries = readdirSync(dir);
  const checkpoint = readCheckpoint(dir);
  if (checkpoint !== null) return { kind: 'backtest', checkpoint };
  // A log file alone (e.g. of a run refused before it wrote anything) does not make a dir in use.
  if (entries.every((e) => e === logFile)) return { kind: 'empty' };
  return { kind: 'foreign', entries };
}

/** Does the dir hold a LevelDB (a tradestate ledger)? */
export function hasLedger(dir: string): boolean {
  return existsSync(join(dir, 'CURRENT'));
}

export class UnsafeWipeError extends Error {
  override readonly name = 'UnsafeWipeError';
}

/**
 * Removes a data dir's contents for `--fresh`. Only what a backtest writes there (LevelDB
 * files, the checkpoint, log files); a dir holding anything else, or that contains the
 * working directory, is refused and left alone.
 */
export function wipeDataDir(dir: string, cwd = process.cwd(), logFile = 'tradestate.log'): void {
  const abs = resolve(dir);
  if (!existsSync(abs)) return;
  const rel = relative(abs, resolve(cwd));
  if (rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep))) {
    throw new UnsafeWipeError(`refusing to wipe ${abs}: it contains the working directory`);
  }
  const entries = readdirSync(abs);
  const strangers = entries.filter((e) => !ours(e, logFile));
  if (strangers.length > 0) {
    throw new UnsafeWipeError(`refusing to wipe ${abs}: it holds files a backtest does not write (${strangers.slice(0, 5).join(', ')}${strangers.length > 5 ? ', ...' : ''})`);
  }
  for (const e of entries) rmSync(join(abs, e), { recursive: true, force: true });
}
