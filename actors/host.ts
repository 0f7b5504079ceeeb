import type { AnyMachineSnapshot } from 'xstate';
import type { AnomalyReport, ExchangeEffect, Notification } from '../machines/actions.js';
import { executionGroupMachine, type GroupEvent, type GroupInput } from '../machines/execution-group.js';
import { orderMachine, type OrderEvent, type OrderInput } from '../machines/order.js';
import { tradePlanMachine, type PlanEvent, type PlanInput } from '../machines/trade-plan.js';
import { CorruptRecordError } from '../storage/errors.js';
import { pad, type Store, type StoreOp } from '../storage/store.js';
import type { Fill } from '../src/domain/schemas.js';
import { GroupCommitter, type ActorWrite } from './commit.js';
import { decodeActorRecord, type ActorKind, type ActorRecord } from './records.js';
import { MachineStepper } from './step.js';

export const MACHINES = {
  plan: tradePlanMachine,
  group: executionGroupMachine,
  order: orderMachine,
} as const;

const PROBE_AT = '2000-01-01T00:00:00.000Z';
const STEPPERS: Record<ActorKind, MachineStepper> = {
  plan: new MachineStepper(tradePlanMachine, {
    planId: 'TPL_20000101_000000_probe', strategyInstanceId: 'probe', symbol: 'PROBE', direction: 'BUY', comments: null, exitPlan: null, at: PROBE_AT,
  } satisfies PlanInput),
  group: new MachineStepper(executionGroupMachine, {
    groupId: 'EXG_20000101_000000_probe', parentPlanId: 'TPL_20000101_000000_probe', executionStrategy: 'SINGLE', targetQuantity: null, at: PROBE_AT,
  } satisfies GroupInput),
  order: new MachineStepper(orderMachine, {
    orderId: 'ORD_20000101_000000_probe', parentGroupId: 'EXG_20000101_000000_probe', parentPlanId: 'TPL_20000101_000000_probe',
    clientOrderId: 'probe', symbol: 'PROBE', side: 'BUY', orderType: 'MARKET', role: 'ENTRY', quantity: '1', price: null,
    stopPrice: null, timeInForce: 'GTC', ocoGroup: null, at: PROBE_AT,
  } satisfies OrderInput),
};

export interface EventOf {
  plan: PlanEvent;
  group: GroupEvent;
  order: OrderEvent;
}
export interface InputOf {
  plan: PlanInput;
  group: GroupInput;
  order: OrderInput;
}
export type AnyActorEvent = PlanEvent | GroupEvent | OrderEvent;

/** One step of an actor's history, stored at `log!<id>!<seq>`. */
export interface TransitionRecord {
  readonly seq: number;
  readonly event: { readonly type: string } & Record<string, unknown>;
  readonly from: string | null;
  readonly to: string;
  readonly at: string;
}

export interface Anomaly extends AnomalyReport {
  readonly actorId: string | null;
  readonly event: unknown;
  readonly at: string;
}

/** An exchange effect that is in the outbox: committed, not yet settled. */
export interface CommittedEffect {
  readonly effectId: string;
  readonly effect: ExchangeEffect;
  readonly at: string;
}

interface LiveActor {
  readonly kind: ActorKind;
  readonly snapshot: AnyMachineSnapshot;
  readonly seq: number;
}


export type SendOutcome = 'applied' | 'unchanged' | 'refused';

const ID_FIELD: Record<ActorKind, 'planId' | 'groupId' | 'orderId'> = {
  plan: 'planId',
  group: 'groupId',
  order: 'orderId',
};

function kindOf(id: string): ActorKind | undefined {
  if (id.startsWith('ORD_')) return 'order';
  if (id.startsWith('EXG_')) return 'group';
  if (id.startsWith('TPL_')) return 'plan';
  return undefined;
}

function statusOf(s: AnyMachineSnapshot): string {
  return s.value as string;
}

/**
 * The work of one turn. Builders call `create` and `send`; each send is followed, within the
 * turn, by the parent notifications it causes. Nothing touches the live actors until the turn
 * ends, so a turn that throws leaves no trace.
 */
export class Turn {
  readonly dirty = new Map<string, LiveActor>();
  readonly logs: { id: string; rec: TransitionRecord }[] = [];
  readonly fills: Fill[] = [];
  readonly effects: ExchangeEffect[] = [];
  readonly anomalies: Anomaly[] = [];
  readonly ops: StoreOp[] = [];
  readonly settledEffects: string[] = [];
  /** What the turn is for (e.g. `directive`), for turn observers such as the journal writer. */
  readonly meta: Record<string, unknown> = {};

  constructor(
    private readonly live: ReadonlyMap<string, LiveActor>,
    readonly at: string,
  ) {}

  /** The actor's snapshot as this turn sees it, or undefined if it is not live. */
  snapshot(id: string): AnyMachineSnapshot | undefined {
    return (this.dirty.get(id) ?? this.live.get(id))?.snapshot;
  }

  isLive(id: string): boolean {
    const a = this.dirty.get(id) ?? this.live.get(id);
    return a !== undefined && a.snapshot.status === 'active';
  }

  create<K extends ActorKind>(kind: K, input: InputOf[K]): AnyMachineSnapshot {
    const id = (input as unknown as Record<string, string>)[ID_FIELD[kind]]!;
    if (this.dirty.has(id) || this.live.has(id)) throw new Error(`actor ${id} already exists`);
    const [snapshot, actions] = STEPPERS[kind].initial(input);
    this.dirty.set(id, { kind, snapshot, seq: 0 });
    this.logs.push({
      id,
      rec: { seq: 0, event: { type: 'xstate.init', input: input as unknown as Record<string, unknown> }, from: null, to: statusOf(snapshot), at: input.at },
    });
    this.interpret(id, actions, input.at, { type: 'xstate.init' });
    return snapshot;
  }

  /** Delivers an event and, in the same turn, every notification it causes. */
  send<K extends ActorKind>(id: string, event: EventOf[K]): SendOutcome {
    const queue: [string, AnyActorEvent][] = [[id, event]];
    let first: SendOutcome | undefined;
    while (queue.length > 0) {
      const [to, ev] = queue.shift()!;
      const outcome = this.step(to, ev, queue);
      first ??= outcome;
    }
    return first!;
  }

  /** Removes a settled effect from the outbox in this turn's batch. */
  settle(effectId: string): void {
    this.settledEffects.push(effectId);
  }

  reportAnomaly(report: AnomalyReport, actorId: string | null, event: unknown): void {
    this.anomalies.push({ ...report, actorId, event, at: this.at });
  }

  private step(id: string, event: AnyActorEvent, queue: [string, AnyActorEvent][]): SendOutcome {
    const actor = this.dirty.get(id) ?? this.live.get(id);
    if (actor === undefined) {
      this.reportAnomaly(
        { kind: kindOf(id) ? 'refused_event' : 'unknown_actor', detail: `${event.type} for ${id}, which is not a live actor (ended or unknown)` },
        id,
        event,
      );
      return 'refused';
    }
    const [next, actions] = STEPPERS[actor.kind].step(actor.snapshot, event);
    if (next === actor.snapshot) {
      if (actions.length === 0) {
        this.reportAnomaly(
          { kind: 'refused_event', detail: `${event.type} is not allowed for ${id} in state ${statusOf(actor.snapshot)}` },
          id,
          event,
        );
        return 'refused';
      }
      this.interpret(id, actions, event.at, event, queue);
      return 'unchanged';
    }
    const seq = actor.seq + 1;
    this.dirty.set(id, { kind: actor.kind, snapshot: next, seq });
    this.logs.push({
      id,
      rec: { seq, event: event as unknown as TransitionRecord['event'], from: statusOf(actor.snapshot), to: statusOf(next), at: event.at },
    });
    this.interpret(id, actions, event.at, event, queue);
    return 'applied';
  }

  private interpret(
    id: string,
    actions: readonly { type: string; params?: unknown }[],
    at: string,
    event: unknown,
    queue?: [string, AnyActorEvent][],
  ): void {
    for (const action of actions) {
      switch (action.type) {
        case 'placeOrder':
        case 'cancelOrder':
        case 'modifyOrder':
          this.effects.push(action.params as ExchangeEffect);
          break;
        case 'recordFill':
          this.fills.push(action.params as Fill);
          break;
        case 'notifyParent': {
          const n = action.params as Notification<AnyActorEvent>;
          if (queue) queue.push([n.to, n.event]);
          else this.send(n.to, n.event);
          break;
        }
        case 'reportAnomaly':
          this.anomalies.push({ ...(action.params as AnomalyReport), actorId: id, event, at });
          break;
        default:
          throw new Error(`machine of ${id} asked for an action the host does not know: ${action.type}`);
      }
    }
  }
}

/** What the host hands to its effect runner after a batch is committed. */
interface AfterCommit<R> {
  readonly effects: readonly CommittedEffect[];
  readonly terminal: readonly string[];
  readonly result: R;
}

export interface ActorHostOptions {
  /** Called after each commit with the exchange effects of the committed turns, in order. */
  onEffects?: (effects: readonly CommittedEffect[]) => void;
}

/**
 * Virtual actors keyed by domain id. Each live actor is a persisted XState snapshot; an event
 * is applied with XState's pure `transition`, so the host alone decides when its effects run:
 * after the turn that asked for them is committed. Terminal actors are passivated: dropped from
 * memory once committed, read back from the archive when asked for.
 */
export class ActorHost {
  private readonly live = new Map<string, LiveActor>();
  /** Terminal actors whose final snapshot is not yet on disk. */
  private readonly settling = new Map<string, ActorRecord>();
  private readonly committer: GroupCommitter<AfterCommit<unknown>>;
  private seq: number;
  private transitionCount = 0;
  private commitWaiters: (() => void)[] = [];
  private readonly observers: ((turn: Turn) => void)[] = [];
  onEffects: ((effects: readonly CommittedEffect[]) => void) | undefined;
  /** Keys of live records that failed to decode on open; those actors stay closed. */
  readonly corrupt: CorruptRecordError[] = [];

  private constructor(readonly store: Store, seq: number, options: ActorHostOptions) {
    this.seq = seq;
    this.onEffects = options.onEffects;
    this.committer = new GroupCommitter(store, (batch) => this.afterCommit(batch));
  }

  /** Restores every non-terminal actor of the store. */
  static async open(store: Store, options: ActorHostOptions = {}): Promise<ActorHost> {
    const seqRaw = await store.getRaw('meta', 'seq');
    const host = new ActorHost(store, seqRaw === undefined ? 0 : Number(seqRaw), options);
    for await (const [key, raw] of store.entries('live')) {
      try {
        const rec = decodeActorRecord('live', key, raw);
        const snapshot = MACHINES[rec.kind].resolveState({ value: rec.value, context: rec.context as never });
        host.live.set(key, { kind: rec.kind, snapshot, seq: rec.seq });
      } catch (error) {
        if (error instanceof CorruptRecordError) host.corrupt.push(error);
        else host.corrupt.push(new CorruptRecordError(`live!${key}`, (error as Error).message));
      }
    }
    return host;
  }

  get liveCount(): number {
    return this.live.size;
  }

  get batches(): number {
    return this.committer.batches;
  }

  /** Transitions committed or in flight since open (one `log` record each). */
  get transitions(): number {
    return this.transitionCount;
  }

  liveIds(kind?: ActorKind): string[] {
    const out: string[] = [];
    for (const [id, a] of this.live) if (kind === undefined || a.kind === kind) out.push(id);
    return out;
  }

  /** The in-memory record of a live or just-ended actor; undefined means "ask the archive". */
  record(id: string): ActorRecord | undefined {
    const a = this.live.get(id);
    if (a) return { kind: a.kind, value: statusOf(a.snapshot), context: a.snapshot.context, seq: a.seq };
    return this.settling.get(id);
  }

  /**
   * Runs one turn: `build` creates actors and sends events synchronously; the result resolves
   * once everything the turn produced is committed. Effects run after that commit.
   */
  run<R>(at: string, build: (turn: Turn) => R): Promise<R> {
    const halted = this.committer.haltedBy;
    if (halted) return Promise.reject(halted);
    const turn = new Turn(this.live, at);
    const result = build(turn);
    for (const observe of this.observers) observe(turn);
    const { ops, actors, effects, terminal } = this.seal(turn);
    return this.committer.submit({ ops, actors, after: { effects, terminal, result } }).then(() => result);
  }

  /** Resolves when every turn started so far is committed. */
  settled(): Promise<void> {
    return this.committer.settled();
  }

  async close(): Promise<void> {
    await this.committer.drained();
    await this.store.close();
  }

  private seal(turn: Turn) {
    const ops: StoreOp[] = [];
    this.transitionCount += turn.logs.length;
    for (const { id, rec } of turn.logs) ops.push({ type: 'put', area: 'log', key: `${id}!${pad(rec.seq, 10)}`, value: JSON.stringify(rec) });
    for (const fill of turn.fills) ops.push({ type: 'put', area: 'fill', key: fill.fillId, value: JSON.stringify(fill) });
    const effects: CommittedEffect[] = [];
    for (const effect of turn.effects) {
      const effectId = pad(++this.seq, 12);
      const committed = { effectId, effect, at: turn.at };
      effects.push(committed);
      ops.push({ type: 'put', area: 'outbox', key: effectId, value: JSON.stringify(committed) });
    }
    for (const effectId of turn.settledEffects) ops.push({ type: 'del', area: 'outbox', key: effectId });
    for (const anomaly of turn.anomalies) {
      ops.push({ type: 'put', area: 'anomaly', key: pad(++this.seq, 12), value: JSON.stringify(anomaly) });
    }
    if (effects.length > 0 || turn.anomalies.length > 0) ops.push({ type: 'put', area: 'meta', key: 'seq', value: String(this.seq) });
    ops.push(...turn.ops);

    const actors = new Map<string, ActorWrite>();
    const terminal: string[] = [];
    for (const [id, d] of turn.dirty) {
      const status = statusOf(d.snapshot);
      const record: ActorRecord = { kind: d.kind, value: status, context: d.snapshot.context, seq: d.seq };
      const isTerminal = d.snapshot.status !== 'active';
      actors.set(id, {
        terminal: isTerminal,
        serialize: () => JSON.stringify(record),
        endedKey: `status!${d.kind}!${status}!${id}`,
      });
      if (isTerminal) {
        this.live.delete(id);
        this.settling.set(id, record);
        terminal.push(id);
      } else {
        this.live.set(id, { kind: d.kind, snapshot: d.snapshot, seq: d.seq });
      }
    }
    return { ops, actors, effects, terminal };
  }

  private afterCommit(batch: readonly AfterCommit<unknown>[]): void {
    const effects: CommittedEffect[] = [];
    for (const t of batch) {
      for (const id of t.terminal) this.settling.delete(id);
      effects.push(...t.effects);
    }
    if (effects.length > 0) this.onEffects?.(effects);
    const waiters = this.commitWaiters;
    this.commitWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Sees every turn after its events and before it is sealed, and may add operations to it
   * (`turn.ops`), which then commit in the same batch: how the journal records causality
   * atomically with the ledger change it explains. Must not send events.
   */
  observe(observer: (turn: Turn) => void): void {
    this.observers.push(observer);
  }

  /** Resolves after the next batch is committed (for flows waiting on a condition). */
  nextCommit(): Promise<void> {
    return new Promise((resolve) => this.commitWaiters.push(resolve));
  }
}
