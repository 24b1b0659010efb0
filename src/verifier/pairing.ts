/**
 * @module verifier/pairing
 *
 * The product of bn254 Miller loops and its final exponentiation, the hot path of Groth16
 * verification, on a lean Fp2/Fp6/Fp12 tower. It computes exactly what `@noble/curves` computes
 * (`bn254.millerLoopBatch` followed by `Fp12.finalExponentiate`: same tower, same line functions,
 * same exponentiation chain), on noble's value shapes (`{c0, c1}`, `{c0, c1, c2}`), but faster:
 * values are plain unfrozen objects and every Fp6 and Fp12 product is reduced modulo p once per
 * output coefficient (lazy reduction) instead of after every base-field operation.
 *
 * Tower (as noble's bn254): Fp2 = Fp[u]/(u² + 1), Fp6 = Fp2[v]/(v³ - ξ) with ξ = 9 + u,
 * Fp12 = Fp6[w]/(w² - v). The one inversion per final exponentiation is delegated to noble. The
 * Frobenius maps are computed here: noble derives its Frobenius tables on first use from exponents of up
 * to 2,800 bits (about 0.2 s of CPU, most of a `zktally verify` run); the same constants come from
 * exponents reduced modulo the order p² - 1 of Fp2*, computed once per power on first use.
 *
 * Security caveats: a pure function of public data (no secrets, so timing does not matter).
 * Equality with noble's results is tested on random inputs for every operation
 * (test/verifier-pairing.test.ts), and every Groth16 test runs through it.
 */
import type { Fp, Fp2, Fp6, Fp12 } from "@noble/curves/abstract/tower.js";
import { bn254 } from "@noble/curves/bn254.js";
import type { G1Point } from "./points.ts";

/** Line coefficients of a G2 point for the Miller loop (noble's pairing precomputes). */
export type G2LinePrecompute = ReturnType<typeof bn254.utils.calcPairingPrecomputes>;

/** One Miller-loop input: the G2 line coefficients and the affine G1 point. */
export type MillerTerm = [G2LinePrecompute, Fp, Fp];

const P = bn254.fields.Fp.ORDER;

// ------------------------------------------------------------------ lazy reduction
//
// "Wide" values below are Fp2/Fp6 shapes whose bigints are NOT reduced: any sign, any size. They are
// only ever built from reduced inputs by a bounded number of additions and one level of products,
// and reduced once per coefficient when a result is stored (`reduce2`, `reduce6`). Stored Fp12
// values, and every function's inputs and outputs, are fully reduced.

/** x mod p in [0, p), for any (possibly negative, unreduced) x. */
function reduce(x: bigint): bigint {
  const r = x % P;
  return r < 0n ? r + P : r;
}

const reduce2 = (a: Fp2): Fp2 => ({ c0: reduce(a.c0), c1: reduce(a.c1) });
const reduce6 = (a: Fp6): Fp6 => ({ c0: reduce2(a.c0), c1: reduce2(a.c1), c2: reduce2(a.c2) });

// ------------------------------------------------------------------ Fp2 = Fp[u]/(u² + 1), wide

const add2 = (a: Fp2, b: Fp2): Fp2 => ({ c0: a.c0 + b.c0, c1: a.c1 + b.c1 });
const sub2 = (a: Fp2, b: Fp2): Fp2 => ({ c0: a.c0 - b.c0, c1: a.c1 - b.c1 });
/** 3a - 2b and 3a + 2b, the shapes of the cyclotomic-square outputs. */
const tripleMinusDouble2 = (a: Fp2, b: Fp2): Fp2 => ({
  c0: 3n * a.c0 - 2n * b.c0,
  c1: 3n * a.c1 - 2n * b.c1,
});
const triplePlusDouble2 = (a: Fp2, b: Fp2): Fp2 => ({ c0: 3n * a.c0 + 2n * b.c0, c1: 3n * a.c1 + 2n * b.c1 });

/** Karatsuba product, unreduced. */
function mul2(a: Fp2, b: Fp2): Fp2 {
  const t0 = a.c0 * b.c0;
  const t1 = a.c1 * b.c1;
  return { c0: t0 - t1, c1: (a.c0 + a.c1) * (b.c0 + b.c1) - t0 - t1 };
}

function sqr2(a: Fp2): Fp2 {
  return { c0: (a.c0 + a.c1) * (a.c0 - a.c1), c1: 2n * a.c0 * a.c1 };
}

/** a · ξ with ξ = 9 + u. */
function mulXi(a: Fp2): Fp2 {
  return { c0: 9n * a.c0 - a.c1, c1: a.c0 + 9n * a.c1 };
}

// ------------------------------------------------------------------ Fp6 = Fp2[v]/(v³ - ξ), wide

const add6 = (a: Fp6, b: Fp6): Fp6 => ({ c0: add2(a.c0, b.c0), c1: add2(a.c1, b.c1), c2: add2(a.c2, b.c2) });
const sub6 = (a: Fp6, b: Fp6): Fp6 => ({ c0: sub2(a.c0, b.c0), c1: sub2(a.c1, b.c1), c2: sub2(a.c2, b.c2) });
/** a · v. */
const mulV = (a: Fp6): Fp6 => ({ c0: mulXi(a.c2), c1: a.c0, c2: a.c1 });

/** Karatsuba-style product (noble's formulas), unreduced; inputs must be narrow (sums of reduced values). */
function mul6(a: Fp6, b: Fp6): Fp6 {
  const t0 = mul2(a.c0, b.c0);
  const t1 = mul2(a.c1, b.c1);
  const t2 = mul2(a.c2, b.c2);
  return {
    c0: add2(t0, mulXi(sub2(mul2(add2(a.c1, a.c2), add2(b.c1, b.c2)), add2(t1, t2)))),
    c1: add2(sub2(mul2(add2(a.c0, a.c1), add2(b.c0, b.c1)), add2(t0, t1)), mulXi(t2)),
    c2: sub2(add2(t1, mul2(add2(a.c0, a.c2), add2(b.c0, b.c2))), add2(t0, t2)),
  };
}

/** a · (b0 + b1·v), unreduced. */
function mul6By01(a: Fp6, b0: Fp2, b1: Fp2): Fp6 {
  const t0 = mul2(a.c0, b0);
  const t1 = mul2(a.c1, b1);
  return {
    c0: add2(mulXi(sub2(mul2(add2(a.c1, a.c2), b1), t1)), t0),
    c1: sub2(sub2(mul2(add2(b0, b1), add2(a.c0, a.c1)), t0), t1),
    c2: add2(sub2(mul2(add2(a.c0, a.c2), b0), t0), t1),
  };
}

// ------------------------------------------------------------------ Fp12 = Fp6[w]/(w² - v), reduced

/** The multiplicative identity (a fresh object: values here are not frozen). */
export function one12(): Fp12 {
  const zero = { c0: 0n, c1: 0n };
  return { c0: { c0: { c0: 1n, c1: 0n }, c1: zero, c2: zero }, c1: { c0: zero, c1: zero, c2: zero } };
}

export function mul12(a: Fp12, b: Fp12): Fp12 {
  const t1 = mul6(a.c0, b.c0);
  const t2 = mul6(a.c1, b.c1);
  const t3 = mul6(add6(a.c0, a.c1), add6(b.c0, b.c1));
  return { c0: reduce6(add6(t1, mulV(t2))), c1: reduce6(sub6(t3, add6(t1, t2))) };
}

export function sqr12(a: Fp12): Fp12 {
  const ab = mul6(a.c0, a.c1);
  const t = mul6(add6(mulV(a.c1), a.c0), add6(a.c0, a.c1));
  return { c0: reduce6(sub6(sub6(t, ab), mulV(ab))), c1: reduce6(add6(ab, ab)) };
}

export function conjugate12(a: Fp12): Fp12 {
  const neg = (x: bigint) => (x === 0n ? 0n : P - x);
  const negate2 = (x: Fp2): Fp2 => ({ c0: neg(x.c0), c1: neg(x.c1) });
  return { c0: a.c0, c1: { c0: negate2(a.c1.c0), c1: negate2(a.c1.c1), c2: negate2(a.c1.c2) } };
}

/** (a + b·s)² in Fp4 = Fp2[s]/(s² - ξ): [a² + ξ·b², 2ab], unreduced. */
function fp4Square(a: Fp2, b: Fp2): [Fp2, Fp2] {
  const a2 = sqr2(a);
  const b2 = sqr2(b);
  return [add2(mulXi(b2), a2), sub2(sub2(sqr2(add2(a, b)), a2), b2)];
}

/** Squaring in the cyclotomic subgroup (Granger–Scott), valid after the easy part of the exponentiation. */
export function cyclotomicSquare12(a: Fp12): Fp12 {
  const { c0: x00, c1: x01, c2: x02 } = a.c0;
  const { c0: x10, c1: x11, c2: x12 } = a.c1;
  const [t3, t4] = fp4Square(x00, x11);
  const [t5, t6] = fp4Square(x10, x02);
  const [t7, t8] = fp4Square(x01, x12);
  const t9 = mulXi(t8);
  return {
    c0: {
      c0: reduce2(tripleMinusDouble2(t3, x00)),
      c1: reduce2(tripleMinusDouble2(t5, x01)),
      c2: reduce2(tripleMinusDouble2(t7, x02)),
    },
    c1: {
      c0: reduce2(triplePlusDouble2(t9, x10)),
      c1: reduce2(triplePlusDouble2(t4, x11)),
      c2: reduce2(triplePlusDouble2(t6, x12)),
    },
  };
}

/**
 * f · ℓ(P) for a line with sparse coefficients in slots 0, 3, 4 (noble's divisive-twist
 * `mul034ByLine`): o0 = l0·Py, o3 = l3·Px, o4 as given.
 */
function mulByLine034(f: Fp12, l0: Fp2, l3: Fp2, o4: Fp2, px: bigint, py: bigint): Fp12 {
  const o0 = reduce2({ c0: l0.c0 * py, c1: l0.c1 * py });
  const o3 = reduce2({ c0: l3.c0 * px, c1: l3.c1 * px });
  const a = { c0: mul2(f.c0.c0, o0), c1: mul2(f.c0.c1, o0), c2: mul2(f.c0.c2, o0) }; // f0 · o0
  const b = mul6By01(f.c1, o3, o4); // f1 · (o3 + o4·v)
  const e = mul6By01(add6(f.c0, f.c1), add2(o0, o3), o4);
  return {
    c0: reduce6({ c0: add2(mulXi(b.c2), a.c0), c1: add2(b.c0, a.c1), c2: add2(b.c1, a.c2) }),
    c1: reduce6(sub6(sub6(e, a), b)),
  };
}

// ------------------------------------------------------------------ pairing

/**
 * Product of the Miller loops of `terms` (G2 line coefficients from `calcPairingPrecomputes` and an
 * affine G1 point), sharing one squaring chain: noble's `millerLoopBatch` for bn254.
 */
export function millerLoop(terms: readonly MillerTerm[]): Fp12 {
  let f = one12();
  const steps = terms[0]?.[0].length ?? 0;
  for (let i = 0; i < steps; i++) {
    if (i !== 0) f = sqr12(f);
    for (const [lines, px, py] of terms) {
      for (const [c0, c1, c2] of lines[i] as [Fp2, Fp2, Fp2][]) f = mulByLine034(f, c2, c1, c0, px, py);
    }
  }
  return f;
}

/** The Fp2 constants of the p^k-power Frobenius map: ξ^((p^k - 1)/3), ξ^(2(p^k - 1)/3), ξ^((p^k - 1)/6). */
interface FrobeniusConstants {
  readonly v1: Fp2;
  readonly v2: Fp2;
  readonly w: Fp2;
}

const frobeniusConstants = new Map<number, FrobeniusConstants>();

/** ξ^(n(p^k - 1)/d): the exponent is exact (d divides it) and reduced modulo the order of Fp2*. */
function xiPower(k: number, n: bigint, d: bigint): Fp2 {
  const { Fp2 } = bn254.fields;
  return Fp2.pow(Fp2.NONRESIDUE, ((n * (P ** BigInt(k) - 1n)) / d) % (P * P - 1n));
}

function frobeniusConstantsOf(k: number): FrobeniusConstants {
  let constants = frobeniusConstants.get(k);
  if (constants === undefined) {
    constants = { v1: xiPower(k, 1n, 3n), v2: xiPower(k, 2n, 3n), w: xiPower(k, 1n, 6n) };
    frobeniusConstants.set(k, constants);
  }
  return constants;
}

/** a^(p^k) in Fp2: conjugation for odd k. */
const frobenius2 = (a: Fp2, k: number): Fp2 => (k % 2 === 0 ? a : { c0: a.c0, c1: reduce(-a.c1) });

/**
 * a^(p^power) in Fp12, equal to noble's `Fp12.frobeniusMap` (test/verifier-pairing.test.ts): each Fp2
 * coefficient of v^i w^j is mapped by `frobenius2` and multiplied by ξ^((i/3 + j/6)(p^k - 1)).
 */
export function frobenius12(a: Fp12, power: number): Fp12 {
  const k = power % 12;
  if (k === 0) return a;
  const { v1, v2, w } = frobeniusConstantsOf(k);
  const map6 = (x: Fp6): Fp6 => ({
    c0: frobenius2(x.c0, k),
    c1: reduce2(mul2(frobenius2(x.c1, k), v1)),
    c2: reduce2(mul2(frobenius2(x.c2, k), v2)),
  });
  const c1 = map6(a.c1);
  return {
    c0: map6(a.c0),
    c1: { c0: reduce2(mul2(c1.c0, w)), c1: reduce2(mul2(c1.c1, w)), c2: reduce2(mul2(c1.c2, w)) },
  };
}

function cyclotomicSquares(a: Fp12, count: number): Fp12 {
  let result = a;
  for (let i = 0; i < count; i++) result = cyclotomicSquare12(result);
  return result;
}

/** a^x for the curve seed x = 0x44e992b44a6909f1, by noble's addition chain. */
function cyclotomicPowSeed(a: Fp12): Fp12 {
  const x10 = cyclotomicSquare12(a);
  const x100 = cyclotomicSquare12(x10);
  const x1000 = cyclotomicSquare12(x100);
  const x10000 = cyclotomicSquare12(x1000);
  const x10001 = mul12(x10000, a);
  const x10011 = mul12(x10001, x10);
  const x10100 = mul12(x10011, a);
  const x11001 = mul12(x1000, x10001);
  const x100010 = cyclotomicSquare12(x10001);
  const x100111 = mul12(x10011, x10100);
  const x101001 = mul12(x10, x100111);
  let r = cyclotomicSquares(x100010, 6);
  r = mul12(mul12(r, x100), x11001);
  r = mul12(cyclotomicSquares(r, 7), x11001);
  r = cyclotomicSquares(r, 8);
  r = mul12(mul12(r, x101001), x10);
  r = mul12(cyclotomicSquares(r, 6), x10001);
  r = mul12(cyclotomicSquares(r, 8), x101001);
  r = mul12(cyclotomicSquares(r, 6), x101001);
  r = mul12(cyclotomicSquares(r, 10), x100111);
  return mul12(mul12(cyclotomicSquares(r, 6), x101001), x1000);
}

/** a^(-x) in the cyclotomic subgroup, where inversion is conjugation. */
const powMinusSeed = (a: Fp12): Fp12 => conjugate12(cyclotomicPowSeed(a));

/** f^((p^12 - 1)/r): noble's bn254 final exponentiation, step for step. */
export function finalExponentiate(f: Fp12): Fp12 {
  const r0 = mul12(conjugate12(f), bn254.fields.Fp12.inv(f)); // f^(p^6 - 1)
  const r = mul12(frobenius12(r0, 2), r0); // ^(p^2 + 1): now in the cyclotomic subgroup
  const y1 = cyclotomicSquare12(powMinusSeed(r));
  const y2 = mul12(cyclotomicSquare12(y1), y1);
  const y4 = powMinusSeed(y2);
  const y6 = powMinusSeed(cyclotomicSquare12(y4));
  const y8 = mul12(mul12(conjugate12(y6), y4), conjugate12(y2));
  const y9 = mul12(y8, y1);
  const tail = mul12(frobenius12(y9, 1), mul12(mul12(y8, y4), r));
  return mul12(frobenius12(mul12(conjugate12(r), y9), 3), mul12(frobenius12(y8, 2), tail));
}

/**
 * The Miller-loop term for e(P, Q) from Q's line coefficients; `undefined` when P is the identity,
 * whose pairing is 1 (noble cannot take an affine form of infinity).
 */
export function millerTerm(lines: G2LinePrecompute, point: G1Point): MillerTerm | undefined {
  if (point.is0()) return undefined;
  const { x, y } = point.toAffine();
  return [lines, x, y];
}

/**
 * Product of Miller loops over the defined terms, followed by one final exponentiation; computed by
 * pairing.ts (noble's algorithm on a faster tower, same result as noble's `millerLoopBatch` +
 * `finalExponentiate`).
 */
export function pairingProduct(terms: readonly (MillerTerm | undefined)[]): Fp12 {
  const defined = terms.filter((term): term is MillerTerm => term !== undefined);
  return finalExponentiate(millerLoop(defined));
}
