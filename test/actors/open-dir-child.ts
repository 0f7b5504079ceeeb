/**
 * Child process for reopen.test.ts: tries to open the ledger in argv[2] and prints one line,
 * `opened` or `error <name> <message>`; exits 0 either way.
 */
import { StrategyLedger } from '../../actors/ledger.js';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: open-dir-child.ts <dataDir>');
try {
  const ledger = await StrategyLedger.open({ dataDir });
  console.log('opened');
  await ledger.close();
} catch (error) {
  const e = error as Error;
  console.log(`error ${e.name} ${e.message}`);
}
