import { StoreHaltedError } from '../storage/errors.js';
import type { Store, StoreOp } from '../storage/store.js';

/** The latest snapshot of one actor written by a turn; coalesced per batch. */
export interface ActorWrite {
  readonly serialize: () => string;
  readonly terminal: boolean;
  /** The status index key of an ended actor (`status!<kind>!<status>!<id>`). */
  readonly endedKey: string;
}

/** Everything one turn produced, ready to be written. */
export interface TurnWrite<T = unknown> {
  readonly ops: readonly StoreOp[];
  readonly actors: ReadonlyMap<string, ActorWrite>;
  readonly after: T;
}

interface Waiting<T> {
  readonly write: TurnWrite<T>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit: turns that arrive while a write is in flight share the next batch. Each batch
 * is one atomic synced LevelDB write; an actor dirtied by several turns of a batch is
 * serialized once. `onCommitted` sees the turns of a batch in order, after the write.
 */
export class GroupCommitter<T> {
  private queue: Waiting<T>[] = [];
  private writing = false;
  private scheduled = false;
  private halted: StoreHaltedError | undefined;
  private idle: (() => void)[] = [];
  /** Turns submitted and turns written, counted; `settled()` waits for its own ticket only. */
  private submittedCount = 0;
  private committedCount = 0;
  private tickets: { readonly upTo: number; readonly resolve: () => void }[] = [];
  batches = 0;

  constructor(
    private readonly store: Store,
    private readonly onCommitted: (after: readonly T[]) => void,
  ) {}

  get haltedBy(): StoreHaltedError | undefined {
    return this.halted;
  }

  submit(write: TurnWrite<T>): Promise<void> {
    if (this.halted) return Promise.reject(this.halted);
    this.submittedCount++;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ write, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Resolves when every turn submitted before this call is written (or the store halted);
   * turns submitted later do not delay it, so readers are not starved under load.
   */
  settled(): Promise<void> {
    const upTo = this.submittedCount;
    if (this.committedCount >= upTo || this.halted) return Promise.resolve();
    return new Promise((resolve) => this.tickets.push({ upTo, resolve }));
  }

  /** Resolves when nothing is queued or being written. */
  drained(): Promise<void> {
    if (!this.writing && !this.scheduled && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private releaseTickets(all: boolean): void {
    if (this.tickets.length === 0) return;
    const waiting: typeof this.tickets = [];
    for (const t of this.tickets) {
      if (all || t.upTo <= this.committedCount) t.resolve();
      else waiting.push(t);
    }
    this.tickets = waiting;
  }

  private schedule(): void {
    if (this.writing || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const turns = this.queue;
    this.queue = [];
    if (turns.length === 0) return this.notifyIdle();
    this.writing = true;

    const ops: StoreOp[] = [];
    const actors = new Map<string, ActorWrite>();
    for (const t of turns) {
      for (const op of t.write.ops) ops.push(op);
      for (const [id, w] of t.write.actors) actors.set(id, w);
    }
    for (const [id, w] of actors) {
      const value = w.serialize();
      if (w.terminal) {
        // Live actors' statuses are answered from memory (all of them are restored on open);
        // only an ended actor, which never changes again, gets its one index entry.
        ops.push({ type: 'del', area: 'live', key: id });
        ops.push({ type: 'put', area: 'archive', key: id, value });
        ops.push({ type: 'put', area: 'index', key: w.endedKey, value: '' });
      } else {
        ops.push({ type: 'put', area: 'live', key: id, value });
      }
    }

    try {
      await this.store.write(ops);
    } catch (error) {
      this.halted = new StoreHaltedError({ cause: error });
      this.writing = false;
      for (const t of [...turns, ...this.queue]) t.reject(this.halted);
      this.queue = [];
      this.releaseTickets(true);
      return this.notifyIdle();
    }
    this.batches++;
    this.committedCount += turns.length;
    this.writing = false;
    this.releaseTickets(false);
    for (const t of turns) t.resolve();
    this.onCommitted(turns.map((t) => t.write.after));
    if (this.queue.length > 0) this.schedule();
    else this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.writing || this.scheduled || this.queue.length > 0) return;
    const waiters = this.idle;
    this.idle = [];
    for (const w of waiters) w();
  }
}
