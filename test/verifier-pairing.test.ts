/**
 * The verifier's lean pairing arithmetic (src/verifier/pairing.ts) against @noble/curves, on random
 * inputs and on extreme coefficients (0, 1, p - 1): every Fp12 operation, the batched Miller loop and
 * the final exponentiation must give exactly noble's field elements. Bilinearity is checked too, so
 * the two implementations cannot share a silent error in the loop structure.
 */
import type { Fp12 } from "@noble/curves/abstract/tower.js";
import { bn254 } from "@noble/curves/bn254.js";
import { describe, expect, it } from "vitest";
import {
  conjugate12,
  cyclotomicSquare12,
  finalExponentiate,
  frobenius12,
  type MillerTerm,
  millerLoop,
  mul12,
  one12,
  pairingProduct,
  sqr12,
} from "../src/verifier/pairing.ts";
import { createRng } from "./helpers/random.ts";

const { Fp, Fp12: NobleFp12 } = bn254.fields;
const P = Fp.ORDER;
const rng = createRng(20250502);

/** A random Fp12 element; with `extreme`, coefficients are drawn from {0, 1, p - 1, random}. */
function randomFp12(extreme = false): Fp12 {
  const coefficient = () => {
    if (!extreme) return rng.bigint(0n, P - 1n);
    return rng.pick([0n, 1n, P - 1n, P - 2n, rng.bigint(0n, P - 1n)]);
  };
  const coefficients = Array.from({ length: 12 }, coefficient);
  return NobleFp12.fromBigTwelve(coefficients as Parameters<typeof NobleFp12.fromBigTwelve>[0]);
}

function randomTerm(): MillerTerm {
  const g1 = bn254.G1.Point.BASE.multiply(rng.bigint(1n, bn254.fields.Fr.ORDER - 1n)).toAffine();
  const g2 = bn254.G2.Point.BASE.multiply(rng.bigint(1n, bn254.fields.Fr.ORDER - 1n));
  return [bn254.utils.calcPairingPrecomputes(g2), g1.x, g1.y];
}

/** An element of the cyclotomic subgroup: the easy part of the final exponentiation, by noble. */
function cyclotomicElement(): Fp12 {
  const f = randomFp12();
  const r0 = NobleFp12.mul(NobleFp12.conjugate(f), NobleFp12.inv(f));
  return NobleFp12.mul(NobleFp12.frobeniusMap(r0, 2), r0);
}

const same = (a: Fp12, b: Fp12) => NobleFp12.eql(a, b);

describe("lean Fp12 arithmetic equals noble's", () => {
  it("mul, sqr and conjugate on random and extreme elements", () => {
    for (let i = 0; i < 40; i++) {
      const [a, b] = [randomFp12(i % 2 === 1), randomFp12(i % 4 === 3)];
      expect(same(mul12(a, b), NobleFp12.mul(a, b))).toBe(true);
      expect(same(sqr12(a), NobleFp12.sqr(a))).toBe(true);
      expect(same(conjugate12(a), NobleFp12.conjugate(a))).toBe(true);
    }
    const a = randomFp12();
    expect(same(mul12(one12(), a), a)).toBe(true);
  });

  it("results are fully reduced (every coefficient in [0, p))", () => {
    const coefficients = (x: Fp12) =>
      [x.c0, x.c1].flatMap((six) => [six.c0, six.c1, six.c2]).flatMap((two) => [two.c0, two.c1]);
    for (let i = 0; i < 10; i++) {
      const [a, b] = [randomFp12(true), randomFp12(true)];
      for (const value of [mul12(a, b), sqr12(a), cyclotomicSquare12(cyclotomicElement())].flatMap(
        coefficients,
      )) {
        expect(value >= 0n && value < P).toBe(true);
      }
    }
  });

  it("frobenius12 equals noble's frobeniusMap for every power", () => {
    for (let power = 0; power < 13; power++) {
      const a = randomFp12(power % 3 === 2);
      expect(same(frobenius12(a, power), NobleFp12.frobeniusMap(a, power))).toBe(true);
    }
  });

  it("cyclotomic squaring on elements of the cyclotomic subgroup", () => {
    for (let i = 0; i < 10; i++) {
      const element = cyclotomicElement();
      expect(same(cyclotomicSquare12(element), NobleFp12._cyclotomicSquare(element))).toBe(true);
      expect(same(cyclotomicSquare12(element), NobleFp12.sqr(element))).toBe(true);
    }
  });
});

describe("Miller loop and final exponentiation equal noble's", () => {
  it("millerLoop over 0 to 4 random terms equals millerLoopBatch", () => {
    expect(same(millerLoop([]), NobleFp12.ONE)).toBe(true);
    for (const count of [1, 2, 3, 4]) {
      const terms = Array.from({ length: count }, randomTerm);
      expect(same(millerLoop(terms), bn254.millerLoopBatch(terms))).toBe(true);
    }
  });

  it("finalExponentiate equals noble's on Miller-loop outputs and on arbitrary elements", () => {
    for (let i = 0; i < 6; i++) {
      const f = i < 3 ? bn254.millerLoopBatch([randomTerm()]) : randomFp12(i === 5);
      expect(same(finalExponentiate(f), NobleFp12.finalExponentiate(f))).toBe(true);
    }
  });

  it("pairingProduct is bilinear: e(aP, Q) · e(-P, aQ) = 1, and e(P, Q) ≠ 1", () => {
    const a = rng.bigint(2n, 2n ** 64n);
    const p = bn254.G1.Point.BASE.multiply(rng.bigint(1n, 2n ** 128n));
    const q = bn254.G2.Point.BASE.multiply(rng.bigint(1n, 2n ** 128n));
    const term = (g1: typeof p, g2: typeof q): MillerTerm => {
      const { x, y } = g1.toAffine();
      return [bn254.utils.calcPairingPrecomputes(g2), x, y];
    };
    const product = pairingProduct([term(p.multiply(a), q), term(p.negate(), q.multiply(a))]);
    expect(same(product, NobleFp12.ONE)).toBe(true);
    expect(same(pairingProduct([term(p, q)]), NobleFp12.ONE)).toBe(false);
    expect(same(pairingProduct([term(p, q)]), bn254.pairing(p, q))).toBe(true);
  });
});
