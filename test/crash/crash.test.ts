/**
 * Crash safety: a real child process runs turns against a data dir and is SIGKILLed at a
 * (seeded) random point; the parent then reopens the dir and checks that every turn the child
 * acknowledged is on disk whole, that no turn is on disk in part, and that the dir reopens
 * cleanly and keeps working. `CRASH_KILLS` sets the number of kill points (default 5),
 * `CRASH_SEED` the seed of the kill delays.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { StrategyLedger } from '../../actors/ledger.js';
import { seededIdSource } from '../../src/domain/ids.js';
import { integrityProblems, readImage, removeDir, tempDir } from '../actors/helpers.js';
import { mulberry32 } from '../../src/data/synthetic.js';

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const KILLS = Math.max(1, Number(process.env.CRASH_KILLS ?? 5));
const SEED = Number(process.env.CRASH_SEED ?? 20250102);

const random = mulberry32(SEED);
const killPoints = Array.from({ length: KILLS }, (_, n) => ({ n, delayMs: 50 + Math.floor(random() * 350), childSeed: 1000 + n }));

const children = new Set<ChildProcess>();
const dirs: string[] = [];
const ledgers: StrategyLedger[] = [];

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

afterEach(async () => {
  for (const child of children) if (alive(child)) child.kill('SIGKILL');
  children.clear();
  for (const l of ledgers.splice(0)) if (l.store.isOpen) await l.close().catch(() => undefined);
  for (const d of dirs.splice(0)) removeDir(d);
});

interface ChildRun {
  readonly lines: string[];
  readonly stderr: string;
  readonly signal: NodeJS.Signals | null;
  readonly code: number | null;
  readonly killedAfterMs: number | null;
}

/** Runs the child on dir and SIGKILLs it delayMs after its first `ok`. */
function runAndKill(dir: string, childSeed: number, delayMs: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(childSeed)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let out = '';
    let stderr = '';
    let killTimer: NodeJS.Timeout | undefined;
    let killedAt: number | null = null;
    let firstOkAt = 0;
    // never wait forever on a child that neither acknowledges nor exits
    const guard = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (killTimer === undefined && /^ok /m.test(out)) {
        firstOkAt = Date.now();
        killTimer = setTimeout(() => {
          killedAt = Date.now();
          child.kill('SIGKILL');
        }, delayMs);
      }
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => {
      clearTimeout(guard);
      if (killTimer) clearTimeout(killTimer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      if (killTimer) clearTimeout(killTimer);
      children.delete(child);
      // only complete lines: a line cut by the kill was never acknowledged
      const complete = out.slice(0, out.lastIndexOf('\n') + 1);
      resolve({
        lines: complete.split('\n').filter((l) => l.length > 0),
        stderr,
        signal,
        code,
        killedAfterMs: killedAt === null ? null : killedAt - firstOkAt,
      });
    });
  });
}

describe('crash safety (SIGKILL of a child running turns)', () => {
  it.each(killPoints)('kill point $n: SIGKILL $delayMs ms after the first acknowledged turn', async ({ delayMs, childSeed }) => {
    const dir = tempDir();
    dirs.push(dir);
    const run = await runAndKill(dir, childSeed, delayMs);
    const context = `seed ${SEED}, child seed ${childSeed}, delay ${delayMs} ms, dir ${dir}`;

    expect(run.lines.filter((l) => l.startsWith('error ')), context).toEqual([]);
    expect(run.signal, `${context}; child exited ${run.code} before the kill: ${run.stderr}`).toBe('SIGKILL');

    const oks = run.lines.filter((l) => l.startsWith('ok ')).map((l) => {
      const [, i, orderId, planId, groupId] = l.split(' ');
      return { i: Number(i), orderId: orderId!, planId: planId!, groupId: groupId! };
    });
    const accs = run.lines.filter((l) => l.startsWith('acc ')).map((l) => l.split(' ')[1]!);
    const fills = run.lines.filter((l) => l.startsWith('fill ')).map((l) => {
      const [, orderId, tradeId] = l.split(' ');
      return { orderId: orderId!, tradeId: tradeId! };
    });
    expect(oks.length, context).toBeGreaterThan(0);

    // reopen: nothing corrupt
    const ledger = await StrategyLedger.open({ dataDir: dir, ids: seededIdSource(99) });
    ledgers.push(ledger);
    expect(ledger.corruptRecords.map((e) => e.message), context).toEqual([]);

    // no turn is on disk in part
    const img = await readImage(ledger.store);
    expect(integrityProblems(img), context).toEqual([]);

    const placements = new Map<string, number>();
    for (const e of img.outbox) {
      if (e.effect.kind === 'placeOrder') placements.set(e.effect.orderId, (placements.get(e.effect.orderId) ?? 0) + 1);
    }
    const clientIds = new Map<string, string>();
    for (const [id, a] of img.actors) {
      if (a.kind !== 'order') continue;
      const c = a.context as { clientOrderId: string };
      // no order is registered twice
      expect(clientIds.get(c.clientOrderId), `${context}: ${c.clientOrderId} on two orders`).toBeUndefined();
      clientIds.set(c.clientOrderId, id);
      // the acknowledgement turn (ACCEPTED + outbox delete) is whole: exactly one of the two is visible
      const acceptedInLog = (img.logs.get(id) ?? []).some((r) => r.event.type === 'ACCEPTED');
      expect(acceptedInLog ? (placements.get(id) ?? 0) : (placements.get(id) ?? 0) - 1, `${context}: ${id} placement vs ACCEPTED`).toBe(0);
    }

    // every acknowledged turn is on disk whole
    for (const ok of oks) {
      const order = img.actors.get(ok.orderId);
      expect(order, `${context}: acknowledged order c-${ok.i} ${ok.orderId}`).toBeDefined();
      expect(order!.kind).toBe('order');
      expect(order!.context).toMatchObject({ clientOrderId: `c-${ok.i}`, parentGroupId: ok.groupId, parentPlanId: ok.planId });
      expect(img.actors.get(ok.groupId)?.kind, `${context}: group of c-${ok.i}`).toBe('group');
      expect(img.actors.get(ok.planId)?.kind, `${context}: plan of c-${ok.i}`).toBe('plan');
      expect((img.actors.get(ok.groupId)!.context as { orderIds: string[] }).orderIds).toContain(ok.orderId);
      expect((img.actors.get(ok.planId)!.context as { groupIds: string[] }).groupIds).toContain(ok.groupId);
      const log = img.logs.get(ok.orderId) ?? [];
      expect(log.slice(0, 2).map((r) => [r.seq, r.event.type]), `${context}: log of c-${ok.i}`).toEqual([
        [0, 'xstate.init'],
        [1, 'SUBMIT'],
      ]);
      expect(clientIds.get(`c-${ok.i}`)).toBe(ok.orderId);
    }
    for (const orderId of accs) {
      expect((img.logs.get(orderId) ?? []).some((r) => r.event.type === 'ACCEPTED'), `${context}: acc ${orderId}`).toBe(true);
      expect(placements.has(orderId), `${context}: settled placement of ${orderId} still in the outbox`).toBe(false);
    }
    const fillsByTrade = new Map([...img.fills.values()].map((f) => [`${String(f.parentOrderId)}/${String(f.tradeId)}`, f]));
    for (const f of fills) {
      expect(fillsByTrade.has(`${f.orderId}/${f.tradeId}`), `${context}: fill ${f.tradeId} of ${f.orderId}`).toBe(true);
      expect((img.actors.get(f.orderId)!.context as { tradeIds: string[] }).tradeIds).toContain(f.tradeId);
    }

    // the reopened ledger keeps working, on restored actors and new ones
    const live = ledger.host.liveIds('order');
    const restoredPlan = ledger.host.liveIds('plan')[0];
    if (restoredPlan) {
      const r = await ledger.registerOrder({ plan: { planId: restoredPlan }, order: { side: 'BUY', orderType: 'MARKET', quantity: '1', clientOrderId: 'after-crash' } });
      expect((await ledger.order(r.orderId))!.status).toBe('SUBMITTED');
    }
    if (live[0]) expect(await ledger.applyToOrder(live[0], { type: 'CANCEL', reason: 'after crash' })).not.toBe('refused');
    expect(integrityProblems(await readImage(ledger.store)), context).toEqual([]);
  });
});
