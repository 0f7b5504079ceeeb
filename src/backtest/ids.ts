import { seededIdSource, type IdSource } from '../domain/ids.js';

/** A seeded id source that counts its draws, so a resumed backtest continues the same sequence. */
export interface CountingIdSource {
  readonly next: IdSource;
  draws(): number;
}

export function countingIdSource(seed: number, skip = 0): CountingIdSource {
  const source = seededIdSource(seed);
  for (let i = 0; i < skip; i++) source();
  let draws = skip;
  return {
    next: () => {
      draws++;
      return source();
    },
    draws: () => draws,
  };
}
