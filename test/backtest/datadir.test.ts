import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dataDirState, UnsafeWipeError, wipeDataDir } from '../../src/backtest/datadir.js';
import { countingIdSource } from '../../src/backtest/ids.js';
import { seededIdSource } from '../../src/domain/ids.js';

const root = mkdtempSync(join(tmpdir(), 'tradestate-datadir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('data dir state and --fresh', () => {
  it('tells absent, empty, backtest and foreign dirs apart', () => {
    expect(dataDirState(join(root, 'nope')).kind).toBe('absent');
    const empty = join(root, 'empty');
    mkdirSync(empty);
    expect(dataDirState(empty).kind).toBe('empty');
    writeFileSync(join(empty, 'tradestate.log'), '');
    expect(dataDirState(empty).kind).toBe('empty');
    const foreign = join(root, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'thesis.docx'), 'x');
    expect(dataDirState(foreign)).toEqual({ kind: 'foreign', entries: ['thesis.docx'] });
  });

  it('wipes only what a backtest writes, and never a dir holding the working directory', () => {
    const dir = join(root, 'ledger');
    mkdirSync(dir);
    for (const f of ['000003.log', 'CURRENT', 'LOCK', 'LOG', 'LOG.old', 'MANIFEST-000002', '000005.ldb', 'backtest.json', 'backtest.json.tmp', 'tradestate.log']) writeFileSync(join(dir, f), '');
    wipeDataDir(dir, root);
    expect(readdirSync(dir)).toEqual([]);
    writeFileSync(join(dir, 'CURRENT'), '');
    writeFileSync(join(dir, 'notes.txt'), 'keep me');
    expect(() => wipeDataDir(dir, root)).toThrow(UnsafeWipeError);
    expect(() => wipeDataDir(dir, root)).toThrow(/holds files a backtest does not write \(notes\.txt\)/);
    expect(readdirSync(dir).sort()).toEqual(['CURRENT', 'notes.txt']);
    expect(() => wipeDataDir(root, join(root, 'ledger'))).toThrow(/contains the working directory/);
    expect(() => wipeDataDir(join(root, 'missing'), root)).not.toThrow();
  });
});

describe('countingIdSource', () => {
  it('continues the seeded sequence after skipping the draws already made', () => {
    const plain = seededIdSource(7);
    const expected = Array.from({ length: 12 }, () => plain());
    const a = countingIdSource(7);
    const first = Array.from({ length: 5 }, () => a.next());
    expect(a.draws()).toBe(5);
    const b = countingIdSource(7, a.draws());
    expect([...first, ...Array.from({ length: 7 }, () => b.next())]).toEqual(expected);
    expect(b.draws()).toBe(12);
  });
});
