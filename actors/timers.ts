import type { Clock } from '../src/domain/clock.js';
import type { StrategyLedger } from './ledger.js';

interface Timer {
  readonly name: string;
  readonly intervalMs: number;
  deadline: number;
  readonly fire: () => Promise<void>;
}

/**
 * Durable interval timers (ARCHITECTURE §5): each deadline is an absolute time persisted in
 * the store (`meta!timer!<name>`), so after a restart a timer fires when it was due, not one
 * interval after the restart. Timers are checked by `poll()`: on every wall-clock tick in live
 * use, or by a backtest driver after it advances its simulated clock.
 */
export class DurableTimers {
  private readonly timers = new Map<string, Timer>();
  private ticking: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(
    private readonly ledger: StrategyLedger,
    private readonly clock: Clock,
  ) {}

  /** Arms `name` every `intervalMs`; the first deadline is the stored one, else one interval from now. */
  async arm(name: string, intervalMs: number, fire: () => Promise<void>): Promise<void> {
    const stored = await this.ledger.store.getRaw('meta', `timer!${name}`);
    const deadline = stored === undefined ? this.clock.now() + intervalMs : Number(stored);
    this.timers.set(name, { name, intervalMs, deadline, fire });
    if (stored === undefined) await this.persist([this.timers.get(name)!]);
  }

  deadline(name: string): number | undefined {
    return this.timers.get(name)?.deadline;
  }

  /** Fires every timer that is due, once, and moves its deadline past now. */
  poll(): Promise<void> {
    this.polling ??= this.fireDue().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async fireDue(): Promise<void> {
    const now = this.clock.now();
    const due = [...this.timers.values()].filter((t) => t.deadline <= now);
    if (due.length === 0) return;
    for (const t of due) {
      const missed = Math.floor((now - t.deadline) / t.intervalMs);
      t.deadline += (missed + 1) * t.intervalMs;
    }
    // The next deadline is on disk before the work runs: a crash during it does not lose the timer.
    await this.persist(due);
    for (const t of due) await t.fire();
  }

  private async persist(timers: readonly Timer[]): Promise<void> {
    await this.ledger.host.run(this.ledger.now(), (turn) => {
      for (const t of timers) turn.ops.push({ type: 'put', area: 'meta', key: `timer!${t.name}`, value: String(t.deadline) });
    });
  }

  /** Polls on a wall-clock interval (live and paper use). */
  start(everyMs: number, onError: (error: unknown) => void): void {
    this.stop();
    this.ticking = setInterval(() => void this.poll().catch(onError), everyMs);
    this.ticking.unref();
  }

  stop(): void {
    if (this.ticking) clearInterval(this.ticking);
    this.ticking = undefined;
  }
}
