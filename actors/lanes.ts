/**
 * Serializes async work per key (see `laneOf`: one lane per plan): replies and effect results
 * of one plan are applied in the order they arrived; different plans run concurrently.
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

/**
 * Everything about one plan runs in one lane: its replies, its effects, its protection and its
 * resyncs, in arrival order. One-cancels-other replies of sibling orders (a fill, then the
 * sibling's resize) must be applied in the exchange's order, or protection would act on half
 * of it. Orders no route is known for (ended before this process opened) get their own lane.
 */
export function laneOf(ledger: { routeOf(clientOrderId: string): { planId: string } | undefined }, clientOrderId: string): string {
  const route = ledger.routeOf(clientOrderId);
  return route ? `plan:${route.planId}` : `client:${clientOrderId}`;
}
