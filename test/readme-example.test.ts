import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

it('the README library example runs as written and fills the order', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Using it as a library'));
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  expect(code, 'README has a ts example under "Using it as a library"').toBeDefined();
  const dir = mkdtempSync(join(tmpdir(), 'tradestate-readme-'));
  try {
    const file = join(root, `.readme-example-${process.pid}.ts`);
    writeFileSync(file, code!);
    try {
      const out = execFileSync(process.execPath, ['--import', 'tsx', file], {
        cwd: root,
        env: { ...process.env, DATA_DIR: join(dir, 'data') },
        encoding: 'utf8',
      });
      expect(out).toMatch(/^executed buy-aapl-1: ORD_\d{8}_\d{6}_[0-9a-z]{5,8}$/m);
      // 10 bought at the bar's open; taker fee 10 bps of 1502.5
      expect(out).toMatch(/^position 10 @ 150.25, fees 1.5025$/m);
    } finally {
      rmSync(file, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
