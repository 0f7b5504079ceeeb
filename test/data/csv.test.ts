import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadOhlcvCsv, OhlcvCsvError, parseOhlcvCsv, parseTimestamp, symbolFromPath } from '../../src/data/csv.js';
import { bundledPath, loadBundled } from '../../src/data/bundled.js';
import { barInterval, describeInterval, sliceByTime } from '../../src/data/ohlcv.js';
import { syntheticBars } from '../../src/data/synthetic.js';

const day = (iso: string) => Date.parse(`${iso}T00:00:00Z`);

function csvError(fn: () => unknown): OhlcvCsvError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(OhlcvCsvError);
    return error as OhlcvCsvError;
  }
  throw new Error('expected an OhlcvCsvError');
}

describe('parseOhlcvCsv', () => {
  it('reads a Yahoo-style file: decimal strings, the Adj Close column ignored', () => {
    const s = parseOhlcvCsv(
      'Date,Open,High,Low,Close,Adj Close,Volume\n2013-05-13,64.501427,65.414284,64.500000,64.962860,50.961628,79237200\n2013-05-14,64.835716,65.028572,63.164288,63.408573,49.742329,111779500\n',
      { source: 'aapl.csv', symbol: 'AAPL' },
    );
    expect(s.symbol).toBe('AAPL');
    expect(s.hasVolume).toBe(true);
    expect(s.bars).toEqual([
      { at: day('2013-05-13'), open: '64.501427', high: '65.414284', low: '64.5', close: '64.96286', volume: '79237200' },
      { at: day('2013-05-14'), open: '64.835716', high: '65.028572', low: '63.164288', close: '63.408573', volume: '111779500' },
    ]);
  });

  it('detects headers by name in any order and case, with ; delimiters, quotes and a BOM', () => {
    const s = parseOhlcvCsv('\uFEFF"VOL";"close";"LOW";"High";"open";"timestamp"\n"12";"10.5";"10";"11";"10.25";"1700000000"\n', { source: 'x.csv' });
    expect(s.bars[0]).toEqual({ at: 1_700_000_000_000, open: '10.25', high: '11', low: '10', close: '10.5', volume: '12' });
  });

  it('combines separate date and time columns; epoch milliseconds; no volume column gives volume 0', () => {
    const s = parseOhlcvCsv('date,time,open,high,low,close\n2024-01-02,09:30,1,2,0.5,1.5\n2024-01-02,09:31:00,1.5,2,1,1\n', { source: 'm.csv' });
    expect(s.bars.map((b) => b.at)).toEqual([Date.UTC(2024, 0, 2, 9, 30), Date.UTC(2024, 0, 2, 9, 31)]);
    expect(s.hasVolume).toBe(false);
    expect(s.bars[0]!.volume).toBe('0');
    const ms = parseOhlcvCsv('time,o,h,l,c,v\n1704186000000,1,1,1,1,1\n');
    expect(ms.bars[0]!.at).toBe(1_704_186_000_000);
  });

  it('reads a file without a header as date, open, high, low, close, volume', () => {
    const s = parseOhlcvCsv('2024-01-02,1,2,0.5,1.5,100\n2024-01-03,1.5,2,1,1,200\n', { source: 'raw.csv' });
    expect(s.bars).toHaveLength(2);
    expect(s.bars[1]).toMatchObject({ open: '1.5', close: '1', volume: '200' });
  });

  it('reverses a file that is newest first', () => {
    const s = parseOhlcvCsv('Date,Open,High,Low,Close\n2024-01-03,2,2,2,2\n2024-01-02,1,1,1,1\n');
    expect(s.bars.map((b) => b.open)).toEqual(['1', '2']);
  });

  it('takes the symbol from a symbol column, else the file name', () => {
    expect(parseOhlcvCsv('ticker,date,open,high,low,close\nMSFT,2024-01-02,1,1,1,1\n').symbol).toBe('MSFT');
    expect(symbolFromPath('/data/btc-usd.csv')).toBe('BTC-USD');
  });

  it('names the line and column of a bad number', () => {
    const e = csvError(() => parseOhlcvCsv('Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.5,10\n2024-01-03,1,abc,0.5,1.5,10\n', { source: 'bad.csv' }));
    expect(e.line).toBe(3);
    expect(e.column).toBe('High');
    expect(e.value).toBe('abc');
    expect(e.message).toBe('bad.csv line 3, column "High": "abc" is not a number (high price)');
  });

  it('refuses impossible bars, bad dates, negative volume, repeats and disorder, each by line and column', () => {
    const head = 'Date,Open,High,Low,Close,Volume\n';
    const cases: [string, number, string, RegExp][] = [
      [`${head}2024-01-02,1,0.9,0.5,1,10\n`, 2, 'High', /below the bar's open 1/],
      [`${head}2024-01-02,1,2,1.2,1.5,10\n`, 2, 'Low', /above the bar's open 1/],
      [`${head}2024-01-02,1,2,0.5,0,10\n`, 2, 'Close', /greater than 0/],
      [`${head}2024-01-02,1,2,0.5,1,-5\n`, 2, 'Volume', /must be zero or more \(volume\)/],
      [`${head}02/01/2024,1,2,0.5,1,5\n`, 2, 'Date', /is not a date/],
      [`${head}2024-02-30,1,2,0.5,1,5\n`, 2, 'Date', /is not a date/],
      [`${head}2024-01-02,1,2,0.5,1,5\n2024-01-02,1,2,0.5,1,5\n`, 3, 'Date', /repeats the time/],
      [`${head}2024-01-02,1,2,0.5,1,5\n2024-01-04,1,2,0.5,1,5\n2024-01-03,1,2,0.5,1,5\n`, 4, 'Date', /out of order/],
    ];
    for (const [text, line, column, rule] of cases) {
      const e = csvError(() => parseOhlcvCsv(text, { source: 'f.csv' }));
      expect([e.line, e.column], e.message).toEqual([line, column]);
      expect(e.message).toMatch(rule);
    }
  });

  it('says which columns a header lacks, and what it found', () => {
    const e = csvError(() => parseOhlcvCsv('Date,Open,Close\n2024-01-02,1,1\n', { source: 'h.csv' }));
    expect(e.line).toBe(1);
    expect(e.message).toContain('header is missing high, low');
    expect(e.message).toContain('found: "Date", "Open", "Close"');
  });

  it('refuses short rows, empty files and a missing file', () => {
    expect(csvError(() => parseOhlcvCsv('Date,Open,High,Low,Close\n2024-01-02,1,2\n')).message).toMatch(/line 2: has 3 fields; the header needs at least 5/);
    expect(csvError(() => parseOhlcvCsv('\n\n')).message).toMatch(/is empty/);
    expect(csvError(() => parseOhlcvCsv('Date,Open,High,Low,Close\n')).message).toMatch(/no rows/);
    const missing = csvError(() => loadOhlcvCsv('/nonexistent/x.csv'));
    expect(missing.line).toBeNull();
    expect(missing.message).toBe('/nonexistent/x.csv: does not exist');
  });

  it('reads timestamps in the usual forms', () => {
    expect(parseTimestamp('2024-01-02')).toBe(Date.UTC(2024, 0, 2));
    expect(parseTimestamp('2024/01/02')).toBe(Date.UTC(2024, 0, 2));
    expect(parseTimestamp('20240102')).toBe(Date.UTC(2024, 0, 2));
    expect(parseTimestamp('2024-01-02T09:30:00Z')).toBe(Date.UTC(2024, 0, 2, 9, 30));
    expect(parseTimestamp('2024-01-02 09:30')).toBe(Date.UTC(2024, 0, 2, 9, 30));
    expect(parseTimestamp('2024-01-02T09:30:00+0100')).toBe(Date.UTC(2024, 0, 2, 8, 30));
    expect(parseTimestamp('1704186000')).toBe(1_704_186_000_000);
    expect(parseTimestamp('yesterday')).toBeNull();
  });
});

describe('files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tradestate-csv-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads a file, with the path in errors', () => {
    const path = join(dir, 'spy.csv');
    writeFileSync(path, 'Date,Open,High,Low,Close,Volume\r\n2024-01-02,1,2,0.5,1.5,10\r\n2024-01-03,x,2,0.5,1.5,10\r\n');
    const e = csvError(() => loadOhlcvCsv(path));
    expect(e.message).toBe(`${path} line 3, column "Open": "x" is not a number (open price)`);
    writeFileSync(path, 'Date,Open,High,Low,Close,Volume\r\n2024-01-02,1,2,0.5,1.5,10\r\n');
    expect(loadOhlcvCsv(path).symbol).toBe('SPY');
  });
});

describe('bundled data', () => {
  it('AAPL daily OHLCV 2013-05-13..2018-05-11 loads from node_modules', () => {
    expect(bundledPath('AAPL')).toMatch(/node_modules[\\/]@observablehq[\\/]sample-datasets[\\/]aapl\.csv$/);
    const s = loadBundled('AAPL');
    expect(s.symbol).toBe('AAPL');
    expect(s.source).toBe('@observablehq/sample-datasets/aapl.csv');
    expect(s.bars).toHaveLength(1260);
    expect(s.bars[0]).toEqual({ at: day('2013-05-13'), open: '64.501427', high: '65.414284', low: '64.5', close: '64.96286', volume: '79237200' });
    expect(s.bars.at(-1)!.at).toBe(day('2018-05-11'));
    expect(describeInterval(barInterval(s.bars))).toBe('1d');
    expect(sliceByTime(s.bars, day('2018-01-01'), null).length).toBeGreaterThan(80);
  });
});

describe('synthetic bars', () => {
  it('are deterministic, exact decimals and consistent bars', () => {
    const a = syntheticBars({ count: 2000, seed: 3 });
    expect(syntheticBars({ count: 2000, seed: 3 })).toEqual(a);
    expect(syntheticBars({ count: 10, seed: 4 })).not.toEqual(a.slice(0, 10));
    for (const b of a) {
      expect(b.open).toMatch(/^\d+(\.\d{1,4})?$/);
      const [o, h, l, c] = [b.open, b.high, b.low, b.close].map(Number) as [number, number, number, number];
      expect(h).toBeGreaterThanOrEqual(Math.max(o, c, l));
      expect(l).toBeLessThanOrEqual(Math.min(o, c));
    }
    expect(describeInterval(barInterval(a))).toBe('1m');
  });
});
