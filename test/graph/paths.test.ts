/**
 * Model-based tests: @xstate/graph finds the shortest path to every (coarsely serialized)
 * state of each machine; each path is replayed through the persisted runtime, once closing
 * and reopening the data directory after every step and once without, and both must agree
 * with the pure fold of the path through XState's `transition` (status, context, seq, fills,
 * transition log, status index, live/archive placement).
 *
 * Beyond the states, every transition the model offers out of every reachable non-final state
 * (shortest path + one event) is taken right after a reopen, and every reachable state must be
 * a record the store can read back (the same schema check as on open) with 0 <= filled <= quantity.
 *
 * Orders are driven through StrategyLedger (registerOrder with submit:false, then
 * applyToOrder); groups and plans through ActorHost directly, since the ledger only reaches
 * them through orders (their parent notifications end as refused-event anomalies).
 */
import { Decimal } from 'decimal.js';
import { afterAll, describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import { ActorHost, type AnyActorEvent, type TransitionRecord } from '../../actors/host.js';
import { StrategyLedger, type RegisteredOrder } from '../../actors/ledger.js';
import { decodeActorRecord, type ActorKind } from '../../actors/records.js';
import type { OrderEvent } from '../../machines/order.js';
import { Store } from '../../storage/store.js';
import { ManualClock } from '../../src/domain/clock.js';
import { newId, seededIdSource } from '../../src/domain/ids.js';
import type { OrderEventInput, RegisterOrderRequest } from '../../src/domain/requests.js';
import {
  GROUP_TERMINAL,
  PLAN_TERMINAL,
  GroupStatus,
  OrderStatus,
  PlanStatus,
} from '../../src/domain/schemas.js';
import { dumpArea, fold, isoAt, pad, storedArea, storedLog, storedRecord, T0, TempDirs } from './harness.js';
import {
  edgePaths,
  GROUP_MACHINE,
  groupEvents,
  groupKey,
  ORDER_MACHINE,
  orderEvents,
  orderKey,
  PLAN_MACHINE,
  planEvents,
  planKey,
  shortestPaths,
  type GroupInput,
  type Model,
  type OrderInput,
  type PlanInput,
} from './machine-models.js';

const temp = new TempDirs();
afterAll(() => temp.cleanup());

const d = (v: string) => new Decimal(v);

/** Why the store would refuse to read this snapshot back (decodeActorRecord), or undefined. */
function recordProblem(kind: ActorKind, id: string, snap: AnyMachineSnapshot): string | undefined {
  try {
    decodeActorRecord('live', id, JSON.stringify({ kind, value: snap.value, context: snap.context, seq: 1 }));
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Fails with every problem spelled out (vitest's diff would truncate them). */
function expectNone(problems: readonly string[], title: string): void {
  if (problems.length > 0) throw new Error(`${title}:\n${problems.join('\n\n')}`);
}

function describeFailure(edge: { from: string; event: { type: string }; events: readonly { type: string }[] }, error: unknown): string {
  const path = edge.events.map((e) => JSON.stringify({ ...e, at: undefined })).join('\n    ');
  const message = (error as Error).message.split('\n').slice(0, 12).join('\n');
  return `edge ${edge.from} --${edge.event.type}-->, path:\n    ${path}\n  ${(error as Error).name}: ${message}`;
}

// ---- order: through StrategyLedger -----------------------------------------------------------

const SEED = 20250101;
const REGISTER: RegisterOrderRequest = {
  plan: { strategyInstanceId: 'graph-test', symbol: 'BTC/USDT', direction: 'BUY' },
  group: { executionStrategy: 'SINGLE' },
  order: { side: 'BUY', orderType: 'LIMIT', quantity: '10', price: '100' },
  submit: false,
};

/** The ids the ledger will generate: plan, group, order, from the same clock and seed. */
const IDS = (() => {
  const clock = new ManualClock(T0);
  const src = seededIdSource(SEED);
  return { planId: newId('plan', clock, src), groupId: newId('group', clock, src), orderId: newId('order', clock, src) };
})();

async function openLedger(dir: string): Promise<StrategyLedger> {
  return StrategyLedger.open({ dataDir: dir, clock: new ManualClock(T0), ids: seededIdSource(SEED) });
}

/**
 * The machine inputs exactly as the ledger builds them from REGISTER (read back from the
 * `xstate.init` record of each actor's log), so the pure folds start where the runtime starts.
 */
async function probeInputs(): Promise<{ order: OrderInput; group: GroupInput; plan: PlanInput }> {
  const dir = await temp.make('graph-probe-');
  const ledger = await openLedger(dir);
  try {
    const reg = await ledger.registerOrder(REGISTER);
    const input = async <T>(id: string) => ((await ledger.history(id))[0]!.event as unknown as { input: T }).input;
    return { order: await input<OrderInput>(reg.orderId), group: await input<GroupInput>(reg.groupId), plan: await input<PlanInput>(reg.planId) };
  } finally {
    await ledger.close();
  }
}

const PROBED = await probeInputs();
const ORDER_INPUT: OrderInput = PROBED.order;

const orderModel: Model<OrderEvent> = { name: 'order', machine: ORDER_MACHINE, input: ORDER_INPUT, key: orderKey, events: orderEvents };

function toInput(e: OrderEvent): OrderEventInput {
  return e as unknown as OrderEventInput;
}

// ---- driving many paths at once ------------------------------------------------------------

/**
 * When to close and reopen the data dir: before every step and at the end ('every'), never
 * ('none'), or once before the last event of every path and at the end ('before-last').
 */
type Schedule = 'every' | 'none' | 'before-last';

/**
 * Drives many independent event sequences (one actor each) in lock step: step j of every
 * sequence is fired together (their turns may share a commit batch), then step j + 1, with the
 * data dir closed and reopened as `schedule` says. Keeps synced writes and reopens few, whatever
 * the number of paths. Returns each sequence's send outcomes.
 */
async function drive<E>(
  seqs: readonly (readonly E[])[],
  apply: (n: number, e: E) => Promise<string>,
  reopen: () => Promise<void>,
  schedule: Schedule,
): Promise<string[][]> {
  const outcomes = seqs.map(() => [] as string[]);
  const stepAll = (pick: (seq: readonly E[]) => E | undefined) =>
    Promise.all(
      seqs.map(async (seq, n) => {
        const e = pick(seq);
        if (e !== undefined) outcomes[n]!.push(await apply(n, e));
      }),
    );
  if (schedule === 'before-last') {
    const longest = Math.max(0, ...seqs.map((seq) => seq.length - 1));
    for (let j = 0; j < longest; j++) await stepAll((seq) => (j < seq.length - 1 ? seq[j] : undefined));
    await reopen();
    await stepAll((seq) => seq[seq.length - 1]);
  } else {
    const longest = Math.max(0, ...seqs.map((seq) => seq.length));
    for (let j = 0; j < longest; j++) {
      if (schedule === 'every') await reopen();
      await stepAll((seq) => seq[j]);
    }
  }
  if (schedule !== 'none') await reopen();
  return outcomes;
}

/** Memoizes an async computation shared by several tests. */
function once<T>(compute: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => (result ??= compute());
}

/** Per-path fill ids, so that many paths can share one store. */
function withPathFillIds<E extends { type: string }>(events: readonly E[], path: number): E[] {
  return events.map((e, i) => ('fillId' in e ? { ...e, fillId: `FIL_20250101_000000_x${pad(path, 4)}${pad(i, 2)}` } : e));
}

// ---- order: runs and checks ------------------------------------------------------------------

interface OrderRun {
  readonly input: OrderInput;
  readonly events: readonly OrderEvent[];
  readonly outcomes: readonly string[];
  readonly order: unknown;
  readonly fills: readonly unknown[];
  readonly history: readonly TransitionRecord[];
  readonly record: unknown;
  readonly area: string;
  readonly index: readonly string[];
  readonly group: unknown;
  readonly groupHistory: readonly TransitionRecord[];
  readonly plan: unknown;
  readonly planHistory: readonly TransitionRecord[];
  readonly anomalies: readonly unknown[];
  readonly outbox: readonly unknown[];
}

/** Each sequence on its own registered order (own group and plan), all in one data dir. */
async function runOrders(seqs: readonly (readonly OrderEvent[])[], schedule: Schedule): Promise<OrderRun[]> {
  const dir = await temp.make('graph-order-');
  const at = { ledger: await openLedger(dir) };
  try {
    const regs: RegisteredOrder[] = [];
    for (let n = 0; n < seqs.length; n++) regs.push(await at.ledger.registerOrder(REGISTER));
    const events = seqs.map((seq, n) => withPathFillIds(seq, n));
    const outcomes = await drive(
      events,
      (n, e) => at.ledger.applyToOrder(regs[n]!.orderId, toInput(e)),
      async () => {
        await at.ledger.close();
        at.ledger = await openLedger(dir);
      },
      schedule,
    );
    const l = at.ledger;
    const index = (await dumpArea(l.store, 'index')).map(([k]) => k);
    const anomalies = await l.anomalies();
    const outbox = await l.outbox();
    const runs: OrderRun[] = [];
    for (const [n, reg] of regs.entries()) {
      const history = await l.history(reg.orderId);
      const mine = [reg.orderId, reg.groupId, reg.planId];
      runs.push({
        input: (history[0]!.event as unknown as { input: OrderInput }).input,
        events: events[n]!,
        outcomes: outcomes[n]!,
        order: await l.order(reg.orderId),
        fills: await l.fillsOfOrder(reg.orderId),
        history,
        record: await storedRecord(l.store, reg.orderId),
        area: await storedArea(l.store, reg.orderId),
        index: index.filter((k) => mine.some((id) => k.endsWith(`!${id}`))),
        group: await l.group(reg.groupId),
        groupHistory: await l.history(reg.groupId),
        plan: await l.plan(reg.planId),
        planHistory: await l.history(reg.planId),
        anomalies: anomalies.filter((a) => a.actorId !== null && mine.includes(a.actorId)),
        outbox: outbox.filter((e) => e.effect.orderId === reg.orderId),
      });
    }
    return runs;
  } finally {
    await at.ledger.close();
  }
}

function expectOrderRunMatchesFold(run: OrderRun): void {
  const f = fold(ORDER_MACHINE, run.input, run.events);
  const terminal = f.snapshot.status !== 'active';
  expect(run.outcomes).toEqual(f.steps.map((s) => s.outcome));
  expect(run.order).toEqual({ ...f.snapshot.context, status: f.snapshot.value });
  expect(run.record).toEqual({ kind: 'order', value: f.snapshot.value, context: f.snapshot.context, seq: f.seq });
  expect(run.area).toBe(terminal ? 'archive' : 'live');
  expect(run.fills).toEqual(f.fills);
  expect(run.history.map((r) => ({ event: r.event, from: r.from, to: r.to, at: r.at }))).toEqual(f.log);
  expect(run.history.map((r) => r.seq)).toEqual(f.log.map((_, i) => i));
  // Ended actors only: live statuses are answered from memory.
  const orderIndex = run.index.filter((k) => k.startsWith('status!order!'));
  expect(orderIndex).toEqual(terminal ? [`status!order!${String(f.snapshot.value)}!${run.input.orderId}`] : []);
}

describe('order machine: shortest paths replayed through StrategyLedger', () => {
  const paths = shortestPaths(orderModel);
  const runs = once(async () => ({
    reopened: await runOrders(paths.map((p) => p.events), 'every'),
    straight: await runOrders(paths.map((p) => p.events), 'none'),
  }));

  it('the probed input is the registered order, in PENDING at T0', () => {
    expect(ORDER_INPUT).toMatchObject({ orderId: IDS.orderId, parentGroupId: IDS.groupId, parentPlanId: IDS.planId, quantity: '10', price: '100', at: isoAt(T0) });
  });

  it('reaches every order status, each path folding to its target state', () => {
    expect(new Set(paths.map((p) => p.value))).toEqual(new Set(OrderStatus.options));
    for (const p of paths) expect(orderKey(fold(ORDER_MACHINE, ORDER_INPUT, p.events).snapshot)).toBe(p.key);
  });

  it.each(paths.map((p, n) => [p.key, n] as const))('path to %s: reopen after every step = uninterrupted = fold', async (_key, n) => {
    const { reopened, straight } = await runs();
    expectOrderRunMatchesFold(reopened[n]!);
    expectOrderRunMatchesFold(straight[n]!);
    expect(reopened[n]).toEqual(straight[n]);
  });

  it('every transition out of every reachable non-final state, taken right after a reopen: run = fold', async () => {
    const edges = edgePaths(orderModel, (evs) => fold(ORDER_MACHINE, ORDER_INPUT, evs).snapshot);
    expect(edges.length).toBeGreaterThan(50);
    const results = await runOrders(edges.map((e) => e.events), 'before-last');
    const failures: string[] = [];
    for (const [n, run] of results.entries()) {
      try {
        expectOrderRunMatchesFold(run);
      } catch (error) {
        failures.push(describeFailure({ ...edges[n]!, events: run.events }, error));
      }
    }
    expectNone(failures, `${failures.length} of ${edges.length} transitions failed`);
  });

  it('every reachable order state keeps 0 <= filled <= quantity and is a valid stored record', () => {
    const edges = edgePaths(orderModel, (evs) => fold(ORDER_MACHINE, ORDER_INPUT, evs).snapshot);
    const bad: string[] = [];
    for (const edge of edges) {
      const end = fold(ORDER_MACHINE, ORDER_INPUT, edge.events).snapshot;
      const ctx = end.context as { quantity: string; filledQuantity: string };
      const path = edge.events.map((e) => `${e.type}${'quantity' in e && e.quantity !== null ? `(${e.quantity})` : ''}`).join(' ');
      if (d(ctx.filledQuantity).greaterThan(ctx.quantity) || d(ctx.filledQuantity).isNegative()) {
        bad.push(`${String(end.value)} quantity=${ctx.quantity} filled=${ctx.filledQuantity} after ${path}`);
      }
      const problem = recordProblem('order', IDS.orderId, end);
      if (problem) bad.push(`${String(end.value)} after ${path}: ${problem}`);
    }
    expectNone([...new Set(bad)], 'reachable states that break an invariant');
  });
});

// ---- groups and plans: through ActorHost -----------------------------------------------------

async function openHost(dir: string): Promise<ActorHost> {
  return ActorHost.open(await Store.open(dir));
}

interface ActorCase<E> {
  readonly kind: ActorKind;
  readonly model: Model<E>;
  readonly statuses: readonly string[];
  readonly terminal: readonly string[];
}

interface ActorRun {
  readonly id: string;
  readonly input: { at: string };
  readonly events: readonly AnyActorEvent[];
  readonly outcomes: readonly string[];
  /** host.record for a live (or just ended) actor, else the archived record */
  readonly record: unknown;
  readonly stored: unknown;
  readonly area: string;
  readonly log: readonly TransitionRecord[];
  readonly index: readonly string[];
  readonly anomalies: readonly (readonly [string, string])[];
}

/** An id of the case's kind for path `n`, so that every path gets its own actor in one store. */
function actorIdFor(kind: ActorKind, n: number): string {
  return `${kind === 'plan' ? 'TPL' : kind === 'group' ? 'EXG' : 'ORD'}_20250101_000000_p${pad(n, 5)}`;
}

/**
 * Each sequence on its own actor of the case's kind, all in one data dir. Their parent
 * notifications go to a plan that does not exist: refused-event anomalies, as expected.
 */
async function runActors(c: ActorCase<AnyActorEvent>, seqs: readonly (readonly AnyActorEvent[])[], schedule: Schedule): Promise<ActorRun[]> {
  const dir = await temp.make(`graph-${c.kind}-`);
  const idField = c.kind === 'plan' ? 'planId' : 'groupId';
  const at = { host: await openHost(dir) };
  try {
    const actors = seqs.map((_, n) => ({ id: actorIdFor(c.kind, n), input: { ...c.model.input, [idField]: actorIdFor(c.kind, n) } }));
    await Promise.all(actors.map((a) => at.host.run(a.input.at, (turn) => void turn.create(c.kind, a.input as never))));
    const outcomes = await drive(
      seqs,
      (n, e) => at.host.run(e.at, (turn) => turn.send(actors[n]!.id, e)),
      async () => {
        await at.host.close();
        at.host = await openHost(dir);
      },
      schedule,
    );
    const host = at.host;
    await host.settled();
    const index = (await dumpArea(host.store, 'index')).map(([k]) => k);
    const anomalies = await dumpArea(host.store, 'anomaly');
    const runs: ActorRun[] = [];
    for (const [n, a] of actors.entries()) {
      const stored = await storedRecord(host.store, a.id);
      runs.push({
        id: a.id,
        input: a.input,
        events: seqs[n]!,
        outcomes: outcomes[n]!,
        record: host.record(a.id) ?? stored,
        stored,
        area: await storedArea(host.store, a.id),
        log: await storedLog(host.store, a.id),
        index: index.filter((k) => k.endsWith(`!${a.id}`)),
        anomalies: anomalies.filter(([, v]) => (JSON.parse(v) as { actorId: string | null }).actorId === a.id),
      });
    }
    return runs;
  } finally {
    await at.host.close();
  }
}

function expectActorRunMatchesFold(c: ActorCase<AnyActorEvent>, run: ActorRun): void {
  const f = fold(c.model.machine, run.input, run.events);
  const expected = { kind: c.kind, value: f.snapshot.value, context: f.snapshot.context, seq: f.seq };
  expect(run.outcomes).toEqual(f.steps.map((s) => s.outcome));
  expect(run.record).toEqual(expected);
  expect(run.stored).toEqual(expected);
  expect(run.area).toBe(f.snapshot.status === 'active' ? 'live' : 'archive');
  expect(run.log.map((r) => ({ event: r.event, from: r.from, to: r.to, at: r.at }))).toEqual(f.log);
  expect(run.log.map((r) => r.seq)).toEqual(f.log.map((_, i) => i));
  expect(run.index).toEqual(f.snapshot.status === 'active' ? [] : [`status!${c.kind}!${String(f.snapshot.value)}!${run.id}`]);
}

const GROUP_INPUT_TARGET: GroupInput = { ...PROBED.group, executionStrategy: 'TWAP', targetQuantity: '10' };
const GROUP_INPUT_NO_TARGET: GroupInput = { ...PROBED.group, executionStrategy: 'LAYERED', targetQuantity: null };
const PLAN_INPUT: PlanInput = { ...PROBED.plan, comments: 'model test' };

const actorCases: ActorCase<AnyActorEvent>[] = [
  {
    kind: 'group',
    model: { name: 'group (target 10)', machine: GROUP_MACHINE, input: GROUP_INPUT_TARGET, key: groupKey, events: groupEvents },
    statuses: GroupStatus.options,
    terminal: GROUP_TERMINAL,
  },
  {
    kind: 'group',
    model: { name: 'group (no target)', machine: GROUP_MACHINE, input: GROUP_INPUT_NO_TARGET, key: groupKey, events: groupEvents },
    statuses: GroupStatus.options,
    terminal: GROUP_TERMINAL,
  },
  {
    kind: 'plan',
    model: { name: 'plan', machine: PLAN_MACHINE, input: PLAN_INPUT, key: planKey, events: planEvents },
    statuses: PlanStatus.options,
    terminal: PLAN_TERMINAL,
  },
];

describe.each(actorCases.map((c) => [c.model.name, c] as const))('%s machine: shortest paths replayed through ActorHost', (_name, c) => {
  const { model } = c;
  const paths = shortestPaths(model);
  const foldEnd = (evs: readonly AnyActorEvent[]) => fold(model.machine, model.input, evs).snapshot;
  const runs = once(async () => ({
    reopened: await runActors(c, paths.map((p) => p.events), 'every'),
    straight: await runActors(c, paths.map((p) => p.events), 'none'),
  }));

  it('reaches every status, each path folding to its target state', () => {
    expect(new Set(paths.map((p) => p.value))).toEqual(new Set(c.statuses));
    for (const p of paths) expect(model.key(foldEnd(p.events))).toBe(p.key);
    for (const p of paths) {
      const end: AnyMachineSnapshot = foldEnd(p.events);
      expect(end.status === 'done').toBe(c.terminal.includes(String(end.value)));
    }
  });

  it.each(paths.map((p, n) => [p.key, n] as const))('path to %s: reopen after every step = uninterrupted = fold', async (_key, n) => {
    const { reopened, straight } = await runs();
    expectActorRunMatchesFold(c, reopened[n]!);
    expectActorRunMatchesFold(c, straight[n]!);
    expect(reopened[n]).toEqual(straight[n]);
  });

  it('every reachable state is a valid stored record', () => {
    const bad: string[] = [];
    for (const edge of edgePaths(model, foldEnd)) {
      const end = foldEnd(edge.events);
      const problem = recordProblem(c.kind, String((model.input as Record<string, unknown>)[c.kind === 'plan' ? 'planId' : 'groupId']), end);
      if (problem) bad.push(`${String(end.value)} after ${edge.events.map((e) => e.type).join(' ')}: ${problem}`);
    }
    expectNone([...new Set(bad)], 'reachable states that break an invariant');
  });

  it('every transition out of every reachable non-final state, taken right after a reopen: run = fold', async () => {
    const edges = edgePaths(model, foldEnd);
    expect(edges.length).toBeGreaterThan(20);
    const results = await runActors(c, edges.map((e) => e.events), 'before-last');
    const failures: string[] = [];
    for (const [n, run] of results.entries()) {
      try {
        expectActorRunMatchesFold(c, run);
      } catch (error) {
        failures.push(describeFailure(edges[n]!, error));
      }
    }
    expectNone(failures, `${failures.length} of ${edges.length} transitions failed`);
  });
});
