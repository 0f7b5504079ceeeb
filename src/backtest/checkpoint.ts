import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SimulatedExchangeState } from '../connectors/simulated-exchange.js';
import type { Json } from '../strategies/api.js';
import type { MetricsState } from './metrics.js';
import type { BacktestSummary } from './summary.js';

/** The resume checkpoint, beside the LevelDB files of the data dir. */
export const CHECKPOINT_FILE = 'backtest.json';

/** What a backtest was run on; resuming needs the same. Each is a sha256. */
export interface Fingerprint {
  readonly data: string;
  readonly strategy: string;
  readonly config: string;
}

export interface EngineState {
  /** Plans opened by NEW_TRADE and not yet seen closed. */
  readonly openPlans: readonly string[];
  readonly metrics: MetricsState;
  readonly directives: DirectiveCounts;
}

export interface DirectiveCounts {
  newTrade: number;
  modify: number;
  close: number;
  /** A planner declined (e.g. a position too small for the risk budget). */
  declined: number;
  /** The runtime refused the directive (e.g. its plan had closed meanwhile). */
  refused: number;
  /** The flow ended in EXECUTION_FAILED (e.g. the exchange refused an order). */
  failed: number;
  /** Background follow-ups the ledger refused (their order or group had ended meanwhile). */
  backgroundWarnings?: number;
}

/**
 * Written atomically (temp file + rename) after the ledger has settled for the bar before
 * `nextBar`. `status` is `running` while a run is going (a process that dies leaves it so),
 * `stopped` after a graceful stop, `completed` at the end.
 */
export interface BacktestCheckpoint {
  readonly version: 1;
  readonly status: 'running' | 'stopped' | 'completed';
  readonly fingerprint: Fingerprint;
  readonly symbol: string;
  readonly source: string;
  readonly strategy: { readonly name: string; readonly instanceId: string; readonly description: string };
  readonly totalBars: number;
  readonly nextBar: number;
  readonly barIntervalMs: number;
  readonly clockMs: number;
  readonly idDraws: number;
  readonly exchange: SimulatedExchangeState;
  readonly strategyState: Json;
  readonly engine: EngineState;
  /** Wall-clock time spent so far (informational; not part of the result). */
  readonly elapsedMs: number;
  readonly summary: BacktestSummary | null;
}

export function checkpointPath(dataDir: string): string {
  return join(dataDir, CHECKPOINT_FILE);
}

export function hasCheckpoint(dataDir: string): boolean {
  return existsSync(checkpointPath(dataDir));
}

export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
}

export function readCheckpoint(dataDir: string): BacktestCheckpoint | null {
  const path = checkpointPath(dataDir);
  if (!existsSync(path)) return null;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CheckpointError(`${path} is not valid JSON (${(error as Error).message}); it cannot be resumed`);
  }
  const c = value as Partial<BacktestCheckpoint>;
  if (c.version !== 1 || typeof c.nextBar !== 'number' || typeof c.status !== 'string' || c.fingerprint === undefined || c.exchange === undefined) {
    throw new CheckpointError(`${path} is not a tradestate backtest checkpoint (version 1)`);
  }
  return c as BacktestCheckpoint;
}

/** Temp file, then rename over the old one: a reader sees the old or the new checkpoint, never half of one. */
export function writeCheckpoint(dataDir: string, checkpoint: BacktestCheckpoint, durable: boolean): void {
  const path = checkpointPath(dataDir);
  const tmp = `${path}.tmp`;
  const text = JSON.stringify(checkpoint);
  if (!durable) {
    writeFileSync(tmp, text);
  } else {
    const fd = openSync(tmp, 'w');
    try {
      writeFileSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  renameSync(tmp, path);
  if (durable) {
    const dir = openSync(dataDir, 'r');
    try {
      fsyncSync(dir);
    } catch {
      // Some filesystems cannot fsync a directory; the rename is still atomic.
    } finally {
      closeSync(dir);
    }
  }
}
