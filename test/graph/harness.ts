/**
 * Helpers for the model-based path tests: pure folds of machine paths with XState's
 * `transition`, temp data directories, and readers of what the runtime persisted.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';
import type { SendOutcome, TransitionRecord } from '../../actors/host.js';
import type { ActorRecord } from '../../actors/records.js';
import { prefixEnd, type Store } from '../../storage/store.js';

export const T0 = Date.UTC(2025, 0, 1, 0, 0, 0);

export function isoAt(ms: number): string {
  return new Date(ms).toISOString();
}

/** `at` of the i-th step of a path (0-based); strictly after T0. */
export function stepAt(i: number): string {
  return isoAt(T0 + (i + 1) * 1000);
}

/** A fill id that passes `fillIdSchema`, unique per step index. */
export function fillIdFor(i: number): string {
  return `FIL_20250101_000000_f${String(i).padStart(5, '0')}`;
}

export function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

/** Temp data directories, removed by `cleanup`. */
export class TempDirs {
  private readonly dirs: string[] = [];
  async make(prefix = 'tradestate-'): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }
  async cleanup(): Promise<void> {
    const dirs = this.dirs.splice(0);
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

export interface FoldStep {
  readonly outcome: SendOutcome;
  readonly from: string;
  readonly to: string;
  readonly event: unknown;
}

export interface FoldResult {
  readonly snapshot: AnyMachineSnapshot;
  readonly steps: readonly FoldStep[];
  /** Params of every `recordFill` action, in order. */
  readonly fills: readonly unknown[];
  /** Number of transitions that changed the snapshot (the runtime's `seq`). */
  readonly seq: number;
  /** The transition log the runtime should have written: init + one per changed step. */
  readonly log: readonly { event: unknown; from: string | null; to: string; at: string }[];
}

/** Folds events through the pure machine, classifying each step like the host does. */
export function fold(machine: AnyStateMachine, input: { at: string }, events: readonly { type: string; at: string }[]): FoldResult {
  let [snap] = initialTransition(machine, input);
  const steps: FoldStep[] = [];
  const fills: unknown[] = [];
  const log: { event: unknown; from: string | null; to: string; at: string }[] = [
    { event: { type: 'xstate.init', input }, from: null, to: String(snap.value), at: input.at },
  ];
  let seq = 0;
  for (const event of events) {
    if (snap.status !== 'active') {
      // The runtime has passivated the actor: every further event is refused.
      steps.push({ outcome: 'refused', from: String(snap.value), to: String(snap.value), event });
      continue;
    }
    const [next, actions] = transition(machine, snap, event as never);
    let outcome: SendOutcome;
    if (next === snap) outcome = actions.length === 0 ? 'refused' : 'unchanged';
    else {
      outcome = 'applied';
      seq++;
      log.push({ event, from: String(snap.value), to: String(next.value), at: event.at });
    }
    for (const a of actions as readonly { type: string; params?: unknown }[]) if (a.type === 'recordFill') fills.push(a.params);
    steps.push({ outcome, from: String(snap.value), to: String(next.value), event });
    snap = next;
  }
  return { snapshot: snap, steps, fills, seq, log };
}

/** The persisted record of an actor: live if it is non-terminal, else archived. */
export async function storedRecord(store: Store, id: string): Promise<ActorRecord | undefined> {
  const raw = (await store.getRaw('live', id)) ?? (await store.getRaw('archive', id));
  return raw === undefined ? undefined : (JSON.parse(raw) as ActorRecord);
}

/** Where the actor is stored: exactly one of live/archive must hold it. */
export async function storedArea(store: Store, id: string): Promise<'live' | 'archive' | 'both' | 'none'> {
  const live = (await store.getRaw('live', id)) !== undefined;
  const archive = (await store.getRaw('archive', id)) !== undefined;
  return live && archive ? 'both' : live ? 'live' : archive ? 'archive' : 'none';
}

export async function storedLog(store: Store, id: string): Promise<TransitionRecord[]> {
  const prefix = `${id}!`;
  const out: TransitionRecord[] = [];
  for await (const [, raw] of store.entries('log', { gte: prefix, lt: prefixEnd(prefix) })) out.push(JSON.parse(raw) as TransitionRecord);
  return out;
}

export async function dumpArea(store: Store, area: 'anomaly' | 'outbox' | 'fill' | 'index'): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const [k, v] of store.entries(area)) out.push([k, v]);
  return out;
}
