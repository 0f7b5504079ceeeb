/**
 * Serializes async work per key (one lane per order): an exchange reply and an effect result
 * for the same order are applied in the order they arrived; different orders run concurrently.
 */
export class Lanes {
  private readonly tails = new Map<string, Promise<void>>();
  private readonly all = new Set<Promise<void>>();

  run(key: string, task: () => Promise<void>): Promise<void> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const next = previous.then(task, task);
    const tracked = next.catch(() => {});
    this.tails.set(key, tracked);
    this.all.add(tracked);
    void tracked.then(() => {
      this.all.delete(tracked);
      if (this.tails.get(key) === tracked) this.tails.delete(key);
    });
    return next;
  }

  /** Resolves when every task started so far (and any they started) has finished. */
  async idle(): Promise<void> {
    while (this.all.size > 0) await Promise.all([...this.all]);
  }
}
