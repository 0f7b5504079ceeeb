/**
 * Child process of exactly-once.test.ts. argv[2] is a JSON `ChildConfig`. It opens a
 * TradingRuntime on the data dir with the IPC connector (the exchange is in the parent), which
 * reconciles with the exchange, reports what recovery found, then runs the directive stream:
 * first it RE-SUBMITS the `resubmit` directives before `start` (it may have sent them, and more,
 * before it was killed), then continues from `start` until it is killed (or `stop` is reached).
 *
 * Messages to the parent (besides the connector's calls), each sent after what it reports:
 *   { t: 'hello', pid }                          modules loaded, about to open
 *   { t: 'recovered', report, corrupt, ms }       TradingRuntime.open resolved (reconciled)
 *   { t: 'submitted', i, directiveId, kind, resubmit, ok, outcome? , error? }
 *   { t: 'flow', directiveId, ok, message? }      a flow ended (TRADE_EXECUTED / EXECUTION_FAILED)
 *   { t: 'done' }                                 the stream reached `stop`
 *   { t: 'fatal', message }                       anything unexpected; the child then exits 3
 */
import { TradingRuntime } from '../../actors/runtime.js';
import type { DirectiveOutcome } from '../../actors/worker.js';
import { IpcExchangeConnector } from './exactly-once-connector.js';
import { directiveAt, fastSleep, RUNTIME_CONFIG, type ChildConfig, type KnownOutcome } from './exactly-once-stream.js';

function send(message: Record<string, unknown>): void {
  if (process.send && process.connected) process.send(message);
}

function fatal(error: unknown): void {
  const e = error as Error;
  send({ t: 'fatal', message: `${e?.name ?? 'Error'}: ${String(e?.message ?? e)}\n${String(e?.stack ?? '')}` });
  setTimeout(() => process.exit(3), 50);
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (!raw) throw new Error('usage: exactly-once-child.ts <json config>');
  const cfg = JSON.parse(raw) as ChildConfig;
  const connector = new IpcExchangeConnector(cfg.capabilities);
  send({ t: 'hello', pid: process.pid });

  const t0 = performance.now();
  const runtime = await TradingRuntime.open({ dataDir: cfg.dataDir, connector, config: RUNTIME_CONFIG, sleep: fastSleep });
  send({
    t: 'recovered',
    report: runtime.recovery ?? null,
    corrupt: runtime.strategyLedger.corruptRecords.map((e) => e.message),
    ms: Math.round(performance.now() - t0),
  });

  runtime.on('TRADE_EXECUTED', (e) => send({ t: 'flow', directiveId: e.directiveId, ok: true }));
  runtime.on('EXECUTION_FAILED', (e) => send({ t: 'flow', directiveId: e.directiveId, ok: false, message: e.errorMessage }));

  const store = runtime.strategyLedger.store;
  const outcomeOf = async (id: string): Promise<KnownOutcome | undefined> => (await store.getJson('directive', id)) as KnownOutcome | undefined;

  const first = Math.max(0, cfg.start - cfg.resubmit);
  for (let i = first; i < cfg.stop; i++) {
    if (runtime.backgroundError !== undefined) throw runtime.backgroundError;
    const { kind, directive } = await directiveAt(cfg.seed, i, outcomeOf);
    const resubmit = i < cfg.start;
    try {
      const outcome: DirectiveOutcome = await runtime.submit(directive);
      send({ t: 'submitted', i, directiveId: directive.directive_id, kind, resubmit, ok: true, outcome });
    } catch (error) {
      const e = error as Error;
      send({ t: 'submitted', i, directiveId: directive.directive_id, kind, resubmit, ok: false, error: { name: e.name, message: e.message } });
    }
    await new Promise((r) => setTimeout(r, cfg.paceMs));
  }
  send({ t: 'done' });
  // Stay up (effects and replies keep running) until the parent kills us.
}

// The exchange lives in the parent: without it there is nothing to do (and no orphan may linger).
process.on('disconnect', () => process.exit(0));
process.on('unhandledRejection', fatal);
process.on('uncaughtException', fatal);
main().catch(fatal);
