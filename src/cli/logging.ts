import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { pino, type Level, type Logger } from 'pino';
import type { Terminal } from './terminal.js';

export type LogLevel = Level | 'silent';

const LABEL: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const SKIP = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

/** One readable line for a pino JSON record: `12:03:04 WARN message key=value`. */
export function readableLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.trimEnd();
  }
  const time = typeof rec['time'] === 'string' ? rec['time'].slice(11, 19) : '';
  const level = LABEL[Number(rec['level'])] ?? String(rec['level']);
  const msg = String(rec['msg'] ?? '');
  const fields = Object.entries(rec)
    .filter(([k, v]) => !SKIP.has(k) && v !== null && typeof v !== 'object' && !msg.includes(String(v)))
    .map(([k, v]) => `${k}=${String(v)}`);
  return [time, level, msg, ...fields].filter((s) => s !== '').join(' ');
}

export interface RunLogger {
  readonly logger: Logger;
  /** The JSON log file, or null when file logging is off. */
  readonly file: string | null;
  /** Flushes and closes the file. */
  close(): void;
}

/**
 * Structured JSON lines (pino) to `file` (relative to the data dir) at `level`, and readable
 * lines on the terminal at `terminalLevel`.
 */
export function createRunLogger(options: { dataDir: string; file: string; level: LogLevel; terminalLevel: LogLevel; terminal: Terminal }): RunLogger {
  const path = isAbsolute(options.file) ? options.file : join(options.dataDir, options.file);
  const streams: { level: Level; stream: { write(msg: string): void } }[] = [];
  let fd: number | null = null;
  let destination: ReturnType<typeof pino.destination> | null = null;
  if (options.level !== 'silent') {
    mkdirSync(dirname(path), { recursive: true });
    fd = openSync(path, 'a');
    destination = pino.destination({ dest: fd, sync: true });
    streams.push({ level: options.level, stream: destination });
  }
  if (options.terminalLevel !== 'silent') {
    streams.push({ level: options.terminalLevel, stream: { write: (msg: string) => options.terminal.note(readableLine(msg)) } });
  }
  const values = pino.levels.values;
  const lowest = streams.length === 0 ? 'silent' : streams.reduce((min, s) => ((values[s.level] ?? 0) < (values[min] ?? 0) ? s.level : min), streams[0]!.level);
  const logger = pino(
    { level: lowest, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    streams.length === 0 ? { write: () => {} } : pino.multistream(streams),
  );
  return {
    logger,
    file: destination === null ? null : path,
    close: () => {
      if (destination !== null && fd !== null) {
        destination.flushSync();
        closeSync(fd);
        destination = null;
        fd = null;
      }
    },
  };
}
