import { D, type Dec } from '../../domain/decimal.js';

/**
 * The price path a bar is assumed to have taken, and where along it a price level is first
 * reached.
 *
 * A bar only tells open, high, low and close, not their order. The simulated exchange assumes
 * the path goes from the open to the NEARER extreme first, then to the other extreme, then to
 * the close:
 *
 *   |open - high| <  |open - low|   ->  O -> H -> L -> C
 *   |open - high| >= |open - low|   ->  O -> L -> H -> C   (a tie goes down first)
 *
 * Each leg is a straight, continuous move, so a level between a leg's ends is crossed exactly
 * at that level. A position on the path is `tau` in [0, 3]: the leg index plus the fraction of
 * the leg covered; events in one bar are ordered by tau (orders are triggered in the order the
 * price crosses them).
 */
export type BarPath = readonly [Dec, Dec, Dec, Dec];

export interface PathPoint {
  /** Leg index (0..2) plus the fraction of that leg covered. 0 is the open. */
  readonly tau: Dec;
  /** The leg this point lies on. */
  readonly leg: number;
  readonly price: Dec;
}

export interface Reached extends PathPoint {
  /** The level was already reached at the starting point (a gap through it): no crossing. */
  readonly atStart: boolean;
}

export function intrabarPath(open: Dec, high: Dec, low: Dec, close: Dec): BarPath {
  const toHigh = high.minus(open).abs();
  const toLow = open.minus(low).abs();
  return toHigh.lt(toLow) ? [open, high, low, close] : [open, low, high, close];
}

export function pathStart(path: BarPath): PathPoint {
  return { tau: new D(0), leg: 0, price: path[0] };
}

/**
 * The first point at or after `from` where the price is `<= level` ('down') or `>= level`
 * ('up'); null if the rest of the bar never gets there. If `from` itself satisfies it, that
 * point is returned with `atStart` (its price may be beyond the level: a gap).
 */
export function reach(path: BarPath, from: PathPoint, direction: 'down' | 'up', level: Dec): Reached | null {
  const hit = (p: Dec): boolean => (direction === 'down' ? p.lte(level) : p.gte(level));
  if (hit(from.price)) return { ...from, atStart: true };
  for (let leg = from.leg; leg < path.length - 1; leg++) {
    const a = path[leg]!;
    const b = path[leg + 1]!;
    // `from` (or the start of this leg) does not satisfy the condition and legs are monotonic,
    // so if the leg's end does, the level lies strictly inside it and a !== b.
    if (hit(b)) {
      const fraction = level.minus(a).div(b.minus(a));
      return { tau: fraction.plus(leg), leg, price: level, atStart: false };
    }
  }
  return null;
}
