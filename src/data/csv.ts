import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { D, str } from '../domain/decimal.js';
import type { OhlcvBar, OhlcvSeries } from './ohlcv.js';

/**
 * A CSV that cannot be read as OHLCV bars. Names the source, the 1-based line, the column (as
 * its header spells it) and the rule; nothing is returned from a file with a bad row.
 */
export class OhlcvCsvError extends Error {
  override readonly name = 'OhlcvCsvError';
  constructor(
    readonly source: string,
    /** 1-based; null when the file itself is the problem (missing, unreadable). */
    readonly line: number | null,
    readonly column: string | null,
    readonly rule: string,
    readonly value: string | null = null,
  ) {
    const where = `${source}${line === null ? '' : ` line ${line}`}${column === null ? '' : `, column "${column}"`}`;
    super(`${where}: ${value === null ? '' : `${JSON.stringify(value)} `}${rule}`);
  }
}

export interface ParseOhlcvOptions {
  /** Shown in errors and reports (a path). */
  readonly source?: string;
  /** The instrument; otherwise a symbol/ticker column with one value, else the file name. */
  readonly symbol?: string;
}

type Field = 'time' | 'date' | 'clock' | 'open' | 'high' | 'low' | 'close' | 'volume' | 'symbol';

/** Normalized header names (lower case, letters and digits only) for each field. */
const ALIASES: Record<Field, readonly string[]> = {
  time: ['timestamp', 'datetime', 'opentime', 'ts', 'dt', 'unix', 'unixtime', 'epoch'],
  date: ['date', 'day', 'tradedate', 'tradingday'],
  clock: ['time', 'hour'],
  open: ['open', 'o', 'openprice', 'opening'],
  high: ['high', 'h', 'highprice', 'max'],
  low: ['low', 'l', 'lowprice', 'min'],
  close: ['close', 'c', 'closeprice', 'last', 'price'],
  volume: ['volume', 'vol', 'v', 'basevolume', 'qty', 'quantity'],
  symbol: ['symbol', 'ticker', 'instrument', 'asset', 'pair'],
};

const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function normalizeHeader(name: string): string {
  return name.trim().toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** Splits one CSV line on `delimiter`, honouring double quotes ("" inside quotes is a quote). */
function splitLine(line: string, delimiter: string, source: string, lineNo: number): string[] {
  if (!line.includes('"')) return line.split(delimiter).map((f) => f.trim());
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"') {
        if (line[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === delimiter) {
      out.push(field.trim());
      field = '';
    } else field += ch;
  }
  if (quoted) throw new OhlcvCsvError(source, lineNo, null, 'has an unterminated quoted field (fields may not span lines)');
  out.push(field.trim());
  return out;
}

function detectDelimiter(headerLine: string): string {
  const candidates = [',', ';', '\t', '|'];
  let best = ',';
  let bestCount = 0;
  for (const c of candidates) {
    const n = headerLine.split(c).length - 1;
    if (n > bestCount) {
      best = c;
      bestCount = n;
    }
  }
  return best;
}

interface Columns {
  time: number | null;
  date: number | null;
  clock: number | null;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number | null;
  symbol: number | null;
}

function findColumns(names: readonly string[], source: string): Columns | null {
  const norm = names.map(normalizeHeader);
  const find = (field: Field): number | null => {
    for (const alias of ALIASES[field]) {
      const i = norm.indexOf(alias.replace(/[^a-z0-9]/g, ''));
      if (i >= 0) return i;
    }
    return null;
  };
  const open = find('open');
  const high = find('high');
  const low = find('low');
  const close = find('close');
  const date = find('date');
  let time = find('time');
  let clock = find('clock');
  // A lone "time" column is the timestamp; beside a "date" column it is the time of day.
  if (time === null && date === null && clock !== null) {
    time = clock;
    clock = null;
  }
  const recognized = [open, high, low, close, date, time].filter((i) => i !== null).length;
  if (recognized === 0) return null; // no header: the caller tries the positional layout
  const missing: string[] = [];
  if (time === null && date === null) missing.push('date (or time/timestamp)');
  if (open === null) missing.push('open');
  if (high === null) missing.push('high');
  if (low === null) missing.push('low');
  if (close === null) missing.push('close');
  if (missing.length > 0) {
    throw new OhlcvCsvError(
      source,
      1,
      null,
      `header is missing ${missing.join(', ')} (found: ${names.map((n) => JSON.stringify(n)).join(', ')}); expected columns date, open, high, low, close and optionally volume`,
    );
  }
  return { time, date, clock, open: open!, high: high!, low: low!, close: close!, volume: find('volume'), symbol: find('symbol') };
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const SLASH_DATE = /^(\d{4})\/(\d{2})\/(\d{2})$/;
const COMPACT_DATE = /^(\d{4})(\d{2})(\d{2})$/;
const ISO_DATETIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/;
const CLOCK = /^(\d{1,2}):(\d{2})(?::(\d{2})(\.\d{1,3})?)?$/;

function utc(y: string, m: string, d: string): number | null {
  const ms = Date.UTC(Number(y), Number(m) - 1, Number(d));
  const check = new Date(ms);
  if (check.getUTCFullYear() !== Number(y) || check.getUTCMonth() !== Number(m) - 1 || check.getUTCDate() !== Number(d)) return null;
  return ms;
}

/** Epoch ms of a date or timestamp cell; a time without a zone is UTC. Null if unreadable. */
export function parseTimestamp(text: string): number | null {
  const t = text.trim();
  let m = ISO_DATE.exec(t) ?? SLASH_DATE.exec(t) ?? COMPACT_DATE.exec(t);
  if (m) return utc(m[1]!, m[2]!, m[3]!);
  m = ISO_DATETIME.exec(t);
  if (m) {
    const day = utc(m[1]!, m[2]!, m[3]!);
    if (day === null) return null;
    const zone = m[8];
    const iso = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] ?? '00'}${m[7] ?? ''}${zone === undefined ? 'Z' : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone}`;
    const ms = Date.parse(iso);
    return Number.isFinite(ms) ? ms : null;
  }
  if (/^\d{9,13}(\.\d+)?$/.test(t)) {
    const n = Number(t);
    // 9-10 digits: seconds since the epoch; 12-13 digits: milliseconds.
    return Math.round(n < 1e11 ? n * 1000 : n);
  }
  return null;
}

function parseClock(text: string): number | null {
  const m = CLOCK.exec(text.trim());
  if (!m) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  const s = Number(m[3] ?? 0);
  if (h > 23 || min > 59 || s > 59) return null;
  return ((h * 60 + min) * 60 + s) * 1000 + Math.round(Number(m[4] ?? 0) * 1000);
}

/** Parses OHLCV CSV text. Throws OhlcvCsvError naming the line and column of the first bad cell. */
export function parseOhlcvCsv(text: string, options: ParseOhlcvOptions = {}): OhlcvSeries {
  const source = options.source ?? 'csv';
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let first = 0;
  while (first < lines.length && lines[first]!.trim() === '') first++;
  if (first === lines.length) throw new OhlcvCsvError(source, 1, null, 'is empty: expected a header (date, open, high, low, close, volume) and rows');
  const delimiter = detectDelimiter(lines[first]!);
  const headerCells = splitLine(lines[first]!, delimiter, source, first + 1);
  let columns = findColumns(headerCells, source);
  let names = headerCells;
  let start = first + 1;
  if (columns === null) {
    // No recognizable header: date, open, high, low, close[, volume] by position, if the first row reads so.
    if (headerCells.length < 5 || parseTimestamp(headerCells[0]!) === null) {
      throw new OhlcvCsvError(
        source,
        first + 1,
        null,
        `has no recognizable header (found: ${headerCells.map((n) => JSON.stringify(n)).join(', ')}); expected columns date, open, high, low, close and optionally volume`,
      );
    }
    columns = { time: 0, date: null, clock: null, open: 1, high: 2, low: 3, close: 4, volume: headerCells.length > 5 ? 5 : null, symbol: null };
    names = ['column 1', 'column 2', 'column 3', 'column 4', 'column 5', 'column 6'];
    start = first;
  }
  const c = columns;
  const colName = (i: number) => names[i] ?? `column ${i + 1}`;
  const width = Math.max(...[c.time, c.date, c.clock, c.open, c.high, c.low, c.close, c.volume, c.symbol].filter((i): i is number => i !== null)) + 1;

  const bars: OhlcvBar[] = [];
  const lineOf: number[] = [];
  const symbols = new Set<string>();
  for (let li = start; li < lines.length; li++) {
    const raw = lines[li]!;
    if (raw.trim() === '') continue;
    const lineNo = li + 1;
    const cells = splitLine(raw, delimiter, source, lineNo);
    if (cells.length < width) throw new OhlcvCsvError(source, lineNo, null, `has ${cells.length} fields; the header needs at least ${width}`);
    const cell = (i: number) => cells[i]!;

    let at: number | null;
    if (c.time !== null) {
      at = parseTimestamp(cell(c.time));
      if (at === null) throw new OhlcvCsvError(source, lineNo, colName(c.time), 'is not a date or timestamp (use YYYY-MM-DD, ISO-8601, or epoch seconds/ms)', cell(c.time));
    } else {
      at = parseTimestamp(cell(c.date!));
      if (at === null) throw new OhlcvCsvError(source, lineNo, colName(c.date!), 'is not a date (use YYYY-MM-DD or ISO-8601)', cell(c.date!));
      if (c.clock !== null && cell(c.clock) !== '') {
        const ms = parseClock(cell(c.clock));
        if (ms === null) throw new OhlcvCsvError(source, lineNo, colName(c.clock), 'is not a time of day (HH:MM or HH:MM:SS)', cell(c.clock));
        at += ms;
      }
    }
    const num = (i: number, what: string, allowZero: boolean): string => {
      const v = cell(i);
      if (!NUMBER_RE.test(v)) throw new OhlcvCsvError(source, lineNo, colName(i), `is not a number (${what})`, v);
      const d = new D(v);
      if (allowZero ? d.isNegative() : !d.gt(0)) throw new OhlcvCsvError(source, lineNo, colName(i), `must be ${allowZero ? 'zero or more' : 'greater than 0'} (${what})`, v);
      return str(d);
    };
    const open = num(c.open, 'open price', false);
    const high = num(c.high, 'high price', false);
    const low = num(c.low, 'low price', false);
    const close = num(c.close, 'close price', false);
    const volume = c.volume === null ? '0' : num(c.volume, 'volume', true);
    const h = new D(high);
    const l = new D(low);
    if (h.lt(open) || h.lt(close) || h.lt(l)) throw new OhlcvCsvError(source, lineNo, colName(c.high), `is below the bar's open ${open}, close ${close} or low ${low}`, cell(c.high));
    if (l.gt(open) || l.gt(close)) throw new OhlcvCsvError(source, lineNo, colName(c.low), `is above the bar's open ${open} or close ${close}`, cell(c.low));
    if (c.symbol !== null && cell(c.symbol) !== '') symbols.add(cell(c.symbol));
    bars.push({ at, open, high, low, close, volume });
    lineOf.push(lineNo);
  }
  if (bars.length === 0) throw new OhlcvCsvError(source, start + 1, null, 'has a header but no rows');

  // Time order: ascending, or a file that is entirely descending (newest first), which is reversed.
  const descending = bars.length > 1 && bars[0]!.at > bars[1]!.at;
  for (let i = 1; i < bars.length; i++) {
    const ok = descending ? bars[i]!.at < bars[i - 1]!.at : bars[i]!.at > bars[i - 1]!.at;
    if (!ok) {
      const tcol = c.time ?? c.date!;
      const prev = new Date(bars[i - 1]!.at).toISOString();
      const rule = bars[i]!.at === bars[i - 1]!.at
        ? `repeats the time of the previous row (${prev}); each bar needs its own time`
        : `is out of order after ${prev} (rows must be sorted by time, oldest first or newest first throughout)`;
      throw new OhlcvCsvError(source, lineOf[i]!, colName(tcol), rule, new Date(bars[i]!.at).toISOString());
    }
  }
  if (descending) bars.reverse();

  if (symbols.size > 1 && options.symbol === undefined) {
    throw new OhlcvCsvError(source, start + 1, colName(c.symbol!), `holds ${symbols.size} symbols (${[...symbols].slice(0, 5).join(', ')}); give one file per symbol`);
  }
  const symbol = options.symbol ?? [...symbols][0] ?? symbolFromPath(source);
  return { symbol, bars, source, hasVolume: c.volume !== null };
}

/** `data/aapl.csv` -> `AAPL`. */
export function symbolFromPath(path: string): string {
  const stem = basename(path, extname(path)).toUpperCase().replace(/[^A-Z0-9._-]/g, '');
  return stem === '' ? 'ASSET' : stem;
}

/** Reads and parses an OHLCV CSV file. */
export function loadOhlcvCsv(path: string, options: Omit<ParseOhlcvOptions, 'source'> & { readonly source?: string } = {}): OhlcvSeries {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new OhlcvCsvError(options.source ?? path, null, null, code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? (error as Error).message})`);
  }
  return parseOhlcvCsv(text, { ...options, source: options.source ?? path });
}
