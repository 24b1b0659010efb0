/**
 * @module config/sample-data
 *
 * Building blocks of the synthetic sample datasets (examples/wikimedia, and config/geoeditors for
 * `npm start`): an integer-only PRNG (mulberry32, so every platform produces the same bytes) with weighted
 * picks, the wikis and where each wiki's editors tend to live.
 *
 * Caveat: entirely synthetic; not a privacy-safe sample of anything, and not a cryptographic PRNG.
 */

/** Choices with integer weights. */
export type Weighted<T> = readonly (readonly [T, number])[];

export const WIKIS: Weighted<string> = [
  ["enwiki", 34],
  ["dewiki", 14],
  ["frwiki", 12],
  ["eswiki", 12],
  ["jawiki", 10],
  ["commonswiki", 18],
];

/** Where editors of each wiki tend to live; commons draws from everywhere. */
export const COUNTRIES_BY_WIKI: Readonly<Record<string, Weighted<string>>> = {
  enwiki: [
    ["US", 45],
    ["GB", 20],
    ["IN", 20],
    ["DE", 5],
    ["FR", 5],
    ["JP", 5],
  ],
  dewiki: [
    ["DE", 80],
    ["AT", 15],
    ["US", 5],
  ],
  frwiki: [
    ["FR", 85],
    ["US", 5],
    ["ES", 5],
    ["DE", 5],
  ],
  eswiki: [
    ["ES", 45],
    ["MX", 40],
    ["US", 10],
    ["BR", 5],
  ],
  jawiki: [
    ["JP", 95],
    ["US", 5],
  ],
  commonswiki: [
    ["US", 20],
    ["DE", 15],
    ["FR", 15],
    ["BR", 15],
    ["IN", 10],
    ["ES", 10],
    ["JP", 10],
    ["GB", 5],
  ],
};

/** mulberry32: a tiny, integer-only 32-bit PRNG. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

export class Random {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** Uniform integer in lo..hi (inclusive); modulo bias is irrelevant for sample data. */
  int(lo: number, hi: number): number {
    return lo + (this.next() % (hi - lo + 1));
  }
  pick<T>(choices: Weighted<T>): T {
    const total = choices.reduce((sum, [, weight]) => sum + weight, 0);
    let roll = this.int(0, total - 1);
    for (const [choice, weight] of choices) {
      if (roll < weight) return choice;
      roll -= weight;
    }
    throw new Error("unreachable: weights exhausted");
  }
}
