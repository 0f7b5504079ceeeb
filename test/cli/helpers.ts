import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { syntheticBars } from '../../src/data/synthetic.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const MAIN = join(ROOT, 'src/cli/main.ts');

export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

const children = new Set<ChildProcess>();
const dirs: string[] = [];

export function tempDir(prefix = 'tradestate-cli-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export function cleanup(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/**
 * Runs `tradestate <args>` in a child process (node + tsx, as `npm start` does). `onStderr` sees
 * stderr as it arrives and may act on the child (e.g. send it SIGINT).
 */
export function cli(args: readonly string[], options: { cwd?: string; onStderr?: (text: string, child: ChildProcess) => void; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    const guard = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 170_000);
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      options.onStderr?.(stderr, child);
    });
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      children.delete(child);
      done({ code, signal, stdout, stderr });
    });
  });
}

/** A daily OHLCV CSV of a seeded random walk, Yahoo-style header. */
export function writeCsv(path: string, count: number, seed = 5): void {
  const bars = syntheticBars({ count, seed, intervalMs: 86_400_000, startAt: Date.UTC(2019, 0, 1), volatilityBps: 60 });
  const lines = ['Date,Open,High,Low,Close,Volume', ...bars.map((b) => `${new Date(b.at).toISOString().slice(0, 10)},${b.open},${b.high},${b.low},${b.close},${b.volume}`)];
  writeFileSync(path, `${lines.join('\n')}\n`);
}

/** The one JSON object a `--json` command printed. */
export function json<T = Record<string, unknown>>(run: CliRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${run.code}):\n${run.stdout}\nstderr:\n${run.stderr}`);
  }
}
